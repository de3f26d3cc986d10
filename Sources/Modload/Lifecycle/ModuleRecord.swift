import Synchronization

/// One loaded (or loading) module: the host's record of it.
///
/// Created `unformed` when a load wins the race for its name, unlinked from the table when it is
/// gone. References keep the record (not the module) alive, so a reference that outlives its
/// module — possible only through a forced unload — still points at valid memory and reports
/// `gone`.
///
/// Lock rules:
/// - the state byte (state and the unloading bit) is written only with the host's table lock
///   held (or after the record is unlinked); it is read without a lock.
/// - `refs` is never locked (see ``RefCount``).
/// - `side` (drain signal, holder labels) has its own lock, innermost: it is taken with the table
///   lock held or not, and nothing is taken inside it.
@usableFromInline
final class ModuleRecord: Sendable {
    /// The module's validated, canonical name.
    let name: ModuleName
    /// The reference count (base + references) and the state (its word lives outside the record,
    /// see ``RefCountWords``).
    @usableFromInline let refs = RefCount()
    /// Which load of the name this is: 1 for the first, one more for each load or replace after
    /// it (docs/design.md §16). Two records share a name only while one of them is `old`.
    let generation: Int
    /// The definition this load runs.
    let definition: any ModuleDefinition
    /// The definition's accounting, read once.
    let accounting: ModuleAccounting
    /// The module file the definition runs, read once; `nil` for a built-in definition.
    let file: String?
    /// The context before imports are bound (name, logger, parameters, host).
    private let baseContext: ModuleContext
    /// The statistics of this module's name.
    let statistics: NameStatistics
    /// Record holder labels of references (the host's `tracksReferenceHolders`).
    @usableFromInline let tracksHolders: Bool
    /// What parsing the load's parameters warned about.
    let parameterWarnings: [String]
    /// Who wanted it: 0 no successful load yet, 1 only dependency requests, 2 a caller's own load.
    /// A caller's load always stores 2; a dependency's stores 1 only over 0 — so the answer does
    /// not depend on which of two concurrent loads finished first.
    private let origin = Atomic<UInt8>(0)

    /// Notes that a load of this module succeeded for a dependency (`true`) or a caller.
    func noteLoaded(asDependency: Bool) {
        if asDependency {
            _ = origin.compareExchange(expected: 0, desired: 1, ordering: .relaxed)
        } else {
            origin.store(2, ordering: .relaxed)
        }
    }

    /// Whether every successful load so far was for a dependency.
    var loadedAsDependency: Bool { origin.load(ordering: .relaxed) == 1 }

    // The state lives in the reference count's word (see ``RefCount``): a state byte plus the
    // *unloading* flag — an unload has begun but is not yet committed (draining, waiting for a
    // grace period, or in a refusable cleanup). While set, try-get fails, call points are
    // unreachable, and same-name loads and other unloads are refused — yet the module is still
    // live and becomes fully so again if the unload is refused, with no state change for anyone
    // to see.

    private struct Side {
        /// Set while a drain-mode unload waits for the count to freeze.
        var drainSignal: Completion<Void>?
        /// Labels of references taken with a holder name (only when the host tracks holders).
        var holders: [String: Int] = [:]
        /// The imports bound at formation.
        var imports = BoundImports.none
        /// The exporters this module uses, one reference held on each (set at formation,
        /// released when this module is gone).
        var targets: [ModuleRecord] = []
    }
    private let side = Locked(Side())

    init(
        name: ModuleName, generation: Int = 1, definition: any ModuleDefinition, context: ModuleContext,
        statistics: NameStatistics, tracksHolders: Bool = false, parameterWarnings: [String] = []
    ) {
        self.name = name
        self.generation = generation
        self.definition = definition
        self.accounting = definition.accounting
        self.file = (definition as? any FileBackedDefinition)?.filePath
        self.baseContext = context
        self.statistics = statistics
        self.tracksHolders = tracksHolders
        self.parameterWarnings = parameterWarnings
    }

    /// What init and exit get: the base context with the bound imports.
    var context: ModuleContext { baseContext.with(imports: side.withLock { $0.imports }) }

    /// The load's parameter values.
    var parameters: ModuleParameters { baseContext.parameters }

    /// Records the bound imports and the exporters referenced (formation, table lock held).
    func bind(_ imports: BoundImports, targets: [ModuleRecord]) {
        side.withLock { s in
            s.imports = imports
            s.targets = targets
        }
    }

    /// The exporters this module holds references on; empties the list (the caller releases
    /// them).
    func takeTargets() -> [ModuleRecord] {
        side.withLock { s in
            defer { s.targets = [] }
            return s.targets
        }
    }

    /// The exporters this module uses (holds a reference on).
    var targets: [ModuleRecord] { side.withLock { $0.targets } }

    /// The exporters this module uses, by name.
    var targetNames: [ModuleName] { side.withLock { $0.targets.map(\.name) } }

    /// The drain signal currently armed, if any.
    var drainSignal: Completion<Void>? { side.withLock { $0.drainSignal } }

    /// The record's key in use links: name and generation.
    var key: ModuleKey { ModuleKey(name: name, generation: generation) }

    @inline(__always)
    var state: ModuleState {
        RefCount.state(inWord: refs.word.pointee.load(ordering: .acquiring))
    }

    /// `true` while the module is a member of an all-or-nothing set not yet published: outside
    /// callers get no reference and no call (docs/design.md §16).
    var isProvisional: Bool { refs.rawState & RefCount.provisionalFlag != 0 }

    /// Changes the state of a set member before publication, keeping it provisional. The caller
    /// holds the table lock.
    func setProvisionalState(_ new: ModuleState) {
        refs.setRawState(new.rawValue | RefCount.provisionalFlag)
    }

    /// `true` between the start of an unload and its commit (or refusal).
    var isUnloading: Bool { refs.rawState & RefCount.unloadingFlag != 0 }

    /// `true` if the module's call points are reachable: live, no unload begun.
    @inline(__always)
    var isCallable: Bool { refs.rawState == ModuleState.live.rawValue }

    /// Changes the state (clearing the unloading and provisional flags). The caller holds the
    /// table lock (or the record is already unlinked).
    func setState(_ new: ModuleState) {
        refs.setRawState(new.rawValue)
    }

    // MARK: References

    /// Try-get: succeeds only if the module is coming or live with no unload begun, *and* the
    /// count is not frozen.
    @inlinable @inline(__always)
    func tryAcquire(holder: String?) -> Bool {
        guard refs.tryGet() else { return false }
        if tracksHolders, let holder { noteHolder(holder, count: 1) }
        return true
    }

    /// Takes another reference for a caller that already holds one.
    @inlinable @inline(__always)
    func acquireHeld(holder: String?) {
        refs.getHeld()
        if tracksHolders, let holder { noteHolder(holder, count: 1) }
    }

    /// Counts a holder label in (`+1`) or out (`-1`).
    @usableFromInline
    func noteHolder(_ holder: String, count: Int) {
        side.withLock { s in
            let n = s.holders[holder, default: 0] + count
            s.holders[holder] = n > 0 ? n : nil
        }
    }

    /// Put: drops one reference. When the count reaches zero (only possible while an unload has
    /// removed the base) a waiting drain is woken. Returns `true` if this was the last reference
    /// to an orphaned record: the caller must then free it (release its retain) — after this
    /// returns, and without touching it again.
    @inlinable @inline(__always)
    func release(holder: String?) -> Bool {
        if tracksHolders, let holder { noteHolder(holder, count: -1) }
        switch refs.put() {
        case .held:
            return false
        case .lastOfOrphan:
            return true
        case let other:
            return countReachedZero(other)
        }
    }

    /// The rare outcomes of a put: the count froze (wake a waiting drain), or underflowed (a bug).
    @usableFromInline
    func countReachedZero(_ result: RefCount.PutResult) -> Bool {
        if case .frozen = result {
            side.withLock { $0.drainSignal }?.complete(())
        } else {
            // Undone by the put; counted where tests and operators can see it.
            statistics.referenceUnderflows.add(1, ordering: .relaxed)
            context.logger.critical("reference count of \(name) would go below zero: a release without an acquire")
        }
        return false
    }

    /// Drops a reference held by the host itself (an importer's on its exporter, an init
    /// reference); frees the record if it was the last of an orphan.
    func releaseHostReference() {
        if release(holder: nil) { Unmanaged.passUnretained(self).release() }
    }

    /// At unlink: if references remain, the record becomes theirs to free (see ``RefCount``).
    /// Returns `true` if it did (references outlived the module).
    @discardableResult
    func orphanIfReferenced() -> Bool {
        let retained = Unmanaged.passRetained(self)
        if refs.orphan() { return true }
        retained.release()
        return false
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

/// A module record's identity in the table's use links: its name and generation (during a
/// replace, the old and the new generation of one name are two different exporters).
struct ModuleKey: Hashable, Sendable {
    let name: ModuleName
    let generation: Int

    /// The distinct names of `keys`, sorted (what reports say: a module bound to two generations
    /// of an exporter is one dependent).
    static func names(_ keys: Set<ModuleKey>?) -> [String] {
        Set((keys ?? []).map(\.name.canonical)).sorted()
    }
}
