import Synchronization

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
    /// Releases of a reference nobody held (a bug in a holder; each was undone and logged as
    /// critical). Zero in a correct program.
    public var referenceUnderflows = 0

    /// All counters zero.
    public init() {}
}

/// The live counters behind ``ModuleStatistics`` for one name. Published in the table snapshot,
/// so readers take no lock; writers bump atomics. Only the failures map, written once per failed
/// load, has a lock of its own (innermost, never held while calling out).
final class NameStatistics: Sendable {
    let attempts = Atomic<Int>(0)
    let mergedJoiners = Atomic<Int>(0)
    let cachedFailures = Atomic<Int>(0)
    let initCalls = Atomic<Int>(0)
    let loads = Atomic<Int>(0)
    let unloads = Atomic<Int>(0)
    let referenceUnderflows = Atomic<Int>(0)
    private let initNanoseconds = Atomic<Int64>(0)
    private let failures = Locked([String: Int]())

    func recordInit(took elapsed: Duration) {
        initCalls.add(1, ordering: .relaxed)
        let (seconds, attoseconds) = elapsed.components
        initNanoseconds.add(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
    }

    func recordFailure(_ code: ModuleError.Code) {
        failures.withLock { $0[code.name, default: 0] += 1 }
    }

    /// A consistent-enough copy: each counter is read once (they may advance independently).
    var snapshot: ModuleStatistics {
        var s = ModuleStatistics()
        s.attempts = attempts.load(ordering: .relaxed)
        s.mergedJoiners = mergedJoiners.load(ordering: .relaxed)
        s.cachedFailures = cachedFailures.load(ordering: .relaxed)
        s.initCalls = initCalls.load(ordering: .relaxed)
        s.loads = loads.load(ordering: .relaxed)
        s.unloads = unloads.load(ordering: .relaxed)
        s.failures = failures.withLock { $0 }
        s.initTime = .nanoseconds(initNanoseconds.load(ordering: .relaxed))
        s.referenceUnderflows = referenceUnderflows.load(ordering: .relaxed)
        return s
    }
}
