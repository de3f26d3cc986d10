/// Unloading (DESIGN §5.2, seeds 001 and 003).
///
/// The decision is made under the table lock with the base-count algorithm (``RefCount``): the
/// module must be live; then, by mode, the count must freeze at zero now (fail-fast), is taken
/// regardless (force), or is waited for with new references refused (drain). Once decided the
/// module is `going` — no new references, same-name loads get `busy` — and its exit runs with no
/// lock held. Then it is unlinked and gone.
extension ModuleHost {
    /// How an unload treats holders.
    public enum UnloadMode: Sendable, Equatable {
        /// The kernel's default: if references are held, refuse with `wouldBlock` and the count.
        case failFast
        /// Unload even if references are held (not if other modules depend on it). Taints the
        /// host with ``TaintFlags/forcedUnload`` when it actually overrides references. Holders'
        /// references stay memory-safe but see `gone`.
        case force
        /// Refuse new references and wait for the held ones to be released, up to `timeout`. On
        /// timeout the module is restored to `live` and the unload fails with `timedOut` and a
        /// report of who holds it. Cancelling the caller's task ends the drain the same way with
        /// `cancelled`.
        case drain(timeout: Duration)
    }

    /// What an unload did.
    public struct UnloadOutcome: Sendable, Equatable {
        /// The module's canonical name.
        public let module: String
        /// The mode it was unloaded with.
        public let mode: UnloadMode
        /// References that were still held when a forced unload went ahead (0 otherwise).
        public let overriddenReferences: Int
        /// References a drain waited for until they were released (0 otherwise).
        public let drainedReferences: Int
    }

    /// Unloads a live module.
    ///
    /// - Throws: `invalidArgument` (bad name, negative drain timeout), `notFound` (not loaded), `busy` (still loading, or
    ///   already being unloaded), `wouldBlock` (fail-fast with references held — the error's
    ///   ``ModuleError/holders`` says who), `timedOut` (drain deadline passed; module restored),
    ///   `cancelled` (drain caller cancelled; module restored).
    @discardableResult
    public func unload(_ name: String, mode: UnloadMode = .failFast) async throws(ModuleError) -> UnloadOutcome {
        let name = try ModuleName(validating: name)
        let key = name.canonical
        if case .drain(let timeout) = mode {
            if timeout < .zero {
                throw ModuleError(
                    .invalidArgument, module: key, reason: "drain timeout must not be negative (got \(timeout))")
            }
            if Task.isCancelled {
                throw ModuleError(.cancelled, module: key, reason: "drain cancelled before it began; nothing changed")
            }
        }

        enum Decision {
            case proceed(ModuleRecord, overridden: Int)
            case refused(ModuleRecord, held: Int)
            case drain(ModuleRecord, Completion<Void>, held: Int, timeout: Duration)
        }
        let decision = try table.withLock { (t: inout ModuleTable) throws(ModuleError) -> Decision in
            guard let record = t.modules[key], record.state != .unformed else {
                throw ModuleError(.notFound, module: key, reason: "is not loaded")
            }
            switch record.state {
            case .unformed, .coming:
                throw ModuleError(.busy, module: key, state: record.state, reason: "is still loading; init is running")
            case .going, .gone:
                let reason = t.running[key] != nil ? "its load failed and it is being removed" : "is already being unloaded"
                throw ModuleError(.busy, module: key, state: record.state, reason: reason)
            case .live:
                // Live, but a load or a refused drain is still delivering its events.
                if t.running[key] != nil {
                    throw ModuleError(.busy, module: key, state: .live, reason: "is still loading")
                }
                if t.settling.contains(key) {
                    throw ModuleError(.busy, module: key, state: .live, reason: "is returning to live after a refused unload")
                }
            }
            switch mode {
            case .failFast:
                // Try-release (RefCount), keeping the count seen so a refusal reports it.
                let held = record.refs.removeBase()
                guard held == 0 || !record.refs.restoreBase() else { return .refused(record, held: held) }
                record.setState(.going)
                return .proceed(record, overridden: 0)
            case .force:
                let held = record.refs.removeBase()
                record.setState(.going)
                return .proceed(record, overridden: held)
            case .drain(let timeout):
                // Arm the signal before removing the base, so the put that freezes the count
                // cannot be missed; go `going` first, so no new reference is taken meanwhile.
                let signal = record.armDrainSignal()
                record.setState(.going)
                let held = record.refs.removeBase()
                return held == 0
                    ? .proceed(record, overridden: 0) : .drain(record, signal, held: held, timeout: timeout)
            }
        }

        switch decision {
        case .refused(let record, let held):
            let error = ModuleError(
                .wouldBlock, module: key, state: .live, holders: holdersReport(of: record, references: held),
                reason: "is in use")
            eventHub.emit(ModuleEvent(kind: .unloadRefused, module: key, error: error))
            throw error
        case .proceed(let record, let overridden):
            record.disarmDrainSignal()
            if overridden > 0 {
                taint(.forcedUnload)
                logger.warning(
                    "forced unload with references held; host tainted",
                    metadata: ["module": "\(key)", "references": "\(overridden)"])
            }
            eventHub.emit(ModuleEvent(kind: .going, module: key))
            await finishUnload(record)
            return UnloadOutcome(module: key, mode: mode, overriddenReferences: overridden, drainedReferences: 0)
        case .drain(let record, let signal, let held, let timeout):
            eventHub.emit(ModuleEvent(kind: .going, module: key))
            let waited = await signal.wait(timeout: timeout)
            record.disarmDrainSignal()
            let frozen: Bool
            switch waited {
            case .value: frozen = true
            case .timedOut, .cancelled: frozen = !record.refs.restoreBase()  // a last put may have just frozen it
            }
            guard frozen else {
                // Refuse and restore the module to live. It accepts references again at once;
                // `settling` keeps other unloads out until its events have been delivered.
                table.withLock { t in
                    record.setState(.live)
                    t.settling.insert(key)
                }
                let timedOut = if case .timedOut = waited { true } else { false }
                let error = ModuleError(
                    timedOut ? .timedOut : .cancelled, module: key, state: .live,
                    holders: holdersReport(of: record),
                    reason: timedOut
                        ? "drain gave up after \(timeout); the module stays live"
                        : "drain cancelled; the module stays live")
                eventHub.emit(ModuleEvent(kind: .unloadRefused, module: key, error: error))
                eventHub.emit(ModuleEvent(kind: .live, module: key))
                table.withLock { t in _ = t.settling.remove(key) }
                throw error
            }
            await finishUnload(record)
            return UnloadOutcome(module: key, mode: mode, overriddenReferences: 0, drainedReferences: held)
        }
    }

    /// After the decision: exit (no lock), `gone` delivered, unlinked. `gone` goes out while the
    /// record still holds the name, so a new load of it cannot emit `coming` first.
    private func finishUnload(_ record: ModuleRecord) async {
        let key = record.name.canonical
        await record.definition.exit(record.context)
        statisticsTable.update(record.name) { $0.unloads += 1 }
        logger.debug("module unloaded", metadata: ["module": "\(key)"])
        eventHub.emit(ModuleEvent(kind: .gone, module: key))
        table.withLock { t in
            // Unlinking under the table lock is the grace period: every reader finds records
            // under this lock, and what a reader found stays valid memory (ARC) after this.
            t.modules[key] = nil
            record.setState(.gone)
        }
    }
}
