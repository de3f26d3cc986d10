import HashTreeCollections
import Synchronization

/// The host's table of modules (the kernel's `modules` list), its per-name statistics, and the
/// bookkeeping of loads in progress (the merge thread's `running_loads`).
///
/// **Readers never wait.** Modules and statistics live in an immutable ``ModuleSnapshot``
/// published through one atomic pointer. A reader enters a read section (``Quiescence``), loads
/// the pointer and looks things up — no lock, no reference counting: records are stored
/// unmanaged, and what a reader finds stays valid until its section ends.
///
/// **Writers** hold the table lock ([T] in docs/design.md §4) and edit ``Writer``. If the edit changed
/// modules or statistics, a new snapshot (persistent hash trees: only the changed path is copied)
/// is published before the lock is released, and the old snapshot — plus any record removed —
/// is released after a grace period, when no reader can still see it.
///
/// Lock rules: the table lock is held only to look up and edit the writer state and to change a
/// record's state, for a few hundred nanoseconds; never across init, exit, observers, or any
/// wait, and never while calling user code — a log handler included (docs/design.md §1, faster
/// boot). Taken inside it, each innermost (it takes no other lock and calls out to nothing): a
/// record's side lock; the request slots' lock (`leaveQueue`, when the last caller of a queued
/// load stops waiting); a ``Completion``'s lock (a put that wakes a drain, during an unlink); the
/// ``Reclaimer``'s queue (a write retiring a snapshot).
final class ModuleTable: Sendable {
    /// What writers edit under the table lock.
    struct Writer {
        /// Every module that is unformed, coming, live or going, by canonical name; each entry
        /// owns one retain of its record. A name is here from the moment a load wins it until
        /// the module is gone.
        fileprivate(set) var modules: TreeDictionary<ModuleName, Unmanaged<ModuleRecord>>
        /// Statistics of every name ever asked for.
        fileprivate(set) var statistics: TreeDictionary<ModuleName, NameStatistics>
        /// Exported symbols of every formed module, by symbol name.
        fileprivate(set) var symbols: TreeDictionary<String, SymbolEntry> = [:]
        /// Use links: exporter → the modules using it (its dependents).
        fileprivate(set) var dependents: TreeDictionary<ModuleName, Set<ModuleName>> = [:]
        /// Set when `modules` or `statistics` changed: publish a new snapshot.
        fileprivate var changed = false
        /// Records removed by this edit, released after a grace period.
        fileprivate var removed: [Unmanaged<ModuleRecord>] = []

        /// Loads in progress, by canonical name: where a same-name load finds the load to join.
        /// A name is here from the moment a load wins it until that load's outcome is delivered.
        var running: [ModuleName: RunningLoad] = [:]
        /// Which loads wait for which (dependency cycles are refused here).
        var waits = WaitGraph()
        /// Recent failures remembered by the negative cache (empty unless it is configured).
        /// Expired entries are dropped when the name is looked up or another failure is recorded.
        var recentFailures: [ModuleName: (error: ModuleError, until: ContinuousClock.Instant)] = [:]

        func module(_ name: ModuleName) -> ModuleRecord? {
            modules[name]?.takeUnretainedValue()
        }

        mutating func insert(_ record: ModuleRecord) {
            modules[record.name] = .passRetained(record)
            changed = true
        }

        mutating func remove(_ name: ModuleName) {
            guard let record = modules.removeValue(forKey: name) else { return }
            removed.append(record)
            changed = true
        }

        /// Publishes `record`'s exports, or returns the first one another module already exports
        /// (with its owner) and publishes nothing.
        mutating func publishExports(of record: ModuleRecord) -> (symbol: String, owner: ModuleName)? {
            let exports = record.definition.exports
            var seen = Set<String>()
            for export in exports {
                if let owner = symbols[export.name]?.exporter { return (export.name, owner) }
                if !seen.insert(export.name).inserted { return (export.name, record.name) }
            }
            for export in exports {
                symbols[export.name] = SymbolEntry(exporter: record.name, signature: export.signature, value: export.value)
            }
            if !exports.isEmpty { changed = true }
            return nil
        }

        /// Withdraws `record`'s exports (those it owns).
        mutating func withdrawExports(of record: ModuleRecord) {
            for export in record.definition.exports where symbols[export.name]?.exporter == record.name {
                symbols[export.name] = nil
                changed = true
            }
        }

        /// Records that `importer` uses `exporter`.
        mutating func link(_ importer: ModuleName, uses exporter: ModuleName) {
            dependents[exporter, default: []].insert(importer)
            changed = true
        }

        /// Removes every use link from `importer`.
        mutating func unlink(_ importer: ModuleName, from exporters: [ModuleName]) {
            for exporter in exporters {
                dependents[exporter]?.remove(importer)
                if dependents[exporter]?.isEmpty == true { dependents[exporter] = nil }
                changed = true
            }
        }

        /// The statistics of a name, created (and published) on first use.
        mutating func statistics(for name: ModuleName) -> NameStatistics {
            if let existing = statistics[name] { return existing }
            let created = NameStatistics()
            statistics[name] = created
            changed = true
            return created
        }
    }

    private let writer: Locked<Writer>
    private let current: Atomic<Unmanaged<ModuleSnapshot>>

    init() {
        let empty = ModuleSnapshot(modules: [:], statistics: [:], symbols: [:], dependents: [:])
        writer = Locked(Writer(modules: [:], statistics: [:]))
        current = Atomic(.passRetained(empty))
    }

    deinit {
        // No reader can be using this table (nobody holds it); release at once.
        let snapshot = current.load(ordering: .acquiring)
        for record in snapshot.takeUnretainedValue().modules.values { record.release() }
        snapshot.release()
    }

    /// Runs `body` on the current snapshot inside a read section. Whatever `body` finds is valid
    /// until it returns; to keep a record beyond that, take a strong reference inside `body`.
    @inline(__always)
    func read<Value, Failure: Error>(_ body: (ModuleSnapshot) throws(Failure) -> Value) throws(Failure) -> Value {
        try Quiescence.read { () throws(Failure) -> Value in
            // `_withUnsafeGuaranteedRef` rethrows untyped; carry the typed error through a Result.
            let outcome: Result<Value, Failure> = current.load(ordering: .acquiring)._withUnsafeGuaranteedRef { snapshot in
                do throws(Failure) { return .success(try body(snapshot)) } catch { return .failure(error) }
            }
            return try outcome.get()
        }
    }

    /// Runs `body` with the table lock held; publishes a new snapshot if it changed modules or
    /// statistics, and retires the old snapshot and removed records after a grace period.
    func write<Value, Failure: Error>(_ body: (inout Writer) throws(Failure) -> Value) throws(Failure) -> Value {
        try writer.withLock { (w: inout Writer) throws(Failure) -> Value in
            defer {
                if w.changed {
                    let next = Unmanaged.passRetained(
                        ModuleSnapshot(
                            modules: w.modules, statistics: w.statistics, symbols: w.symbols, dependents: w.dependents))
                    let old = current.exchange(next, ordering: .acquiringAndReleasing)
                    let removed = w.removed
                    w.changed = false
                    w.removed = []
                    Quiescence.afterGracePeriod {
                        old.release()
                        for record in removed { record.release() }
                    }
                }
            }
            return try body(&w)
        }
    }
}

/// One published version of the table. Immutable; shared by every reader that loaded it.
final class ModuleSnapshot: Sendable {
    /// Modules by canonical name (unmanaged: the table owns one retain of each while listed, and
    /// releases it only after a grace period once removed).
    let modules: TreeDictionary<ModuleName, Unmanaged<ModuleRecord>>
    /// Per-name statistics.
    let statistics: TreeDictionary<ModuleName, NameStatistics>
    /// Exported symbols by name.
    let symbols: TreeDictionary<String, SymbolEntry>
    /// Use links: exporter → its dependents.
    let dependents: TreeDictionary<ModuleName, Set<ModuleName>>

    init(
        modules: TreeDictionary<ModuleName, Unmanaged<ModuleRecord>>,
        statistics: TreeDictionary<ModuleName, NameStatistics>,
        symbols: TreeDictionary<String, SymbolEntry>,
        dependents: TreeDictionary<ModuleName, Set<ModuleName>>
    ) {
        self.modules = modules
        self.statistics = statistics
        self.symbols = symbols
        self.dependents = dependents
    }

    /// The modules that use `name`, sorted.
    func dependents(of name: ModuleName) -> [String] {
        (dependents[name] ?? []).map(\.canonical).sorted()
    }

    /// The record of a module, valid for the enclosing read section.
    @inline(__always)
    func withModule<Value>(_ name: ModuleName, _ body: (ModuleRecord) -> Value) -> Value? {
        modules[name]?._withUnsafeGuaranteedRef(body)
    }
}
