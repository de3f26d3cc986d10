#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Modload
import Synchronization

/// `modload bench quiescence`: the read side and the lock-free table (docs/design.md §7, §10).
///
/// - read section: a loop of `Quiescence.read { deref }` against the same loop without the
///   section (liburcu's `lock+deref+unlock` measurement);
/// - synchronize: each call timed, with no busy reader and with one thread looping read sections;
/// - lookup: `host.state(of:)` over 1,000 and 10,000 loaded modules, quiet and while a writer
///   loads and unloads a module in a loop — beside a mutex-guarded and an rwlock-guarded table
///   measured the same way in the same run.
public enum QuiescenceBench {
    /// What to run.
    public struct Options: Sendable {
        /// Fewer repetitions (a smoke run, seconds instead of a minute).
        public var quick: Bool

        public init(quick: Bool = false) {
            self.quick = quick
        }
    }

    /// Everything one run measured. Encodes to `modload bench quiescence --json`.
    public struct Report: Codable, Sendable {
        public var scenario = "quiescence"
        public let machine: Machine
        /// Read section with one dereference inside, ns per iteration (median of repetitions).
        public let readSectionNs: Double
        /// The same loop without the read section, ns per iteration.
        public let readSectionBaselineNs: Double
        /// `true` if readers rely on membarrier (no reader-side fence).
        public let usesMembarrier: Bool
        /// synchronizeBlocking(), µs per call: "busyReaders0", "busyReaders1".
        public let synchronizeUs: [String: Distribution]
        /// async synchronize() (through the reclaimer), µs per call, one busy reader.
        public let synchronizeAsyncUs: Distribution
        /// Modload lookups by module count ("1000", "10000", "100000").
        public let lookupNs: [String: LookupBench.LookupFigures]
        /// Baseline tables by kind ("mutex", "rwlock") then module count.
        public let baselines: [String: [String: LookupBench.LookupFigures]]
        /// The C limits from the same machine, when the script was available.
        public let limits: Limits?
    }

    public static func run(_ options: Options, limits: Limits?) async -> Report {
        let (read, baseline) = measureReadSection(iterations: options.quick ? 5_000_000 : 50_000_000)
        let syncCount = options.quick ? 200 : 2_000
        let idle = measureSynchronize(calls: syncCount, busyReader: false)
        let busy = measureSynchronize(calls: syncCount, busyReader: true)
        let async = await measureAsyncSynchronize(calls: options.quick ? 50 : 500)
        let lookups = await LookupBench.run(quick: options.quick)
        return Report(
            machine: .current, readSectionNs: read, readSectionBaselineNs: baseline,
            usesMembarrier: Quiescence.usesMembarrier,
            synchronizeUs: ["busyReaders0": idle, "busyReaders1": busy], synchronizeAsyncUs: async,
            lookupNs: lookups.lookupNs, baselines: lookups.baselines, limits: limits)
    }

    // MARK: Read section

    final class Cell: Sendable {
        let value: Int
        init(_ value: Int) { self.value = value }
    }

    /// A published pointer, as readers find one (heap-allocated and escaped, so the compiler
    /// must really load it every iteration).
    final class Published: Sendable {
        let pointer = Atomic<Unmanaged<Cell>>(.passRetained(Cell(7)))
        deinit { pointer.load(ordering: .relaxed).release() }
    }

    static func measureReadSection(iterations: Int) -> (section: Double, baseline: Double) {
        let published = Published()
        blackHole(published)
        var sections: [Double] = []
        var baselines: [Double] = []
        Quiescence.read {}  // register this thread outside the timed loops
        for _ in 0..<5 {
            var sum = 0
            var start = nowNanoseconds()
            for _ in 0..<iterations {
                sum &+= published.pointer.load(ordering: .acquiring)._withUnsafeGuaranteedRef { $0.value }
            }
            baselines.append(Double(nowNanoseconds() - start) / Double(iterations))
            start = nowNanoseconds()
            for _ in 0..<iterations {
                sum &+= Quiescence.read { published.pointer.load(ordering: .acquiring)._withUnsafeGuaranteedRef { $0.value } }
            }
            sections.append(Double(nowNanoseconds() - start) / Double(iterations))
            blackHole(sum)
        }
        return (Distribution(sections).median, Distribution(baselines).median)
    }

    // MARK: Synchronize

    static func measureSynchronize(calls: Int, busyReader: Bool) -> Distribution {
        let stop = StopFlag()
        let reader = busyReader ? startBusyReader(stop: stop) : nil
        var samples: [Double] = []
        samples.reserveCapacity(calls)
        for _ in 0..<calls {
            let start = nowNanoseconds()
            Quiescence.synchronizeBlocking()
            samples.append(Double(nowNanoseconds() - start) / 1_000)
        }
        stop.raise()
        reader?.join()
        return Distribution(samples)
    }

    static func measureAsyncSynchronize(calls: Int) async -> Distribution {
        let stop = StopFlag()
        let reader = startBusyReader(stop: stop)
        var samples: [Double] = []
        for _ in 0..<calls {
            let start = nowNanoseconds()
            await Quiescence.synchronize()
            samples.append(Double(nowNanoseconds() - start) / 1_000)
        }
        stop.raise()
        reader.join()
        return Distribution(samples)
    }

    /// A thread that loops short read sections until `stop`; returns once it is looping (a
    /// grace period measured before that would have no reader to wait for).
    private static func startBusyReader(stop: StopFlag) -> BenchThread {
        let looping = StopFlag()
        let thread = BenchThread {
            let cell = Cell(1)
            var sum = 0
            while !stop.isRaised {
                for _ in 0..<1_000 { sum &+= Quiescence.read { cell.value } }
                looping.raise()
            }
            blackHole(sum)
        }
        while !looping.isRaised { sched_yield() }
        return thread
    }

}

/// A flag one thread raises to stop another's loop.
final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

/// Busy-waits about `nanoseconds`.
func spinFor(nanoseconds: UInt64) {
    let end = nowNanoseconds() + nanoseconds
    while nowNanoseconds() < end {}
}

extension QuiescenceBench {
    /// The report as a readable table, with targets (docs/design.md §10) and the C limits beside.
    public static func render(_ r: Report) -> String {
        func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        func dist(_ d: Distribution, _ unit: String) -> String { "median \(f(d.median)) \(unit), p99 \(f(d.p99)) \(unit)" }
        var lines = [
            "quiescence — \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date); membarrier: \(r.usesMembarrier ? "yes" : "no (readers fence)")",
            "",
            "read section (lock+deref+unlock)   \(f(r.readSectionNs)) ns   (loop without it: \(f(r.readSectionBaselineNs)) ns)   target ≤ 2 ns"
                + (r.limits?.rcuReadNs.map { "   liburcu: \(f($0)) ns" } ?? ""),
            "synchronize, no busy reader        \(dist(r.synchronizeUs["busyReaders0"]!, "µs"))",
            "synchronize, 1 busy reader         \(dist(r.synchronizeUs["busyReaders1"]!, "µs"))   target ≤ 50 µs"
                + (r.limits?.rcuSynchronizeUs.map { "   liburcu: \(f($0)) µs" } ?? ""),
            "synchronize (async), 1 busy reader \(dist(r.synchronizeAsyncUs, "µs"))",
            "",
        ]
        lines += LookupBench.table(r.lookupNs, baselines: r.baselines)
        lines += LookupBench.summary(r.lookupNs, baselines: r.baselines)
        if r.limits == nil { lines.append("\n(no C limits: --limits none)") }
        return lines.joined(separator: "\n")
    }
}
