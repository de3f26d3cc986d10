#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Modload
import Synchronization

/// `modload bench lookup`: `host.state(of:)` over 1,000, 10,000 and 100,000 loaded modules, quiet
/// and while a writer loads and unloads a module in a loop — beside a mutex-guarded and an
/// rwlock-guarded table measured the same way in the same run (docs/design.md §10). Also part of
/// `bench quiescence`.
///
/// The contenders take turns: each round measures every table at every size, quiet then under
/// churn, and the figures pool the rounds — so a slow stretch of a shared machine lands on all of
/// them, not on whichever happened to run then.
public enum LookupBench {
    /// The module counts measured.
    public static let sizes = [1_000, 10_000, 100_000]

    /// Lookup cost per operation, quiet and under writer churn (ns; batches of 64 lookups).
    public struct LookupFigures: Codable, Sendable {
        public let quiet: LookupRun
        public let churn: LookupRun
        /// What the churning writer paid: µs per edit cycle (Modload: one load + unload of a
        /// module; the locked tables: an insert and a remove with 10 µs of work after each).
        public let writerCycleUs: Double
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

    public struct Report: Codable, Sendable {
        public var scenario = "lookup"
        public let machine: Machine
        public let lookupNs: [String: LookupFigures]
        public let baselines: [String: [String: LookupFigures]]
    }

    /// Batches of one series, pooled across rounds, and the writer's cycles meanwhile.
    struct Samples {
        var all: [Double] = []
        var unpreempted: [Double] = []
        var cycles = 0
        var seconds = 0.0

        mutating func add(_ other: Samples) {
            all += other.all
            unpreempted += other.unpreempted
            cycles += other.cycles
            seconds += other.seconds
        }

        var run: LookupRun {
            LookupRun(all: Distribution(all), unpreempted: Distribution(unpreempted), preemptedBatches: all.count - unpreempted.count)
        }
    }

    /// One table at one size: how to look a name up, and a writer to churn it.
    struct Contender {
        let label: String
        let names: [String]
        let lookup: @Sendable (String) -> Bool
        /// Starts the writer; the returned function stops it and says how many cycles it made.
        let churn: @Sendable () -> @Sendable () async -> Int
        var quiet = Samples()
        var busy = Samples()

        var figures: LookupFigures {
            LookupFigures(quiet: quiet.run, churn: busy.run, writerCycleUs: busy.seconds * 1e6 / Double(max(busy.cycles, 1)))
        }
    }

    public static func run(quick: Bool) async -> Report {
        let rounds = quick ? 2 : 6
        let batches = quick ? 1_000 : 3_500
        var contenders: [Contender] = []
        for count in sizes {
            let names = (0..<count).map { "module_\($0)" }
            contenders.append(await modloadContender(names: names))
            contenders.append(baselineContender(MutexTable(names: names), names: names))
            contenders.append(baselineContender(RWLockTable(names: names), names: names))
        }
        for _ in 0..<rounds {
            for index in contenders.indices {
                let contender = contenders[index]
                contenders[index].quiet.add(lookupBatches(names: contender.names, batches: batches, contender.lookup))
                let stop = contender.churn()
                let started = nowNanoseconds()
                var busy = lookupBatches(names: contender.names, batches: batches, contender.lookup)
                busy.cycles = await stop()
                busy.seconds = Double(nowNanoseconds() - started) / 1e9
                contenders[index].busy.add(busy)
            }
        }
        var lookups: [String: LookupFigures] = [:]
        var baselines: [String: [String: LookupFigures]] = ["mutex": [:], "rwlock": [:]]
        for contender in contenders {
            if contender.label == "modload" {
                lookups["\(contender.names.count)"] = contender.figures
            } else {
                baselines[contender.label]?["\(contender.names.count)"] = contender.figures
            }
        }
        return Report(machine: .current, lookupNs: lookups, baselines: baselines)
    }

    static func modloadContender(names: [String]) async -> Contender {
        let host = ModuleHost()
        for name in names { _ = try? await host.insert(BuiltinModule(name: name)) }
        return Contender(label: "modload", names: names, lookup: { host.state(of: $0) != nil }) {
            // A writer loads and unloads one module in a loop while the reader measures.
            let stop = StopFlag()
            let churn = Task.detached {
                let module = BuiltinModule(name: "churn")
                var cycles = 0
                while !stop.isRaised {
                    _ = try? await host.insert(module)
                    _ = try? await host.unload("churn")
                    cycles += 1
                }
                return cycles
            }
            return {
                stop.raise()
                return await churn.value
            }
        }
    }

    static func baselineContender(_ table: any BaselineTable, names: [String]) -> Contender {
        Contender(label: table.label, names: names, lookup: { table.lookup($0) != nil }) {
            // A writer inserts and removes an entry with ~10 µs between edits — about Modload's
            // load+unload rate.
            let stop = StopFlag()
            let cycles = Atomic<Int>(0)
            let writer = BenchThread {
                while !stop.isRaised {
                    table.insert("churn")
                    spinFor(nanoseconds: 10_000)
                    table.remove("churn")
                    spinFor(nanoseconds: 10_000)
                    cycles.add(1, ordering: .relaxed)
                }
            }
            return {
                stop.raise()
                writer.join()
                return cycles.load(ordering: .relaxed)
            }
        }
    }

    /// Times `batches` batches of 64 lookups over shuffled names, on a fresh thread; ns per lookup.
    private static func lookupBatches(names: [String], batches: Int, _ lookup: @escaping @Sendable (String) -> Bool) -> Samples {
        let order = names.shuffled()
        let result = ResultBox()
        let thread = BenchThread {
            var samples = Samples()
            samples.all.reserveCapacity(batches)
            samples.unpreempted.reserveCapacity(batches)
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
                samples.all.append(perLookup)
                if involuntaryContextSwitches() == switchesBefore { samples.unpreempted.append(perLookup) }
            }
            blackHole(found)
            result.set(samples)
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

    /// The lookup rows of a table.
    static func table(_ lookups: [String: LookupFigures], baselines: [String: [String: LookupFigures]]) -> [String] {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        var lines = [
            "lookup, ns per lookup (batches of 64; p99 over all batches, and [over batches the reader",
            "was not preempted in])      quiet: median / p99 [p99]          churn: median / p99 [p99]      writer µs/cycle",
        ]
        for count in sizes.map({ "\($0)" }) {
            let rows: [(String, LookupFigures?)] = [
                ("modload", lookups[count]), ("mutex table", baselines["mutex"]?[count]),
                ("rwlock table", baselines["rwlock"]?[count]),
            ]
            for (label, figures) in rows {
                guard let figures else { continue }
                let name = "\(label) × \(count)".padding(toLength: 36, withPad: " ", startingAt: 0)
                func run(_ r: LookupRun) -> String {
                    "\(f(r.all.median)) / \(f(r.all.p99)) [\(f(r.unpreempted.p99))]"
                }
                lines.append(
                    "  \(name)\(run(figures.quiet))".padding(toLength: 66, withPad: " ", startingAt: 0)
                        + run(figures.churn).padding(toLength: 31, withPad: " ", startingAt: 0) + f(figures.writerCycleUs))
            }
        }
        return lines
    }

    /// How Modload's figures compare with the mutex table's at one size: the median of all batches
    /// and the p99 of the batches the reader was not preempted in, quiet and under churn (each ≤ 1
    /// meets the target).
    public static func ratiosToMutex(_ lookups: [String: LookupFigures], baselines: [String: [String: LookupFigures]], count: Int)
        -> [Double]?
    {
        guard let modload = lookups["\(count)"], let mutex = baselines["mutex"]?["\(count)"] else { return nil }
        return [
            modload.quiet.all.median / mutex.quiet.all.median, modload.quiet.unpreempted.p99 / mutex.quiet.unpreempted.p99,
            modload.churn.all.median / mutex.churn.all.median, modload.churn.unpreempted.p99 / mutex.churn.unpreempted.p99,
        ]
    }

    /// The scaling and comparison lines, with the targets.
    static func summary(_ lookups: [String: LookupFigures], baselines: [String: [String: LookupFigures]]) -> [String] {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        guard let small = lookups["1000"]?.quiet.all.median else { return [] }
        var lines: [String] = []
        for count in sizes.dropFirst() {
            guard let large = lookups["\(count)"]?.quiet.all.median else { continue }
            lines.append("  \(count) vs 1000 modules, quiet median: \(f(large / small))×" + (count == 10_000 ? " (target ≤ 1.3×)" : ""))
        }
        for count in sizes {
            guard let ratios = ratiosToMutex(lookups, baselines: baselines, count: count) else { continue }
            lines.append(
                "  modload ÷ mutex table × \(count): quiet median \(f(ratios[0]))×, p99 \(f(ratios[1]))×; churn median "
                    + "\(f(ratios[2]))×, p99 \(f(ratios[3]))×" + (count <= 10_000 ? " (target ≤ 1× each)" : ""))
        }
        return lines
    }

    public static func render(_ r: Report) -> String {
        (["lookup — \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date)"]
            + table(r.lookupNs, baselines: r.baselines) + summary(r.lookupNs, baselines: r.baselines)).joined(separator: "\n")
    }
}

/// Hands a result from a benchmark thread back after `join()` (join orders the accesses).
final class ResultBox: @unchecked Sendable {
    var value: LookupBench.Samples?
    func set(_ value: LookupBench.Samples) { self.value = value }
}

