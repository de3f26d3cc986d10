#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Modload

/// `modload bench lookup`: `host.state(of:)` over 1,000 and 10,000 loaded modules, quiet and while
/// a writer loads and unloads a module in a loop — beside a mutex-guarded and an rwlock-guarded
/// table measured the same way in the same run (docs/design.md §10). Also part of `bench quiescence`.
public enum LookupBench {
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

    public struct Report: Codable, Sendable {
        public var scenario = "lookup"
        public let machine: Machine
        public let lookupNs: [String: LookupFigures]
        public let baselines: [String: [String: LookupFigures]]
    }

    public static func run(quick: Bool) async -> Report {
        var lookups: [String: LookupFigures] = [:]
        var baselines: [String: [String: LookupFigures]] = ["mutex": [:], "rwlock": [:]]
        let batches = quick ? 2_000 : 20_000
        for count in [1_000, 10_000] {
            let names = (0..<count).map { "module_\($0)" }
            lookups["\(count)"] = await measureModloadLookups(names: names, batches: batches)
            for table in [MutexTable(names: names) as any BaselineTable, RWLockTable(names: names)] {
                baselines[table.label]?["\(count)"] = measureBaselineLookups(table, names: names, batches: batches)
            }
        }
        return Report(machine: .current, lookupNs: lookups, baselines: baselines)
    }

    static func measureModloadLookups(names: [String], batches: Int) async -> LookupFigures {
        let host = ModuleHost()
        for name in names { _ = try? await host.insert(BuiltinModule(name: name)) }
        let quiet = lookupBatches(names: names, batches: batches) { host.state(of: $0) != nil }
        // Churn: a writer loads and unloads one module in a loop while the reader measures.
        let stop = StopFlag()
        let churn = Task.detached {
            let module = BuiltinModule(name: "churn")
            while !stop.isRaised {
                _ = try? await host.insert(module)
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

    /// The lookup rows of a table.
    static func table(_ lookups: [String: LookupFigures], baselines: [String: [String: LookupFigures]]) -> [String] {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        var lines = [
            "lookup, ns per lookup (batches of 64; p99 over all batches, and [over batches the reader",
            "was not preempted in])      quiet: median / p99 [p99]          churn: median / p99 [p99]",
        ]
        for count in ["1000", "10000"] {
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
                        + run(figures.churn))
            }
        }
        return lines
    }

    /// The scaling line, with the targets.
    static func summary(_ lookups: [String: LookupFigures]) -> String {
        guard let small = lookups["1000"]?.quiet.all.median, let large = lookups["10000"]?.quiet.all.median else { return "" }
        return "  10,000 vs 1,000 modules: " + String(format: "%.2f", large / small) + "× (target ≤ 1.3×); 1,000 modules: "
            + String(format: "%.2f", small) + " ns (target ≤ 60 ns)"
    }

    public static func render(_ r: Report) -> String {
        (["lookup — \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date)"]
            + table(r.lookupNs, baselines: r.baselines) + [summary(r.lookupNs)]).joined(separator: "\n")
    }
}

/// Hands a result from a benchmark thread back after `join()` (join orders the accesses).
final class ResultBox: @unchecked Sendable {
    var value: LookupBench.LookupRun?
    func set(_ value: LookupBench.LookupRun) { self.value = value }
}

