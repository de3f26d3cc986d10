import Synchronization

/// One loaded (or loading) module: the host's record of it.
///
/// Created `unformed` when a load wins the race for its name, unlinked from the table when it is
/// gone. References keep the record (not the module) alive, so a reference that outlives its
/// module — possible only through a forced unload — still points at valid memory and reports
/// `gone`.
///
/// Lock rules:
/// - `state` is written only with the host's table lock held; it is read without a lock.
/// - `refs` is never locked (see ``RefCount``).
/// - `side` (drain signal, holder labels) has its own lock, innermost: it is taken with the table
///   lock held or not, and nothing is taken inside it.
final class ModuleRecord: Sendable {
    /// The module's validated, canonical name.
    let name: ModuleName
    /// The definition this load runs.
    let definition: any ModuleDefinition
    /// Handed to init and exit.
    let context: ModuleContext
    /// The reference count (base + references).
    let refs = RefCount()

    private let rawState = Atomic<UInt8>(ModuleState.unformed.rawValue)

    private struct Side {
        /// Set while a drain-mode unload waits for the count to freeze.
        var drainSignal: Completion<Void>?
        /// Labels of references taken with a holder name (only when the host tracks holders).
        var holders: [String: Int] = [:]
    }
    private let side = Locked(Side())

    init(name: ModuleName, definition: any ModuleDefinition, context: ModuleContext) {
        self.name = name
        self.definition = definition
        self.context = context
    }

    var state: ModuleState {
        ModuleState(rawValue: rawState.load(ordering: .acquiring))!
    }

    /// Changes the state. The caller holds the table lock (or the record is already unlinked).
    func setState(_ new: ModuleState) {
        rawState.store(new.rawValue, ordering: .releasing)
    }

    // MARK: References

    /// Try-get: succeeds only if the module is coming or live *and* the count is not frozen.
    @inline(__always)
    func tryAcquire(holder: String?) -> Bool {
        let current = state
        guard current == .coming || current == .live, refs.tryGet() else { return false }
        if let holder { side.withLock { $0.holders[holder, default: 0] += 1 } }
        return true
    }

    /// Takes another reference for a caller that already holds one.
    func acquireHeld(holder: String?) {
        refs.getHeld()
        if let holder { side.withLock { $0.holders[holder, default: 0] += 1 } }
    }

    /// Put: drops one reference. When the count reaches zero (only possible while an unload has
    /// removed the base) a waiting drain is woken.
    @inline(__always)
    func release(holder: String?) {
        if let holder {
            side.withLock { s in
                if let n = s.holders[holder], n > 1 { s.holders[holder] = n - 1 } else { s.holders[holder] = nil }
            }
        }
        guard let remaining = refs.put() else {
            context.logger.critical("reference count of \(name) would go below zero: a release without an acquire")
            assertionFailure("reference count of \(name) would go below zero")
            return
        }
        if remaining == 0 { side.withLock { $0.drainSignal }?.complete(()) }
    }

    /// Labels of references currently held, when the host tracks holders.
    var holderLabels: [String: Int] { side.withLock { $0.holders } }

    // MARK: Unload support

    /// Installs the signal a draining unload waits on. Must be set before the base is removed so
    /// a put that freezes the count cannot be missed.
    func armDrainSignal() -> Completion<Void> {
        let signal = Completion<Void>()
        side.withLock { $0.drainSignal = signal }
        return signal
    }

    /// Removes the drain signal (the drain ended either way).
    func disarmDrainSignal() {
        side.withLock { $0.drainSignal = nil }
    }
}
