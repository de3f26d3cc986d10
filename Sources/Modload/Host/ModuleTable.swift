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
/// modules or statistics, a new snapshot (persistent maps: only the changed path is copied; the
/// modules by name in a ``ModuleIndex``, the rest in hash tries) is published before the lock is released, and the old snapshot — plus any record removed —
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
        fileprivate(set) var modules = ModuleIndex()
        /// Statistics of every name ever asked for.
        fileprivate(set) var statistics: TreeDictionary<ModuleName, NameStatistics>
        /// Old generations (``ModuleState/old``): replaced and still referenced or draining (a
        /// replace allows one per name), or set members whose rollback was refused. Each entry
        /// owns one retain of its record, as in `modules`.
        fileprivate(set) var old: TreeDictionary<ModuleKey, Unmanaged<ModuleRecord>> = [:]
        /// Exported symbols of every formed module, by symbol name (an old generation's exports
        /// are replaced by the new one's at the switch).
        fileprivate(set) var symbols: TreeDictionary<String, SymbolEntry> = [:]
        /// Use links: exporter → the modules using it (its dependents), by name and generation.
        fileprivate(set) var dependents: TreeDictionary<ModuleKey, Set<ModuleKey>> = [:]
        /// The last generation given to each name (``ModuleRecord/generation``).
        var generations: [ModuleName: Int] = [:]
        /// Names being replaced: a replace is preparing a new generation while the current one
        /// serves (unloads and other replaces of the name are refused).
        var replacing: Set<ModuleName> = []
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
            modules.insert(.passRetained(record))
            changed = true
        }

        /// The generation a new record of `name` gets (one more than the last).
        mutating func nextGeneration(of name: ModuleName) -> Int {
            let next = (generations[name] ?? 0) + 1
            generations[name] = next
            return next
        }

        /// Removes `record` — the current or the old generation of its name.
        mutating func remove(_ record: ModuleRecord) {
            let name = record.name
            let entry: Unmanaged<ModuleRecord>?
            if modules[name]?.takeUnretainedValue() === record {
                entry = modules.remove(name)
            } else if old[record.key]?.takeUnretainedValue() === record {
                entry = old.removeValue(forKey: record.key)
            } else {
                entry = nil
            }
            guard let entry else { return }
            removed.append(entry)
            changed = true
        }

        /// The switch of a replace: `next` becomes the current record of its name and the
        /// current one becomes old. Exports are switched by ``switchExports(from:to:)``.
        mutating func makeCurrent(_ next: ModuleRecord) {
            if let current = modules[next.name] { old[current.takeUnretainedValue().key] = current }
            modules.insert(.passRetained(next))
            changed = true
        }

        /// Moves the current record of its name to the old generations (a set member whose
        /// rollback was refused): the name is free, the record stays until the host ends.
        mutating func makeOld(_ record: ModuleRecord) {
            guard let entry = modules[record.name], entry.takeUnretainedValue() === record else { return }
            modules.remove(record.name)
            old[record.key] = entry
            changed = true
        }

        /// The old generation of `name` left by a replace, if one is still there.
        func oldGeneration(_ name: ModuleName) -> ModuleRecord? {
            old.values.lazy.map { $0.takeUnretainedValue() }.first { $0.name == name && !$0.isProvisional }
        }

        /// The first of `record`'s exports that a module other than `except` exports, with its
        /// owner, or a symbol it exports twice; `nil` if it may publish them all.
        func conflictingExport(of record: ModuleRecord, except: ModuleName? = nil) -> (symbol: String, owner: ModuleName)? {
            var seen = Set<String>()
            for export in record.definition.exports {
                if let owner = symbols[export.name]?.exporter, owner != except { return (export.name, owner) }
                if !seen.insert(export.name).inserted { return (export.name, record.name) }
            }
            return nil
        }

        /// Replaces `previous`'s exports with `next`'s (a replace's switch): the caller checked
        /// ``conflictingExport(of:except:)`` for `next`.
        mutating func switchExports(from previous: ModuleRecord, to next: ModuleRecord) {
            withdrawExports(of: previous)
            for export in next.definition.exports {
                symbols[export.name] = SymbolEntry(
                    exporter: next.name, generation: next.generation, signature: export.signature, value: export.value)
            }
            changed = true
        }

        /// Publishes `record`'s exports, or returns the first one another module already exports
        /// (with its owner) and publishes nothing.
        mutating func publishExports(of record: ModuleRecord) -> (symbol: String, owner: ModuleName)? {
            if let conflict = conflictingExport(of: record) { return conflict }
            let exports = record.definition.exports
            for export in exports {
                symbols[export.name] = SymbolEntry(
                    exporter: record.name, generation: record.generation, signature: export.signature, value: export.value)
            }
            if !exports.isEmpty { changed = true }
            return nil
        }

        /// Withdraws `record`'s exports (those this generation owns).
        mutating func withdrawExports(of record: ModuleRecord) {
            for export in record.definition.exports {
                guard let entry = symbols[export.name], entry.exporter == record.name, entry.generation == record.generation
                else { continue }
                symbols[export.name] = nil
                changed = true
            }
        }

        /// Records that `importer` uses `exporter`.
        mutating func link(_ importer: ModuleKey, uses exporter: ModuleKey) {
            dependents[exporter, default: []].insert(importer)
            changed = true
        }

        /// Removes every use link from `importer`.
        mutating func unlink(_ importer: ModuleKey, from exporters: [ModuleKey]) {
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
        let empty = ModuleSnapshot(modules: ModuleIndex(), old: [:], statistics: [:], symbols: [:], dependents: [:])
        writer = Locked(Writer(statistics: [:]))
        current = Atomic(.passRetained(empty))
    }

    deinit {
        // No reader can be using this table (nobody holds it); release at once.
        let snapshot = current.load(ordering: .acquiring)
        for record in snapshot.takeUnretainedValue().modules.values { record.release() }
        for record in snapshot.takeUnretainedValue().old.values { record.release() }
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
                            modules: w.modules, old: w.old, statistics: w.statistics, symbols: w.symbols,
                            dependents: w.dependents))
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
    let modules: ModuleIndex
    /// Old generations by name and generation (owned like `modules`).
    let old: TreeDictionary<ModuleKey, Unmanaged<ModuleRecord>>
    /// Per-name statistics.
    let statistics: TreeDictionary<ModuleName, NameStatistics>
    /// Exported symbols by name.
    let symbols: TreeDictionary<String, SymbolEntry>
    /// Use links: exporter → its dependents.
    let dependents: TreeDictionary<ModuleKey, Set<ModuleKey>>

    init(
        modules: ModuleIndex,
        old: TreeDictionary<ModuleKey, Unmanaged<ModuleRecord>>,
        statistics: TreeDictionary<ModuleName, NameStatistics>,
        symbols: TreeDictionary<String, SymbolEntry>,
        dependents: TreeDictionary<ModuleKey, Set<ModuleKey>>
    ) {
        self.modules = modules
        self.old = old
        self.statistics = statistics
        self.symbols = symbols
        self.dependents = dependents
    }

    /// The names of the modules that use `key`, sorted.
    func dependents(of key: ModuleKey) -> [String] {
        ModuleKey.names(dependents[key])
    }

    /// The record of a module, valid for the enclosing read section.
    @inline(__always)
    func withModule<Value>(_ name: ModuleName, _ body: (ModuleRecord) -> Value) -> Value? {
        modules[name]?._withUnsafeGuaranteedRef(body)
    }
}
