import CoreMetrics
import Synchronization

/// What a host reports through swift-metrics. The library bootstraps no backend: without one
/// every report is a no-op; a program that wants them (the daemon: Prometheus) bootstraps
/// `MetricsSystem` before creating the host, since the handles are made once, in the host's init.
///
/// | metric | kind | when |
/// |---|---|---|
/// | `modload_loads_total` | counter | a load's init succeeded (the module went live) |
/// | `modload_merged_joiners_total` | counter | a caller joined a running load of the same name |
/// | `modload_load_failures_total{code}` | counter | a load failed, by ``ModuleError/Code`` name |
/// | `modload_unloads_total` | counter | an unload committed |
/// | `modload_init_duration_seconds` | timer | each init call, success or not |
/// | `modload_unload_duration_seconds` | timer | each committed unload, decision to gone |
/// | `modload_live_modules` | gauge | at each live and gone, and in ``ModuleHost/reportGauges()`` |
/// | `modload_references` | gauge | in ``ModuleHost/reportGauges()``: references held on all modules |
///
/// Two hosts in one process report into the same metrics.
final class HostMetrics: Sendable {
    let loads: Counter
    let mergedJoiners: Counter
    let unloads: Counter
    let initDuration: CoreMetrics.Timer
    let unloadDuration: CoreMetrics.Timer
    let liveModules: Gauge
    let references: Gauge
    /// Live modules, counted at the transitions (the gauge's value between samples).
    private let live = Atomic<Int>(0)

    init() {
        loads = Counter(label: "modload_loads_total")
        mergedJoiners = Counter(label: "modload_merged_joiners_total")
        unloads = Counter(label: "modload_unloads_total")
        initDuration = CoreMetrics.Timer(label: "modload_init_duration_seconds", preferredDisplayUnit: .seconds)
        unloadDuration = CoreMetrics.Timer(label: "modload_unload_duration_seconds", preferredDisplayUnit: .seconds)
        liveModules = Gauge(label: "modload_live_modules")
        references = Gauge(label: "modload_references")
    }

    /// A failed load, counted by its code.
    func failed(_ code: ModuleError.Code) {
        Counter(label: "modload_load_failures_total", dimensions: [("code", code.name)]).increment()
    }

    /// A module went live (`+1`) or is gone (`-1`).
    func moduleLive(_ delta: Int) {
        liveModules.record(live.add(delta, ordering: .relaxed).newValue)
    }

    /// The gauges from a snapshot of the table.
    func sample(live count: Int, references held: Int) {
        liveModules.record(count)
        references.record(held)
    }
}

extension Duration {
    /// In nanoseconds (for a metrics timer).
    var nanosecondCount: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
