/// Unloading (docs/design.md §5.2–5.3; the stop_machine removal and raceless modules, §1).
///
/// 1. **Decide** under the table lock with the base-count algorithm (``RefCount``): the module
///    must be live and not loading or unloading; then, by mode, the count must freeze at zero now
///    (fail-fast), is taken regardless (force), or will be waited for (drain). The record is
///    marked *unloading*: no new references, call points unreachable, same-name loads and other
///    unloads refused — while the module still reads `live`.
/// 2. **Drain** (drain mode): wait, no lock held, for the held references to be released.
/// 3. **Grace period** (noncounting modules): callers that entered before step 1 finish.
/// 4. **Cleanup** (the module's own, may refuse). A refusal — or a drain timeout — clears the
///    unloading mark and restores the count: the module is live and usable as before, and nobody
///    saw a state change.
/// 5. **Commit**: `going`, the module's exit (no lock), `gone`, unlinked (exports withdrawn, use
///    links removed, references on the modules it used released last); its record is released
///    after a grace period. A module file's image is released after a grace period too, before
///    the unload returns: unmapped, or retired (``ImageRelease``).
extension ModuleHost {
    /// How an unload treats holders.
    public enum UnloadMode: Sendable, Equatable {
        /// The kernel's default: if references are held, refuse with `wouldBlock` and the count.
        case failFast
        /// Unload even if references are held (not if other modules depend on it, and not if the
        /// module's own cleanup refuses). Taints the host with ``TaintFlags/forcedUnload`` when it
        /// actually overrides references. Holders' references stay memory-safe but see `gone`.
        case force
        /// Refuse new references and wait for the held ones to be released, up to `timeout`. On
        /// timeout the module stays live and the unload fails with `timedOut` and a report of who
        /// holds it. Cancelling the caller's task ends the drain the same way with `cancelled`.
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
        /// For a module loaded from a file: what became of its code — unmapped (C), or retired
        /// (Swift, `-z nodelete`, or references a forced unload left behind). `nil` for built-ins.
        public let image: ImageRelease?
    }

    /// Unloads a live module.
    ///
    /// - Throws: `invalidArgument` (bad name, negative drain timeout), `notFound` (not loaded),
    ///   `busy` (still loading, or already being unloaded), `wouldBlock` (other modules use it —
    ///   in every mode, force included — or, fail-fast, references are held; the error's
    ///   ``ModuleError/holders`` says who), `timedOut` (drain
    ///   deadline passed), `cancelled` (drain caller cancelled), or the error the module's
    ///   ``ModuleDefinition/cleanup(_:)`` refused with. After any error the module is as it was.
    @discardableResult
    public func unload(_ name: String, mode: UnloadMode = .failFast) async throws(ModuleError) -> UnloadOutcome {
        let name = try ModuleName(validating: name)
        let key = name.canonical
        let started = ContinuousClock.now
        if case .drain(let timeout) = mode {
            if timeout < .zero {
                throw ModuleError(
                    .invalidArgument, module: key, reason: "drain timeout must not be negative (got \(timeout))")
            }
            if Task.isCancelled {
                throw ModuleError(.cancelled, module: key, reason: "drain cancelled before it began; nothing changed")
            }
        }

        // 1. Decide.
        enum Decision {
            case proceed(ModuleRecord, overridden: Int)
            case inUse(ModuleRecord, held: Int)
            case dependents(ModuleRecord, [String])
            case drain(ModuleRecord, Completion<Void>, held: Int, timeout: Duration)
        }
        let decision = try table.write { (t: inout ModuleTable.Writer) throws(ModuleError) -> Decision in
            guard let record = t.module(name), record.state != .unformed else {
                throw ModuleError(.notFound, module: key, reason: "is not loaded")
            }
            switch record.state {
            case .unformed, .coming:
                throw ModuleError(.busy, module: key, state: record.state, reason: "is still loading; init is running")
            case .going, .gone, .old:
                let reason = t.running[name] != nil ? "its load failed and it is being removed" : "is already being unloaded"
                throw ModuleError(.busy, module: key, state: record.state, reason: reason)
            case .live:
                if t.running[name] != nil {
                    // Live, but its load is still delivering `live` to observers.
                    throw ModuleError(.busy, module: key, state: .live, reason: "is still loading")
                }
                if record.isUnloading {
                    throw ModuleError(.busy, module: key, state: .live, reason: "is already being unloaded")
                }
            }
            // Dependents block every mode, force included (docs/design.md §5.2).
            if t.replacing.contains(name) {
                throw ModuleError(.busy, module: key, state: .live, reason: "is being replaced; try again once the replace ends")
            }
            if let dependents = t.dependents[record.key], !dependents.isEmpty {
                return .dependents(record, ModuleKey.names(dependents))
            }
            switch mode {
            case .failFast:
                // Try-release: frozen and marked unloading in one step, or nothing changes and
                // the count seen is what the refusal reports.
                let held = record.refs.freezeIfUnreferenced()
                return held == 0 ? .proceed(record, overridden: 0) : .inUse(record, held: held)
            case .force:
                return .proceed(record, overridden: record.refs.beginUnloading())
            case .drain(let timeout):
                // Arm the signal before the base goes, so the put that freezes the count cannot
                // be missed; then mark unloading (no new references) and remove the base at once.
                let signal = record.armDrainSignal()
                let held = record.refs.beginUnloading()
                return held == 0
                    ? .proceed(record, overridden: 0) : .drain(record, signal, held: held, timeout: timeout)
            }
        }

        let record: ModuleRecord
        var overridden = 0
        var drained = 0
        switch decision {
        case .dependents(let used, _):
            let error = ModuleError(
                .wouldBlock, module: key, state: .live, holders: holdersReport(of: used),
                reason: "is in use; unload its dependents first")
            eventHub.emit(ModuleEvent(kind: .unloadRefused, module: key, error: error))
            throw error
        case .inUse(let used, let held):
            let error = ModuleError(
                .wouldBlock, module: key, state: .live, holders: holdersReport(of: used, references: held),
                reason: "is in use")
            eventHub.emit(ModuleEvent(kind: .unloadRefused, module: key, error: error))
            throw error
        case .proceed(let decided, let forcedPast):
            decided.disarmDrainSignal()
            record = decided
            overridden = forcedPast
        case .drain(let decided, let signal, let held, let timeout):
            // 2. Drain.
            let waited = await signal.wait(timeout: timeout)
            decided.disarmDrainSignal()
            // A last put may have frozen the count just as the wait gave up: then it proceeds.
            let frozen: Bool
            switch waited {
            case .value: frozen = true
            case .timedOut, .cancelled: frozen = table.write { _ in !decided.refs.cancelUnloading() }
            }
            guard frozen else {
                let timedOut = if case .timedOut = waited { true } else { false }
                throw refused(
                    decided, code: timedOut ? .timedOut : .cancelled,
                    reason: timedOut
                        ? "drain gave up after \(timeout); the module stays live"
                        : "drain cancelled; the module stays live")
            }
            record = decided
            drained = held
        }

        // 3. Grace period: noncounting callers that entered before the decision finish.
        if record.accounting == .noncounting { await Quiescence.synchronize() }

        // 4. The module's own cleanup, which may refuse.
        do {
            try await record.definition.cleanup(record.context)
        } catch {
            // The cleanup's own words first: they say why.
            let own = (error as? ModuleError)?.reason ?? "\(error)"
            throw refused(
                record, code: (error as? ModuleError)?.code ?? .busy,
                reason: "\(own) (its cleanup refused the unload; the module stays live)", reinstate: true,
                underlying: error, underlyingIsInReason: true)
        }

        // 5. Commit.
        if overridden > 0 {
            taint(.forcedUnload)
            logger.warning(
                "forced unload with references held; host tainted",
                metadata: ["module": "\(key)", "references": "\(overridden)"])
        }
        table.write { _ in record.setState(.going) }
        eventHub.emit(ModuleEvent(kind: .going, module: key, generation: record.generation))
        await record.definition.exit(record.context)
        record.statistics.unloads.add(1, ordering: .relaxed)
        metrics.unloads.increment()
        metrics.unloadDuration.recordNanoseconds(started.duration(to: .now).nanosecondCount)
        metrics.moduleLive(-1)
        logger.debug("module unloaded", metadata: ["module": "\(key)"])
        // `gone` goes out while the record still holds the name, so a new load of it cannot
        // emit `coming` first.
        eventHub.emit(ModuleEvent(kind: .gone, module: key, generation: record.generation))
        let orphaned = unlink(record)
        let image = await (record.definition as? any FileBackedDefinition)?.release(referencesRemain: orphaned)
        return UnloadOutcome(
            module: key, mode: mode, overriddenReferences: overridden, drainedReferences: drained, image: image)
    }

    /// The error of an unload that was decided but is refused after all — the module is live as
    /// before; for a refused cleanup, `reinstate` first puts the base back and clears the mark.
    private func refused(
        _ record: ModuleRecord, code: ModuleError.Code, reason: String, reinstate: Bool = false,
        underlying: (any Error)? = nil, underlyingIsInReason: Bool = false
    ) -> ModuleError {
        if reinstate { table.write { _ in record.refs.reinstate() } }
        var error = ModuleError(
            code, module: record.name.canonical, state: .live, holders: holdersReport(of: record),
            reason: reason, underlying: underlying)
        error.underlyingIsInReason = underlyingIsInReason
        eventHub.emit(ModuleEvent(kind: .unloadRefused, module: record.name.canonical, error: error))
        return error
    }
}
