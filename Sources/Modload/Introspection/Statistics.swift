/// Load and unload counters for one module name (the kernel's `kernel/module/stats.c`).
///
/// Counters survive the module: they describe every attempt ever made for the name on this host.
public struct ModuleStatistics: Sendable, Equatable {
    /// Calls to insert or ensure-loaded for this name that passed validation.
    public var attempts = 0
    /// Of those, callers merged into a load already running (they ran no init).
    public var mergedJoiners = 0
    /// Of those, callers answered from the negative cache with a recent failure (no init).
    public var cachedFailures = 0
    /// Loads that reached init (one per winning caller).
    public var initCalls = 0
    /// Loads that ended live.
    public var loads = 0
    /// Unloads that completed.
    public var unloads = 0
    /// Failed loads by error code name (`"initFailed"`, `"permissionDenied"`, …), counted once per
    /// load, not per merged caller.
    public var failures: [String: Int] = [:]
    /// Total time spent in this module's init across all loads.
    public var initTime: Duration = .zero

    /// All counters zero.
    public init() {}
}

/// Per-name statistics of one host. Lock rule: innermost, never held while calling out.
final class StatisticsTable: Sendable {
    private let table = Locked([String: ModuleStatistics]())

    func update(_ name: ModuleName, _ body: (inout ModuleStatistics) -> Void) {
        table.withLock { t in body(&t[name.canonical, default: ModuleStatistics()]) }
    }

    func snapshot() -> [String: ModuleStatistics] { table.withLock { $0 } }

    func snapshot(for name: String) -> ModuleStatistics? { table.withLock { $0[name] } }
}
