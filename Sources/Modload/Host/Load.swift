/// Loading and merging same-name loads (docs/design.md §4; the merge thread and faster boot, §1).
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
/// is the task doing another load's work (binding it, requesting its dependencies, running its
/// init) waits through the host's wait graph, which refuses a wait that would close a cycle.
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
    /// - Returns: how the load went for this caller, with the warnings its parameters raised.
    @discardableResult
    public func insert(_ definition: some ModuleDefinition, parameters: String = "") async throws(ModuleError) -> LoadOutcome {
        try await load(definition, parameters: parameters, for: .insert)
    }

    /// Makes sure a module is live, with `modprobe` semantics: succeeds if the module is live at
    /// the end, whoever loaded it. If the load this caller ran or joined fails, every caller gets
    /// *that* error — same code, same underlying cause. Imports bind only to modules already
    /// loaded; ``request(_:parameters:)`` also loads what they need.
    ///
    /// - Returns: whether this caller loaded it, joined a concurrent load, or found it live.
    /// - Throws: as ``insert(_:parameters:)``, except that a live module or a merged success is
    ///   success.
    @discardableResult
    public func ensureLoaded(_ definition: some ModuleDefinition, parameters: String = "") async throws(ModuleError) -> LoadOutcome {
        try await load(definition, parameters: parameters, for: .ensureLoaded)
    }

    /// The kinds of caller (docs/design.md §4.1, §6).
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

    func load(
        _ definition: any ModuleDefinition, parameters text: String, for caller: LoadCaller
    ) async throws(ModuleError) -> LoadOutcome {
        // 1. Validate: nothing changes if the name or the parameters are bad. Warnings are
        // logged as they are found, and an error names every bad parameter and every warning.
        let name = try ModuleName(validating: definition.name)
        let parsed = ParameterParser.parse(text, specification: definition.parameters)
        for warning in parsed.warnings { logger.notice("\(warning)", metadata: ["module": "\(name)"]) }
        guard parsed.errors.isEmpty else {
            throw ModuleError(
                .invalidArgument, module: name.canonical,
                reason: "bad parameters: " + (parsed.errors + parsed.warnings).joined(separator: "; "))
        }
        func outcome(_ how: LoadOutcome.How) -> LoadOutcome {
            noteLoaded(name.canonical)
            return LoadOutcome(module: name.canonical, how: how, parameterWarnings: parsed.warnings)
        }

        // 2. Admit. A request takes a slot unless it is made by the task doing another load's
        // work (that load's root already holds one), or made by the host for a request it serves
        // (a dependency, a soft dependency, a prefetch: they share that request's slot).
        let waiter = Waiter.current(in: self)
        let (admission, statistics) = admit(
            name, definition: definition, parameters: parsed.parameters, warnings: parsed.warnings,
            autoload: caller == .request, takesSlot: caller == .request && waiter.load == nil && !DependencyLoad.current)
        RequestAdmission.note()
        statistics.attempts.add(1, ordering: .relaxed)
        switch admission {
        case .join:
            statistics.mergedJoiners.add(1, ordering: .relaxed)
            metrics.mergedJoiners.increment()
        case .recentlyFailed: statistics.cachedFailures.add(1, ordering: .relaxed)
        default: break
        }
        switch admission {
        case .live:
            if caller == .insert {
                throw ModuleError(.exists, module: name.canonical, state: .live, reason: "is already loaded")
            }
            return outcome(.alreadyLive)
        case .busy(let state, let reason):
            throw ModuleError(.busy, module: name.canonical, state: state, reason: reason)
        case .recentlyFailed(let failure):
            throw Self.joinerError(for: caller, after: failure, name: name, cached: true)
        case .join(let running):
            try await join(running, for: caller, waiter: waiter)
            return outcome(.joined)
        case .run(let running):
            Task { await self.runLoad(running) }
            try await self.outcome(of: running, waiter: waiter).get()
            return outcome(.loaded)
        }
    }

    /// A caller joined `running` (admitted with its callers counted): waits for its outcome.
    private func join(_ running: RunningLoad, for caller: LoadCaller, waiter: Waiter) async throws(ModuleError) {
        let name = running.record.name
        // A load's own work joining a load still queued for a request slot: that load now
        // runs as part of this one, on its slot (or the two would wait for each other).
        if waiter.load != nil { requestSlots.waive(running) }
        eventHub.emit(ModuleEvent(kind: .mergedJoin, module: name.canonical))
        if case .failure(let failure) = try await self.outcome(of: running, waiter: waiter) {
            throw Self.joinerError(for: caller, after: failure, name: name, cached: false)
        }
        if caller == .insert {
            throw ModuleError(.exists, module: name.canonical, state: .live, reason: "was loaded by a concurrent insert")
        }
    }

    /// Joins the load of `module` in progress, if there is one, as a request — before opening
    /// its file: same-name loads merge whatever their source (step 2), so a request for a module
    /// another load is bringing up needs no second check and mapping of the file. `nil`: no load
    /// of that name is running.
    func joinRunningLoad(of module: String) async throws(ModuleError) -> LoadOutcome? {
        guard let name = try? ModuleName(validating: module) else { return nil }
        let found = table.write { t -> (RunningLoad, NameStatistics)? in
            guard let running = t.running[name] else { return nil }
            running.callers.add(1, ordering: .relaxed)
            return (running, t.statistics(for: name))
        }
        guard let (running, statistics) = found else { return nil }
        RequestAdmission.note()
        statistics.attempts.add(1, ordering: .relaxed)
        statistics.mergedJoiners.add(1, ordering: .relaxed)
        metrics.mergedJoiners.increment()
        try await join(running, for: .request, waiter: Waiter.current(in: self))
        noteLoaded(name.canonical)
        return LoadOutcome(module: name.canonical, how: .joined, parameterWarnings: [])
    }

    /// Step 2 of docs/design.md §4, all under the table lock.
    private func admit(
        _ name: ModuleName, definition: any ModuleDefinition, parameters: ModuleParameters, warnings: [String],
        autoload: Bool, takesSlot: Bool
    ) -> (Admission, NameStatistics) {
        let cacheEnabled = configuration.failedLoadCacheDuration != nil
        let now = cacheEnabled ? ContinuousClock.now : nil
        return table.write { t in
            let statistics = t.statistics(for: name)
            if let running = t.running[name] {
                running.callers.add(1, ordering: .relaxed)
                return (.join(running), statistics)
            }
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
            let record = ModuleRecord(
                name: name, generation: t.nextGeneration(of: name), definition: definition, context: context,
                statistics: statistics,
                tracksHolders: configuration.tracksReferenceHolders, parameterWarnings: warnings)
            let running = RunningLoad(record: record, autoload: autoload, takesSlot: takesSlot)
            t.insert(record)
            t.running[name] = running
            return (.run(running), statistics)
        }
    }

    /// Waits for a running load's outcome. A cancelled caller stops waiting (only it).
    ///
    /// - The task doing another load's work waits through the wait graph: a wait that would
    ///   close a cycle fails at once with `deadlock`, naming the cycle.
    /// - A task that only inherited a load's scope (an unstructured task started by an init or
    ///   an observer) cannot be placed in the graph — the load may not be waiting for it — so it
    ///   waits at most `symbolWaitTimeout`: a cycle through it ends in `busy` instead of a hang.
    /// - Anyone else (a top-level caller) waits until the outcome or cancellation.
    func outcome(of running: RunningLoad, waiter: Waiter) async throws(ModuleError) -> Result<Void, ModuleError> {
        let target = running.record.name
        let result: Completion<Result<Void, ModuleError>>.WaitResult
        if let load = waiter.load {
            try addWait(from: load, to: running)
            defer { removeWait(from: load, to: running) }
            result = await running.outcome.wait()
        } else {
            result = await running.outcome.wait(timeout: waiter.inherited ? configuration.symbolWaitTimeout : nil)
        }
        switch result {
        case .value(let result):
            return result
        case .timedOut:
            stopWaiting(for: running)
            throw ModuleError(
                .busy, module: target.canonical,
                reason: "gave up waiting for its load after \(configuration.symbolWaitTimeout) "
                    + "(waited from a task started by a module's init, where cycles cannot be seen)")
        case .cancelled:
            let abandoned = stopWaiting(for: running)
            throw ModuleError(
                .cancelled, module: target.canonical,
                reason: abandoned
                    ? "stopped waiting for its load (cancelled) before it got a request slot; nothing was loaded"
                    : "stopped waiting for its load (cancelled); the load goes on for others")
        }
    }

    /// A caller stopped waiting for `running` without its outcome. If it was the last caller and
    /// the load is still queued for a request slot, the load is abandoned: it leaves the queue,
    /// and the name — taken off the running loads at once, so no new caller joins what will fail
    /// — frees when its pipeline ends with `cancelled`. Returns `true` if it was abandoned.
    @discardableResult
    func stopWaiting(for running: RunningLoad) -> Bool {
        let abandoned = table.write { t -> Bool in
            guard running.callers.subtract(1, ordering: .relaxed).newValue == 0,
                t.running[running.record.name] === running, requestSlots.leaveQueue(running)
            else { return false }
            t.running[running.record.name] = nil
            return true
        }
        if abandoned { running.slotTicket.complete(.abandoned) }
        return abandoned
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

    /// Steps 3–8 of docs/design.md §4. Runs in its own task, as the task doing the load's work.
    private func runLoad(_ running: RunningLoad) async {
        let record = running.record
        // A module file's image now belongs to this module: released when it is gone.
        (record.definition as? any FileBackedDefinition)?.claim()
        await LoadScope.$current.withValue(LoadScope(host: ObjectIdentifier(self), load: running)) {
            // A top-level request holds one of the host's request slots while it works (returned
            // before its callers are answered) — unless a load it is part of waived it.
            if running.takesSlot {
                do throws(ModuleError) {
                    try await requestSlots.acquire(for: running)
                } catch {
                    await failLoad(running, error)
                    return
                }
            }
            // 3. Imports.
            let bindings: [ResolvedImport]
            do throws(ModuleError) {
                bindings = try await bindImports(of: running)
            } catch {
                await failLoad(running, error)
                return
            }
            // 4. Formation.
            if let error = table.write({ t in form(record, with: bindings, in: &t) }) {
                await failLoad(running, error)
                return
            }
            let taints = record.definition.taints
            if !taints.isEmpty {
                logger.warning("module taints the host", metadata: ["module": "\(record.name)", "taints": "\(taints)"])
            }
            await initialize(running)
        }
    }

    /// Steps 5–8: observers, init, outcome.
    private func initialize(_ running: RunningLoad) async {
        let record = running.record
        let name = record.name
        if let error = await observeAndInitialize(record) {
            await failLoad(running, error)
            return
        }

        // Success: drop the init reference while still coming (an unload can't see a phantom
        // holder), then go live. The running record stays until `live` has been delivered: until
        // then an unload gets `busy` and a same-name load joins, so observers see `live` before
        // any later event of this module.
        record.releaseHostReference()
        table.write { _ in record.setState(.live) }
        record.statistics.loads.add(1, ordering: .relaxed)
        metrics.loads.increment()
        metrics.moduleLive(1)
        logger.debug("module live", metadata: ["module": "\(name)"])
        eventHub.emit(ModuleEvent(kind: .live, module: name.canonical, generation: record.generation))
        table.write { t in t.running[name] = nil }
        requestSlots.finish(running)
        running.outcome.complete(.success(()))
    }

    /// Steps 5–6 of every load, set member and replacement: the `coming` observers (which may
    /// veto), then init with no lock held — the count holds base + 1 throughout. Returns why the
    /// module cannot go live, or `nil` if init succeeded.
    func observeAndInitialize(_ record: ModuleRecord) async -> ModuleError? {
        let name = record.name
        if let veto = eventHub.emit(ModuleEvent(kind: .coming, module: name.canonical, generation: record.generation), vetoable: true) {
            return ModuleError(
                .permissionDenied, module: name.canonical, state: .coming,
                reason: "load vetoed by observer \"\(veto.observer)\"", underlying: veto.error)
        }
        let clock = ContinuousClock()
        let started = clock.now
        let initError: (any Error)?
        do {
            try await record.definition.initialize(record.context)
            initError = nil
        } catch {
            initError = error
        }
        let initTime = started.duration(to: clock.now)
        record.statistics.recordInit(took: initTime)
        metrics.initDuration.recordNanoseconds(initTime.nanosecondCount)
        guard let initError else { return nil }
        return ModuleError(
            .initFailed, module: name.canonical, state: .coming, reason: "init failed", underlying: initError)
    }

    /// A load that failed: events delivered, unlinked, references on its exporters released,
    /// every caller answered. Events go out while the record still holds the name (same-name loads
    /// join and get this failure), so a new load of the name cannot emit `coming` before them. A
    /// load that failed before formation was never visible: it emits only `loadFailed`.
    func failLoad(_ running: RunningLoad, _ error: ModuleError, remember: Bool = true) async {
        let record = running.record
        let key = record.name.canonical
        let formed = record.state != .unformed
        // Going, with the base and the init reference gone in the same step; references taken
        // while coming may remain.
        table.write { _ in _ = record.refs.failLoad() }
        record.statistics.recordFailure(error.code)
        metrics.failed(error.code)
        logger.debug("module load failed", metadata: ["module": "\(key)", "error": "\(error)"])
        if formed {
            eventHub.emit(ModuleEvent(kind: .going, module: key, generation: record.generation))
            eventHub.emit(ModuleEvent(kind: .gone, module: key, generation: record.generation))
        }
        eventHub.emit(ModuleEvent(kind: .loadFailed, module: key, error: error, generation: record.generation))
        let orphaned = unlink(record) { t in
            if t.running[record.name] === running { t.running[record.name] = nil }
            // An abandoned load (its callers cancelled) is no failure of the module's to remember,
            // nor is a rolled-back member of a set or a failed replace (the name stays live).
            if remember, let ttl = configuration.failedLoadCacheDuration, error.code != .cancelled {
                let now = ContinuousClock.now
                t.recentFailures = t.recentFailures.filter { $0.value.until > now }
                t.recentFailures[record.name] = (error, now + ttl)
            }
        }
        // A module file's image goes before the callers hear of the failure: nothing stays loaded.
        _ = await (record.definition as? any FileBackedDefinition)?.release(referencesRemain: orphaned)
        requestSlots.finish(running)
        running.outcome.complete(.failure(error))
    }

    /// The last step of every module: withdraws its exports, removes it from the table (its record
    /// is released after a grace period, when no reader can still see it), removes its use links
    /// and releases its references on the modules it used — last, as the kernel does, and in the
    /// same critical section as the links, so an unload of an exporter never sees the links gone
    /// but the references still held.
    @discardableResult
    func unlink(_ record: ModuleRecord, also: (inout ModuleTable.Writer) -> Void = { _ in }) -> Bool {
        table.write { t in
            t.withdrawExports(of: record)
            t.remove(record)
            record.setState(.gone)
            also(&t)
            let targets = record.takeTargets()
            t.unlink(record.key, from: targets.map(\.key))
            for target in targets { target.releaseHostReference() }
        }
        // References that outlive the module (forced unload, or taken while coming before a
        // failed init) keep its record in memory from here on.
        return record.orphanIfReferenced()
    }
}

extension ModuleHost {
    /// Notes on the module named `module` that a load of it succeeded for whoever is asking now:
    /// a dependency request (``DependencyLoad``) or a caller (for modprobe -r).
    func noteLoaded(_ module: String) {
        guard let name = try? ModuleName(validating: module) else { return }
        let asDependency = DependencyLoad.current
        // Inside the read section: a record found in the snapshot is valid only until it ends.
        table.read { $0.modules[name]?._withUnsafeGuaranteedRef { $0.noteLoaded(asDependency: asDependency) } }
    }
}

/// Set (task-local) while the host requests a module for another — a provider of its imports or
/// a soft dependency — so the load is noted as one no caller asked for.
enum DependencyLoad {
    @TaskLocal static var current = false
}
