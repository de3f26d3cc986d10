import Logging
import Synchronization

/// The in-process "kernel": a table of modules and every lifecycle operation on it.
///
/// A host loads modules from definitions (``insert(_:parameters:)``,
/// ``ensureLoaded(_:parameters:)``), hands out counted references (``acquire(_:holder:)``), unloads
/// (``unload(_:mode:)``), and reports what it holds (``modules``, ``listing()``, ``holders(of:)``,
/// ``statistics()``, ``events(bufferingNewest:)``). Several hosts may live in one process; they
/// share nothing.
///
/// Concurrency: every method may be called from any thread or task at any time. Same-name loads
/// merge into one init; distinct modules' inits run in parallel; acquire and release are
/// lock-free; no lock is held across a module's init or exit. Lookups, listings and statistics
/// read a published snapshot inside a read section: writers never block them.
public final class ModuleHost: Sendable {
    /// How this host was configured.
    public let configuration: Configuration

    /// The module table, statistics and running-load records; see ``ModuleTable`` for the rules.
    let table = ModuleTable()
    let eventHub: EventHub
    /// What the host reports through swift-metrics (no-ops without a backend).
    let metrics = HostMetrics()
    /// The cap on concurrent requests.
    let requestSlots: RequestSlots
    private let taintBits = Atomic<UInt32>(0)
    /// Same-file loads in progress and module-file counters (``insert(file:parameters:)``).
    let files = ModuleFileLoads()
    /// This host's number in the process (module images are per host; 0 is no host).
    let serial = ModuleHost.serials.add(1, ordering: .relaxed).newValue
    private static let serials = Atomic<UInt64>(0)

    /// Makes an empty host with the default configuration.
    public convenience init() {
        self.init(validated: Configuration())
    }

    /// Makes an empty host.
    ///
    /// - Throws: `invalidArgument` naming the field, if a configuration value is out of range
    ///   (nothing is made).
    public convenience init(configuration: Configuration) throws(ModuleError) {
        try configuration.validate()
        self.init(validated: configuration)
    }

    private init(validated configuration: Configuration) {
        // The process's quiescence domain is set up with its first host, not in its first read
        // section: registering for expedited memory barriers costs the kernel a grace period of
        // its own (about 10 ms here), which a first request should not wait for.
        _ = Quiescence.usesMembarrier
        self.configuration = configuration
        self.eventHub = EventHub(logger: configuration.logger)
        self.requestSlots = RequestSlots(
            capacity: configuration.maxConcurrentRequests, timeout: configuration.requestSlotTimeout)
    }

    deinit { eventHub.finishStreams() }

    var logger: Logger { configuration.logger }

    // MARK: References

    /// Takes a counted reference on a coming or live module (the kernel's `try_module_get`).
    ///
    /// A reference taken while the module is `coming` keeps it from being unloaded once live, but
    /// cannot keep a failing init from failing: if init throws, the module goes away and the
    /// reference reports `gone` (its memory stays valid; only the module is dead). Take
    /// references after the load returns when that matters.
    ///
    /// - Parameters:
    ///   - name: the module's name (`-` and `_` match).
    ///   - holder: a label saying who holds the reference, reported by ``holders(of:)`` and by
    ///     unload refusals when the host is configured with `tracksReferenceHolders`.
    /// - Throws: `invalidArgument` for a malformed name, `notFound` if no such module is loaded,
    ///   `busy` if it is going (being unloaded, or its init failed) or is a member of an
    ///   all-or-nothing set still being committed.
    ///
    /// During a replace the reference is on whichever generation is current when the try-get
    /// succeeds: never on an old one that a new acquire can no longer reach.
    public func acquire(_ name: String, holder: String? = nil) throws(ModuleError) -> ModuleReference {
        let name = try ModuleName(validating: name)
        while true {
            // Try-get inside the read section: what it finds is valid there, and once the count
            // holds the new reference, the count keeps the record in memory (no ARC traffic).
            // The refusal is made inside the read section, where the record is valid.
            let found: (record: Unmanaged<ModuleRecord>, refusal: ModuleError?, replaced: Bool)? = table.read { snapshot in
                guard let record = snapshot.modules[name] else { return nil }
                return record._withUnsafeGuaranteedRef { r in
                    if r.state == .unformed && !r.isProvisional { return nil }
                    if r.tryAcquire(holder: holder) { return (record, nil, false) }
                    return r.state == .old ? (record, nil, true) : (record, ModuleHandle(record: r).refusal(), false)
                }
            }
            guard let found else {
                throw ModuleError(.notFound, module: name.canonical, reason: "is not loaded")
            }
            // Replaced after this snapshot was loaded — old, or even gone by now: the switch
            // published the new generation before retiring this one, so the next read finds it.
            if found.replaced { continue }
            guard let refusal = found.refusal else { return ModuleReference(unmanaged: found.record, holder: holder) }
            if isSuperseded(found.record, name) { continue }
            throw refusal
        }
    }

    /// Whether the current snapshot has another record for `name` than `record` (one a reader
    /// found in an older snapshot): a replace switched generations meanwhile. Compares addresses
    /// only — `record` may be gone.
    func isSuperseded(_ record: Unmanaged<ModuleRecord>, _ name: ModuleName) -> Bool {
        table.read { snapshot in snapshot.modules[name].map { $0.toOpaque() != record.toOpaque() } ?? false }
    }

    /// A handle on a module: for acquiring it later without a name lookup (``ModuleHandle``).
    ///
    /// - Throws: `invalidArgument` for a malformed name, `notFound` if it is not loaded.
    public func handle(of name: String) throws(ModuleError) -> ModuleHandle {
        let name = try ModuleName(validating: name)
        guard let record = table.read({ $0.modules[name]?.takeUnretainedValue() }), record.state != .unformed else {
            throw ModuleError(.notFound, module: name.canonical, reason: "is not loaded")
        }
        return ModuleHandle(record: record)
    }

    // MARK: Introspection

    /// The state of a module, or `nil` if no module of that name is in the table.
    public func state(of name: String) -> ModuleState? {
        guard let name = try? ModuleName(validating: name) else { return nil }
        return table.read { $0.modules.state(of: name) }
    }

    /// A snapshot of one module, or `nil` if it is not in the table (or still unformed).
    public func info(of name: String) -> ModuleInfo? {
        guard let name = try? ModuleName(validating: name) else { return nil }
        return table.read { snapshot in snapshot.withModule(name) { Self.snapshotInfo(of: $0, in: snapshot) } } ?? nil
    }

    /// Snapshots of every module past `unformed`, sorted by name — old generations included,
    /// each after the current one of its name.
    public var modules: [ModuleInfo] {
        table.read { snapshot in
            // Sorted as records (references) rather than as snapshots (large values to move).
            (snapshot.modules.values.map { $0.takeUnretainedValue() } + snapshot.old.values.map { $0.takeUnretainedValue() })
                .sorted { ($0.name.canonical, -$0.generation) < ($1.name.canonical, -$1.generation) }
                .compactMap { Self.snapshotInfo(of: $0, in: snapshot) }
        }
    }

    /// The module exporting `symbol`, its signature and the exporter's state; `nil` if no formed
    /// module exports it.
    public func symbol(named symbol: String) -> SymbolInfo? {
        table.read { snapshot in
            guard let entry = snapshot.symbols[symbol] else { return nil }
            return snapshot.withModule(entry.exporter) { exporter in
                SymbolInfo(
                    name: symbol, signature: entry.signature, exporter: exporter.name.canonical,
                    exporterState: exporter.state)
            }
        }
    }

    /// The `lsmod`-style listing: `Module Size Used-by State`, one line per module.
    public func listing() -> String {
        ModuleListing.render(modules)
    }

    /// Who holds a module: "why can't I unload it?".
    ///
    /// - Throws: `invalidArgument` for a malformed name, `notFound` if it is not loaded.
    public func holders(of name: String) throws(ModuleError) -> HoldersReport {
        let name = try ModuleName(validating: name)
        guard let record = table.read({ $0.modules[name]?.takeUnretainedValue() }),
            record.state != .unformed
        else {
            throw ModuleError(.notFound, module: name.canonical, reason: "is not loaded")
        }
        return holdersReport(of: record)
    }

    /// Sets the gauges this host reports through swift-metrics from one snapshot of its table:
    /// `modload_live_modules` and `modload_references` (the references held on all modules).
    /// The counters and timers report as things happen; a program exporting metrics calls this
    /// before each export.
    public func reportGauges() {
        let modules = modules
        metrics.sample(live: modules.filter { $0.state == .live }.count, references: modules.reduce(0) { $0 + max($1.refcount, 0) })
    }

    /// Per-name load statistics, keyed by canonical name.
    public func statistics() -> [String: ModuleStatistics] {
        table.read { snapshot in
            Dictionary(uniqueKeysWithValues: snapshot.statistics.map { ($0.key.canonical, $0.value.snapshot) })
        }
    }

    /// Load statistics for one name, or `nil` if the name was never asked for.
    public func statistics(of name: String) -> ModuleStatistics? {
        guard let name = try? ModuleName(validating: name) else { return nil }
        return table.read { $0.statistics[name]?.snapshot }
    }

    /// Why this host can no longer be fully trusted; empty while it can.
    public var taints: TaintFlags { TaintFlags(rawValue: taintBits.load(ordering: .relaxed)) }

    func taint(_ flags: TaintFlags) {
        taintBits.bitwiseOr(flags.rawValue, ordering: .relaxed)
    }

    // MARK: Events

    /// A stream of every lifecycle event from now on. If the subscriber falls behind, the oldest
    /// events beyond `bufferingNewest` are dropped. The stream ends when the host is deallocated.
    public func events(bufferingNewest limit: Int = 4096) -> AsyncStream<ModuleEvent> {
        eventHub.stream(bufferingNewest: limit)
    }

    /// Adds a synchronous observer, called for every event on the thread that made the
    /// transition, with no host lock held. Throwing from a `coming` event *vetoes* the load: it
    /// fails with `permissionDenied` naming this observer, and the module is rolled back
    /// (`going`, `gone`). Throwing on any other event is logged and ignored.
    ///
    /// The module's next transition waits for its observers (that is how events stay in order),
    /// so an observer must not block waiting for a load or unload of the module it is being told
    /// about — that would wait for itself. Hand such work to a task instead.
    @discardableResult
    public func addObserver(
        named name: String, _ observer: @escaping @Sendable (ModuleEvent) throws -> Void
    ) -> ObserverToken {
        eventHub.addObserver(named: name, observer)
    }

    /// Removes an observer. Events already being delivered may still reach it.
    public func removeObserver(_ token: ObserverToken) {
        eventHub.removeObserver(token)
    }

    // MARK: Shared helpers

    static func snapshotInfo(of record: ModuleRecord, in snapshot: ModuleSnapshot) -> ModuleInfo? {
        let reading = record.refs.reading  // state, unloading mark and count: one load
        guard reading.state != .unformed else { return nil }
        let definition = record.definition
        return ModuleInfo(
            name: record.name.canonical, generation: record.generation, version: definition.version,
            description: definition.description, license: definition.license,
            size: definition.size, state: reading.state, isUnloading: reading.isUnloading,
            accounting: record.accounting, refcount: reading.reported,
            usedBy: snapshot.dependents(of: record.key), uses: record.targetNames.map(\.canonical).sorted(),
            parameters: record.parameters, parameterWarnings: record.parameterWarnings, taints: definition.taints,
            file: record.file, loadedAsDependency: record.loadedAsDependency)
    }

    /// Who holds `record`. `references` overrides the count read now (a refusal reports the
    /// count its decision saw).
    func holdersReport(of record: ModuleRecord, references: Int? = nil) -> HoldersReport {
        let reading = record.refs.reading
        return HoldersReport(
            module: record.name.canonical, state: reading.state,
            dependents: table.read { $0.dependents(of: record.key) },
            references: references ?? reading.references, referenceHolders: record.holderLabels)
    }

    /// The logger a module gets: the host's, with the module's name as metadata.
    func moduleLogger(for name: ModuleName) -> Logger {
        var logger = configuration.logger
        logger[metadataKey: "module"] = "\(name.canonical)"
        return logger
    }
}
