/// Loading and merging same-name loads (DESIGN §4, seeds 000 and 004).
///
/// A load is admitted under the table lock: it either *wins* the name (an `unformed` record and a
/// running-load record go into the table before any work is done), *joins* a load of that name
/// already running, or is answered at once (live → exists, going → busy, recently failed → the
/// cached failure). The winner's pipeline — formation, observers, init, outcome — runs in a task of
/// its own with no lock held, so distinct modules' inits run in parallel and no caller's
/// cancellation can cut a shared init short. Every caller, winner included, then waits on the
/// running-load record's outcome.
extension ModuleHost {
    /// Loads a module with `insmod` semantics: the caller that actually loads it gets its own
    /// result; a caller merged into a load already running gets `exists` if that load succeeded
    /// and `busy` if it failed (with the winner's error as `underlying`). Never a second init.
    ///
    /// - Throws: `invalidArgument` (bad name), `exists` (already live, or a merged load
    ///   succeeded), `busy` (being unloaded, or a merged load failed), `initFailed`,
    ///   `permissionDenied` (an observer vetoed), `cancelled` (this caller's task was cancelled;
    ///   the load itself goes on).
    public func insert(_ definition: some ModuleDefinition) async throws(ModuleError) {
        try await load(definition, for: .insert)
    }

    /// Makes sure a module is live, with `modprobe` semantics: succeeds if the module is live at
    /// the end, whoever loaded it. If the load this caller ran or joined fails, every caller gets
    /// *that* error — same code, same underlying cause.
    ///
    /// - Throws: `invalidArgument`, `busy` (being unloaded), the load's own error (`initFailed`,
    ///   `permissionDenied`), `cancelled` (this caller only).
    public func ensureLoaded(_ definition: some ModuleDefinition) async throws(ModuleError) {
        try await load(definition, for: .ensureLoaded)
    }

    /// The two kinds of caller (DESIGN §4.1).
    enum LoadCaller {
        case insert
        case ensureLoaded
    }

    /// What admission decided under the table lock.
    private enum Admission {
        case run(RunningLoad)
        case join(RunningLoad)
        case live
        case busy(ModuleState, reason: String)
        case recentlyFailed(ModuleError)
    }

    func load(_ definition: any ModuleDefinition, for caller: LoadCaller) async throws(ModuleError) {
        let name = try ModuleName(validating: definition.name)
        let (admission, statistics) = admit(name, definition: definition)
        statistics.attempts.add(1, ordering: .relaxed)
        switch admission {
        case .join: statistics.mergedJoiners.add(1, ordering: .relaxed)
        case .recentlyFailed: statistics.cachedFailures.add(1, ordering: .relaxed)
        default: break
        }
        switch admission {
        case .live:
            if caller == .insert {
                throw ModuleError(.exists, module: name.canonical, state: .live, reason: "is already loaded")
            }
        case .busy(let state, let reason):
            throw ModuleError(.busy, module: name.canonical, state: state, reason: reason)
        case .recentlyFailed(let failure):
            throw Self.joinerError(for: caller, after: failure, name: name, cached: true)
        case .join(let running):
            eventHub.emit(ModuleEvent(kind: .mergedJoin, module: name.canonical))
            if case .failure(let failure) = try await outcome(of: running) {
                throw Self.joinerError(for: caller, after: failure, name: name, cached: false)
            }
            if caller == .insert {
                throw ModuleError(
                    .exists, module: name.canonical, state: .live,
                    reason: "was loaded by a concurrent insert")
            }
        case .run(let running):
            Task { await self.runLoad(running) }
            try await outcome(of: running).get()
        }
    }

    /// Step 2 of DESIGN §4, all under the table lock.
    private func admit(_ name: ModuleName, definition: any ModuleDefinition) -> (Admission, NameStatistics) {
        let cacheEnabled = configuration.failedLoadCacheDuration != nil
        let now = cacheEnabled ? ContinuousClock.now : nil
        return table.write { t in
            let statistics = t.statistics(for: name)
            if let running = t.running[name] { return (.join(running), statistics) }
            if let existing = t.module(name) {
                // Any load in progress has a running record (found above), so this module is
                // live or an older one going away.
                let state = existing.state
                if state == .live && !existing.isUnloading { return (.live, statistics) }
                let reason = state == .live ? "is being unloaded; try again once it is gone" : "is going away; try again later"
                return (.busy(state, reason: reason), statistics)
            }
            if let now, let failure = t.recentFailures[name] {
                if now < failure.until { return (.recentlyFailed(failure.error), statistics) }
                t.recentFailures[name] = nil
            }
            let record = ModuleRecord(
                name: name, definition: definition, context: context(for: name), statistics: statistics)
            let running = RunningLoad(record: record)
            t.insert(record)
            t.running[name] = running
            return (.run(running), statistics)
        }
    }

    /// Waits for a running load's outcome; a cancelled caller stops waiting (only it).
    private func outcome(of running: RunningLoad) async throws(ModuleError) -> Result<Void, ModuleError> {
        switch await running.outcome.wait() {
        case .value(let result):
            return result
        case .cancelled, .timedOut:
            throw ModuleError(
                .cancelled, module: running.record.name.canonical,
                reason: "stopped waiting for its load (cancelled); the load goes on for others")
        }
    }

    /// What a caller gets when the load it joined (or the cached failure it hit) failed.
    private static func joinerError(
        for caller: LoadCaller, after failure: ModuleError, name: ModuleName, cached: Bool
    ) -> ModuleError {
        switch caller {
        case .ensureLoaded:
            return failure
        case .insert:
            return ModuleError(
                .busy, module: name.canonical,
                reason: cached ? "a load of it failed recently" : "a concurrent load of it failed",
                underlying: failure)
        }
    }

    // MARK: The winner's pipeline

    /// Steps 4–8 of DESIGN §4: formation, observers, init, outcome. Runs in its own task.
    private func runLoad(_ running: RunningLoad) async {
        let record = running.record
        let name = record.name

        // Formation: visible as coming.
        table.write { _ in record.setState(.coming) }
        if let veto = eventHub.emit(ModuleEvent(kind: .coming, module: name.canonical), vetoable: true) {
            let error = ModuleError(
                .permissionDenied, module: name.canonical, state: .coming,
                reason: "load vetoed by observer \"\(veto.observer)\"", underlying: veto.error)
            failLoad(running, error)
            return
        }

        // Init, with no lock held. The count holds base + 1 throughout.
        let clock = ContinuousClock()
        let started = clock.now
        let initError: (any Error)?
        do {
            try await record.definition.initialize(record.context)
            initError = nil
        } catch {
            initError = error
        }
        record.statistics.recordInit(took: started.duration(to: clock.now))
        if let initError {
            failLoad(
                running,
                ModuleError(
                    .initFailed, module: name.canonical, state: .coming, reason: "init failed",
                    underlying: initError))
            return
        }

        // Success: drop the init reference while still coming (an unload can't see a phantom
        // holder), then go live. The running record stays until `live` has been delivered: until
        // then an unload gets `busy` and a same-name load joins, so observers see `live` before
        // any later event of this module.
        record.release(holder: nil)
        table.write { _ in record.setState(.live) }
        record.statistics.loads.add(1, ordering: .relaxed)
        logger.debug("module live", metadata: ["module": "\(name)"])
        eventHub.emit(ModuleEvent(kind: .live, module: name.canonical))
        table.write { t in t.running[name] = nil }
        running.outcome.complete(.success(()))
    }

    /// A load that failed after formation: going, events delivered, unlinked, every caller
    /// answered. Events go out while the record still holds the name (same-name loads join and
    /// get this failure), so a new load of the name cannot emit `coming` before this `gone`.
    private func failLoad(_ running: RunningLoad, _ error: ModuleError) {
        let record = running.record
        let key = record.name.canonical
        table.write { _ in record.setState(.going) }
        record.statistics.recordFailure(error.code)
        logger.debug("module load failed", metadata: ["module": "\(key)", "error": "\(error)"])
        eventHub.emit(ModuleEvent(kind: .going, module: key))
        eventHub.emit(ModuleEvent(kind: .gone, module: key))
        eventHub.emit(ModuleEvent(kind: .loadFailed, module: key, error: error))

        let cacheTTL = configuration.failedLoadCacheDuration
        let now = cacheTTL == nil ? nil : ContinuousClock.now
        table.write { t in
            // Unlinked: readers that still see it in an older snapshot keep it valid until their
            // read sections end; the table releases it after a grace period.
            t.remove(record.name)
            t.running[record.name] = nil
            if let cacheTTL, let now {
                t.recentFailures = t.recentFailures.filter { $0.value.until > now }
                t.recentFailures[record.name] = (error, now + cacheTTL)
            }
            record.setState(.gone)
        }
        running.outcome.complete(.failure(error))
    }
}
