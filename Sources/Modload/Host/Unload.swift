/// Unloading (DESIGN §5.2–5.3, seeds 001 and 003).
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
            case refused(ModuleRecord, held: Int)
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
            case .going, .gone:
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
            // Dependents block every mode, force included (DESIGN §5.2).
            if let dependents = t.dependents[name], !dependents.isEmpty {
                return .dependents(record, dependents.map(\.canonical).sorted())
            }
            switch mode {
            case .failFast:
                // Try-release, keeping the count seen so a refusal reports it.
                let held = record.refs.removeBase()
                guard held == 0 || !record.refs.restoreBase() else { return .refused(record, held: held) }
                record.beginUnloading()
                return .proceed(record, overridden: 0)
            case .force:
                record.beginUnloading()
                return .proceed(record, overridden: record.refs.removeBase())
            case .drain(let timeout):
                // Mark unloading first (no new references), and arm the signal before removing
                // the base, so the put that freezes the count cannot be missed.
                record.beginUnloading()
                let signal = record.armDrainSignal()
                let held = record.refs.removeBase()
                return held == 0
                    ? .proceed(record, overridden: 0) : .drain(record, signal, held: held, timeout: timeout)
            }
        }

        let record: ModuleRecord
        var overridden = 0
        var drained = 0
        switch decision {
        case .dependents(let used, let dependents):
            let error = ModuleError(
                .wouldBlock, module: key, state: .live, holders: holdersReport(of: used),
                reason: "is used by \(dependents.joined(separator: ", ")); unload them first")
            eventHub.emit(ModuleEvent(kind: .unloadRefused, module: key, error: error))
            throw error
        case .refused(let refused, let held):
            let error = ModuleError(
                .wouldBlock, module: key, state: .live, holders: holdersReport(of: refused, references: held),
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
            let frozen: Bool
            switch waited {
            case .value: frozen = true
            case .timedOut, .cancelled: frozen = !decided.refs.restoreBase()  // a last put may have just frozen it
            }
            guard frozen else {
                let timedOut = if case .timedOut = waited { true } else { false }
                throw refuse(
                    decided, code: timedOut ? .timedOut : .cancelled, baseRestored: true,
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
            throw refuse(
                record, code: (error as? ModuleError)?.code ?? .busy, baseRestored: false,
                reason: "its cleanup refused to unload; the module stays live", underlying: error)
        }

        // 5. Commit.
        if overridden > 0 {
            taint(.forcedUnload)
            logger.warning(
                "forced unload with references held; host tainted",
                metadata: ["module": "\(key)", "references": "\(overridden)"])
        }
        table.write { _ in record.setState(.going) }
        eventHub.emit(ModuleEvent(kind: .going, module: key))
        await record.definition.exit(record.context)
        record.statistics.unloads.add(1, ordering: .relaxed)
        logger.debug("module unloaded", metadata: ["module": "\(key)"])
        // `gone` goes out while the record still holds the name, so a new load of it cannot
        // emit `coming` first.
        eventHub.emit(ModuleEvent(kind: .gone, module: key))
        let orphaned = unlink(record)
        let image = await releaseImage(of: record, orphaned: orphaned)
        return UnloadOutcome(
            module: key, mode: mode, overriddenReferences: overridden, drainedReferences: drained, image: image)
    }

    /// Undoes an unload that was decided but is refused (drain timeout or cancellation, or the
    /// module's cleanup): count restored, unloading mark cleared — the module is live as before.
    private func refuse(
        _ record: ModuleRecord, code: ModuleError.Code, baseRestored: Bool, reason: String,
        underlying: (any Error)? = nil
    ) -> ModuleError {
        if !baseRestored { record.refs.reinstateBase() }
        table.write { _ in record.setState(.live) }
        let error = ModuleError(
            code, module: record.name.canonical, state: .live, holders: holdersReport(of: record),
            reason: reason, underlying: underlying)
        eventHub.emit(ModuleEvent(kind: .unloadRefused, module: record.name.canonical, error: error))
        return error
    }
}
