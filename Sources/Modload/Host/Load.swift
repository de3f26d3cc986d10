/// Loading and merging same-name loads (DESIGN §4, seeds 000 and 004).
///
/// A load is admitted under the table lock: it either *wins* the name (an `unformed` record and a
/// running-load record go into the table before any work is done), *joins* a load of that name
/// already running, or is answered at once (live → exists, going → busy, recently failed → the
/// cached failure). The winner's pipeline runs in a task of its own with no lock held — so
/// distinct modules load in parallel and no caller's cancellation can cut a shared init short:
///
/// 3. bind imports (``bindImports(of:autoload:)``: may wait for a coming exporter, or request a
///    missing one when the load is a request);
/// 4. formation, under the table lock: exporters re-checked and referenced, use links recorded,
///    exports published, state `coming`;
/// 5. observers (may veto), 6. init, 7. outcome: `live`, or `going` → `gone`.
///
/// Every caller, winner included, then waits on the running-load record's outcome. A caller that
/// is itself part of another load (binding it, requesting its dependencies, running its init)
/// waits through the host's wait graph, which refuses a wait that would close a cycle.
extension ModuleHost {
    /// Loads a module with `insmod` semantics: the caller that actually loads it gets its own
    /// result; a caller merged into a load already running gets `exists` if that load succeeded
    /// and `busy` if it failed (with the winner's error as `underlying`). Never a second init.
    /// Imports bind only to modules already loaded (no autoload — that is ``request(_:parameters:)``).
    ///
    /// - Parameters:
    ///   - definition: what to load.
    ///   - parameters: `name=value` pairs with the kernel's syntax, checked against the
    ///     definition's parameters. They apply to the load that runs init; a merged caller's are
    ///     checked but not applied.
    /// - Throws: `invalidArgument` (bad name or parameters — nothing changed), `exists` (already
    ///   live, or a merged load succeeded), `busy` (being unloaded, or a merged load failed),
    ///   `notFound` / `symbolMismatch` / `duplicateSymbol` (binding and formation), `deadlock`
    ///   (a cycle), `initFailed`, `permissionDenied` (an observer vetoed), `cancelled` (this
    ///   caller's task was cancelled; the load itself goes on).
    public func insert(_ definition: some ModuleDefinition, parameters: String = "") async throws(ModuleError) {
        try await load(definition, parameters: parameters, for: .insert)
    }

    /// Makes sure a module is live, with `modprobe` semantics: succeeds if the module is live at
    /// the end, whoever loaded it. If the load this caller ran or joined fails, every caller gets
    /// *that* error — same code, same underlying cause. Imports bind only to modules already
    /// loaded; ``request(_:parameters:)`` also loads what they need.
    ///
    /// - Throws: as ``insert(_:parameters:)``, except that a live module or a merged success is
    ///   success.
    public func ensureLoaded(_ definition: some ModuleDefinition, parameters: String = "") async throws(ModuleError) {
        try await load(definition, parameters: parameters, for: .ensureLoaded)
    }

    /// The kinds of caller (DESIGN §4.1, §6).
    enum LoadCaller {
        case insert
        case ensureLoaded
        /// Ensure-loaded that also requests the modules providing missing imports.
        case request
    }

    /// What admission decided under the table lock.
    private enum Admission {
        case run(RunningLoad)
        case join(RunningLoad)
        case live
        case busy(ModuleState, reason: String)
        case recentlyFailed(ModuleError)
    }

    func load(_ definition: any ModuleDefinition, parameters text: String, for caller: LoadCaller) async throws(ModuleError) {
        // 1. Validate: nothing changes if the name or the parameters are bad.
        let name = try ModuleName(validating: definition.name)
        let parsed = ParameterParser.parse(text, specification: definition.parameters)
        guard parsed.errors.isEmpty else {
            throw ModuleError(
                .invalidArgument, module: name.canonical,
                reason: "bad parameters: " + parsed.errors.joined(separator: "; "))
        }
        for warning in parsed.warnings { logger.warning("\(warning)", metadata: ["module": "\(name)"]) }

        // 2. Admit.
        let waiter = Self.currentLoad(in: self)
        let (admission, statistics) = admit(
            name, definition: definition, parameters: parsed.parameters,
            autoload: caller == .request, takesSlot: caller == .request && waiter == nil)
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
            if case .failure(let failure) = try await outcome(of: running, waiter: waiter) {
                throw Self.joinerError(for: caller, after: failure, name: name, cached: false)
            }
            if caller == .insert {
                throw ModuleError(
                    .exists, module: name.canonical, state: .live,
                    reason: "was loaded by a concurrent insert")
            }
        case .run(let running):
            Task { await self.runLoad(running) }
            try await outcome(of: running, waiter: waiter).get()
        }
    }

    /// Step 2 of DESIGN §4, all under the table lock.
    private func admit(
        _ name: ModuleName, definition: any ModuleDefinition, parameters: ModuleParameters,
        autoload: Bool, takesSlot: Bool
    ) -> (Admission, NameStatistics) {
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
            let context = ModuleContext(
                name: name.canonical, logger: moduleLogger(for: name), imports: .none, parameters: parameters,
                host: self)
            let record = ModuleRecord(name: name, definition: definition, context: context, statistics: statistics)
            let running = RunningLoad(record: record, autoload: autoload, takesSlot: takesSlot)
            t.insert(record)
            t.running[name] = running
            return (.run(running), statistics)
        }
    }

    /// Waits for a running load's outcome. A cancelled caller stops waiting (only it). If the
    /// caller is part of another load, the wait is an edge of the wait graph; one that would
    /// close a cycle fails at once with `deadlock`, naming the cycle.
    func outcome(of running: RunningLoad, waiter: ModuleName?) async throws(ModuleError) -> Result<Void, ModuleError> {
        let target = running.record.name
        try addWait(from: waiter, to: target)
        defer { removeWait(from: waiter, to: target) }
        switch await running.outcome.wait() {
        case .value(let result):
            return result
        case .cancelled, .timedOut:
            throw ModuleError(
                .cancelled, module: target.canonical,
                reason: "stopped waiting for its load (cancelled); the load goes on for others")
        }
    }

    /// Adds `waiter → target` to the wait graph, or throws the cycle it would close.
    func addWait(from waiter: ModuleName?, to target: ModuleName) throws(ModuleError) {
        guard let waiter else { return }
        if let cycle = table.write({ $0.waits.addEdge(from: waiter, to: target) }) {
            throw ModuleError(
                .deadlock, module: waiter.canonical,
                reason: "dependency cycle: " + cycle.map(\.canonical).joined(separator: " → ")
                    + " (each waits for the next one's load)")
        }
    }

    func removeWait(from waiter: ModuleName?, to target: ModuleName) {
        guard let waiter else { return }
        table.write { $0.waits.removeEdge(from: waiter, to: target) }
    }

    /// What a caller gets when the load it joined (or the cached failure it hit) failed.
    private static func joinerError(
        for caller: LoadCaller, after failure: ModuleError, name: ModuleName, cached: Bool
    ) -> ModuleError {
        switch caller {
        case .ensureLoaded, .request:
            return failure
        case .insert:
            return ModuleError(
                .busy, module: name.canonical,
                reason: cached ? "a load of it failed recently" : "a concurrent load of it failed",
                underlying: failure)
        }
    }

    // MARK: The winner's pipeline

    /// The load the current task works for, if it belongs to `host` (set for the whole winner's
    /// pipeline, including init and what init starts).
    static func currentLoad(in host: ModuleHost) -> ModuleName? {
        guard let current = LoadScope.current, current.host == ObjectIdentifier(host) else { return nil }
        return current.name
    }

    /// Steps 3–8 of DESIGN §4. Runs in its own task, as the load of its module.
    private func runLoad(_ running: RunningLoad) async {
        let record = running.record
        await LoadScope.$current.withValue(LoadScope(host: ObjectIdentifier(self), name: record.name)) {
            // A top-level request holds one of the host's request slots while it works.
            var slot = false
            if running.takesSlot {
                do throws(ModuleError) {
                    try await requestSlots.acquire(for: record.name)
                    slot = true
                } catch {
                    failLoad(running, error)
                    return
                }
            }
            defer { if slot { requestSlots.release() } }

            // 3. Imports.
            let bindings: [ResolvedImport]
            do throws(ModuleError) {
                bindings = try await bindImports(of: record, autoload: running.autoload)
            } catch {
                failLoad(running, error)
                return
            }
            // 4. Formation.
            if let error = table.write({ t in form(record, with: bindings, in: &t) }) {
                failLoad(running, error)
                return
            }
            await initialize(running)
        }
    }

    /// Steps 5–8: observers, init, outcome.
    private func initialize(_ running: RunningLoad) async {
        let record = running.record
        let name = record.name
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

    /// A load that failed: events delivered, unlinked, references on its exporters released,
    /// every caller answered. Events go out while the record still holds the name (same-name loads
    /// join and get this failure), so a new load of the name cannot emit `coming` before them. A
    /// load that failed before formation was never visible: it emits only `loadFailed`.
    private func failLoad(_ running: RunningLoad, _ error: ModuleError) {
        let record = running.record
        let key = record.name.canonical
        let formed = record.state != .unformed
        table.write { _ in record.setState(.going) }
        record.statistics.recordFailure(error.code)
        logger.debug("module load failed", metadata: ["module": "\(key)", "error": "\(error)"])
        if formed {
            eventHub.emit(ModuleEvent(kind: .going, module: key))
            eventHub.emit(ModuleEvent(kind: .gone, module: key))
        }
        eventHub.emit(ModuleEvent(kind: .loadFailed, module: key, error: error))
        unlink(record) { t in
            t.running[record.name] = nil
            if let ttl = configuration.failedLoadCacheDuration {
                let now = ContinuousClock.now
                t.recentFailures = t.recentFailures.filter { $0.value.until > now }
                t.recentFailures[record.name] = (error, now + ttl)
            }
        }
        running.outcome.complete(.failure(error))
    }

    /// The last step of every module: withdraws its exports and use links and removes it from the
    /// table (its record is released after a grace period, when no reader can still see it), then
    /// releases its references on the modules it used — last, as the kernel does.
    func unlink(_ record: ModuleRecord, also: (inout ModuleTable.Writer) -> Void = { _ in }) {
        let targets = record.takeTargets()
        table.write { t in
            t.withdrawExports(of: record)
            t.unlink(record.name, from: targets.map(\.name))
            t.remove(record.name)
            record.setState(.gone)
            also(&t)
        }
        for target in targets { target.release(holder: nil) }
    }
}

/// The load a task works for (task-local): set for a winner's whole pipeline, so that a wait
/// started by it — binding, a dependency request, or a request from its init — is known to be on
/// that load's behalf.
struct LoadScope: Sendable {
    let host: ObjectIdentifier
    let name: ModuleName

    @TaskLocal static var current: LoadScope?
}
