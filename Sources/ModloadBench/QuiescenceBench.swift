#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Modload
import Synchronization

/// `modload bench quiescence`: the read side and the lock-free table (DESIGN §7, §10).
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
        /// `../shared/limits/run` or another path; figures are added when it runs.
        public var limitsScript: String?

        public init(quick: Bool = false, limitsScript: String? = nil) {
            self.quick = quick
            self.limitsScript = limitsScript
        }
    }

    /// Lookup cost per operation, quiet and under writer churn (ns; batches of 64 lookups).
    public struct LookupFigures: Codable, Sendable {
        public let quiet: LookupRun
        public let churn: LookupRun
    }

    /// One series of lookup batches.
    public struct LookupRun: Codable, Sendable {
        /// Every batch.
        public let all: Distribution
        /// Batches during which the reader thread was not preempted (no involuntary context
        /// switch): what the read path itself costs. Waiting on a lock is a *voluntary* switch,
        /// so lock waits stay in here.
        public let unpreempted: Distribution
        /// Batches left out of `unpreempted`.
        public let preemptedBatches: Int
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
        /// Modload lookups by module count ("1000", "10000").
        public let lookupNs: [String: LookupFigures]
        /// Baseline tables by kind ("mutex", "rwlock") then module count.
        public let baselines: [String: [String: LookupFigures]]
        /// The C limits from the same machine, when the script was available.
        public let limits: Limits?
    }

    public static func run(_ options: Options) async -> Report {
        let limits = options.limitsScript.flatMap(Limits.measure(script:))
        let (read, baseline) = measureReadSection(iterations: options.quick ? 5_000_000 : 50_000_000)
        let syncCount = options.quick ? 200 : 2_000
        let idle = measureSynchronize(calls: syncCount, busyReader: false)
        let busy = measureSynchronize(calls: syncCount, busyReader: true)
        let async = await measureAsyncSynchronize(calls: options.quick ? 50 : 500)
        var lookups: [String: LookupFigures] = [:]
        var baselines: [String: [String: LookupFigures]] = ["mutex": [:], "rwlock": [:]]
        let batches = options.quick ? 2_000 : 20_000
        for count in [1_000, 10_000] {
            let names = (0..<count).map { "module_\($0)" }
            lookups["\(count)"] = await measureModloadLookups(names: names, batches: batches)
            for table in [MutexTable(names: names) as any BaselineTable, RWLockTable(names: names)] {
                baselines[table.label]?["\(count)"] = measureBaselineLookups(table, names: names, batches: batches)
            }
        }
        return Report(
            machine: .current, readSectionNs: read, readSectionBaselineNs: baseline,
            usesMembarrier: Quiescence.usesMembarrier,
            synchronizeUs: ["busyReaders0": idle, "busyReaders1": busy], synchronizeAsyncUs: async,
            lookupNs: lookups, baselines: baselines, limits: limits)
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

    /// A thread that loops short read sections until `stop`.
    private static func startBusyReader(stop: StopFlag) -> BenchThread {
        BenchThread {
            let cell = Cell(1)
            var sum = 0
            while !stop.isRaised {
                for _ in 0..<1_000 { sum &+= Quiescence.read { cell.value } }
            }
            blackHole(sum)
        }
    }

    // MARK: Lookups

    static func measureModloadLookups(names: [String], batches: Int) async -> LookupFigures {
        let host = ModuleHost()
        for name in names { try? await host.insert(BuiltinModule(name: name)) }
        let quiet = lookupBatches(names: names, batches: batches) { host.state(of: $0) != nil }
        // Churn: a writer loads and unloads one module in a loop while the reader measures.
        let stop = StopFlag()
        let churn = Task.detached {
            let module = BuiltinModule(name: "churn")
            while !stop.isRaised {
                try? await host.insert(module)
                _ = try? await host.unload("churn")
            }
        }
        let busy = lookupBatches(names: names, batches: batches) { host.state(of: $0) != nil }
        stop.raise()
        await churn.value
        return LookupFigures(quiet: quiet, churn: busy)
    }

    static func measureBaselineLookups(_ table: any BaselineTable, names: [String], batches: Int) -> LookupFigures {
        let quiet = lookupBatches(names: names, batches: batches) { table.lookup($0) != nil }
        // Churn: a writer inserts and removes an entry with ~10 µs between edits — about
        // Modload's load+unload rate.
        let stop = StopFlag()
        let writer = BenchThread {
            while !stop.isRaised {
                table.insert("churn")
                spinFor(nanoseconds: 10_000)
                table.remove("churn")
                spinFor(nanoseconds: 10_000)
            }
        }
        let busy = lookupBatches(names: names, batches: batches) { table.lookup($0) != nil }
        stop.raise()
        writer.join()
        return LookupFigures(quiet: quiet, churn: busy)
    }

    /// Times `batches` batches of 64 lookups over shuffled names, on a fresh thread; ns per lookup.
    private static func lookupBatches(
        names: [String], batches: Int, _ lookup: @escaping @Sendable (String) -> Bool
    ) -> LookupRun {
        let order = names.shuffled()
        let result = ResultBox()
        let thread = BenchThread {
            var all: [Double] = []
            var unpreempted: [Double] = []
            all.reserveCapacity(batches)
            unpreempted.reserveCapacity(batches)
            var found = 0
            // Warm-up: one untimed pass over every name, so no series starts with cold caches.
            for name in order where lookup(name) { found += 1 }
            var index = 0
            let count = order.count
            for _ in 0..<batches {
                let switchesBefore = involuntaryContextSwitches()
                let start = nowNanoseconds()
                for _ in 0..<64 {
                    if lookup(order[index]) { found += 1 }
                    index += 1
                    if index == count { index = 0 }
                }
                let perLookup = Double(nowNanoseconds() - start) / 64
                all.append(perLookup)
                if involuntaryContextSwitches() == switchesBefore { unpreempted.append(perLookup) }
            }
            blackHole(found)
            result.set(
                LookupRun(
                    all: Distribution(all), unpreempted: Distribution(unpreempted),
                    preemptedBatches: all.count - unpreempted.count))
        }
        thread.join()
        return result.value!
    }

    /// The calling thread's involuntary context switches so far.
    private static func involuntaryContextSwitches() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD (Linux), hidden without _GNU_SOURCE
        return usage.ru_nivcsw
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

/// Hands a result from a benchmark thread back after `join()` (join orders the accesses).
final class ResultBox: @unchecked Sendable {
    var value: QuiescenceBench.LookupRun?
    func set(_ value: QuiescenceBench.LookupRun) { self.value = value }
}

extension QuiescenceBench {
    /// The report as a readable table, with targets (DESIGN §10) and the C limits beside.
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
            "lookup, ns per lookup (batches of 64; p99 over all batches, and [over batches the reader",
            "was not preempted in])      quiet: median / p99 [p99]          churn: median / p99 [p99]",
        ]
        for count in ["1000", "10000"] {
            let rows: [(String, LookupFigures?)] = [
                ("modload", r.lookupNs[count]), ("mutex table", r.baselines["mutex"]?[count]),
                ("rwlock table", r.baselines["rwlock"]?[count]),
            ]
            for (label, figures) in rows {
                guard let figures else { continue }
                let name = "\(label) × \(count)".padding(toLength: 36, withPad: " ", startingAt: 0)
                func run(_ r: LookupRun) -> String {
                    "\(f(r.all.median)) / \(f(r.all.p99)) [\(f(r.unpreempted.p99))]"
                }
                lines.append(
                    "  \(name)\(run(figures.quiet))".padding(toLength: 66, withPad: " ", startingAt: 0)
                        + run(figures.churn))
            }
        }
        if let small = r.lookupNs["1000"]?.quiet.all.median, let large = r.lookupNs["10000"]?.quiet.all.median {
            lines.append("  10,000 vs 1,000 modules: \(f(large / small))× (target ≤ 1.3×); 1,000-module target ≤ 60 ns")
        }
        if r.limits == nil { lines.append("\n(no C limits: ../shared/limits/run not found or failed)") }
        return lines.joined(separator: "\n")
    }
}
