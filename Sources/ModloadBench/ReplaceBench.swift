import Modload
import Synchronization

/// `modload bench replace`: what a live replace costs the callers of the module being replaced.
///
/// Two POSIX threads acquire the module by name and release it in a loop, timing every acquire
/// (+ release) with the monotonic clock, first for a quiet phase, then while the main task
/// replaces the module again and again. Reported:
/// - **switch latency**: from the moment the new generation is ready (its state handover, the
///   last step before the switch, returned) to the first acquire that returns it;
/// - the acquire+release latency distribution quiet, across the replace phase, and in the 50 µs
///   after each switch began — the target: p99 during the switch ≤ 2× quiet;
/// - the acquire rate per thread in both phases, and the time of a whole replace.
public enum ReplaceBench {
    public struct Report: Codable, Sendable {
        public var scenario = "replace"
        public let machine: Machine
        /// Replaces made.
        public let replaces: Int
        /// Ready → first acquire that returned the new generation, ns.
        public let switchLatencyNs: Distribution
        /// Acquire + release, ns, 2 threads, no replace.
        public let quietAcquireNs: Distribution
        /// The same across the replace phase.
        public let acrossAcquireNs: Distribution
        /// The same for acquires that started within 50 µs after a new generation was ready.
        public let duringSwitchAcquireNs: Distribution
        /// Acquires per second per thread, quiet and across the replace phase.
        public let quietRatePerThread: Double
        public let acrossRatePerThread: Double
        /// p99 during the switch over p99 quiet (target ≤ 2).
        public let p99Ratio: Double
        /// One whole replace (prepare, init, switch, drain, exit of the old one), µs.
        public let replaceUs: Distribution
    }

    /// The module replaced: records when it is ready to take over.
    final class Generation: ModuleDefinition {
        let name = "bench_replaced"
        let generation: Int
        let ready = Atomic<UInt64>(0)
        init(_ generation: Int) { self.generation = generation }
        func initialize(_ context: ModuleContext) async throws {}
        func takeOver(from previous: any ModuleDefinition, _ context: ModuleContext) async throws {
            let now = nowNanoseconds()
            ready.store(now, ordering: .releasing)
            Generation.latestReady.store(now, ordering: .releasing)
        }
        /// When the newest generation became ready (acquirers time the window after it).
        static let latestReady = Atomic<UInt64>(0)
    }

    /// One acquirer's counts: a histogram of latencies (1 ns buckets up to 100 µs) per phase, the
    /// samples in switch windows, and when it first saw each generation.
    final class Acquirer: @unchecked Sendable {  // written by its thread, read after join
        static let buckets = 100_000
        var quiet = [UInt32](repeating: 0, count: buckets + 1)
        var across = [UInt32](repeating: 0, count: buckets + 1)
        var quietCount = 0
        var acrossCount = 0
        var during: [Double] = []
        var firstSeen: [Int: UInt64] = [:]
    }

    public static func run(quick: Bool) async -> Report {
        let host = ModuleHost()
        let replaces = quick ? 40 : 400
        let generations = (1...replaces + 1).map(Generation.init)
        try! await host.insert(generations[0])
        let phase = Atomic<Int>(0)  // 0 quiet, 1 replacing, 2 stop
        let acrossStarted = Atomic<UInt64>(0)
        let acquirers = (0..<2).map { _ in Acquirer() }
        let threads = acquirers.map { acquirer in
            BenchThread {
                var lastSeen = 0
                while true {
                    let current = phase.load(ordering: .relaxed)
                    if current == 2 { break }
                    let start = nowNanoseconds()
                    guard let ref = try? host.acquire("bench_replaced") else { continue }
                    let generation = ref.definition(as: Generation.self)!.generation
                    ref.release()
                    let end = nowNanoseconds()
                    let ns = Int(end - start)
                    if generation != lastSeen {
                        lastSeen = generation
                        acquirer.firstSeen[generation] = end
                    }
                    if current == 0 {
                        acquirer.quiet[min(ns, Acquirer.buckets)] += 1
                        acquirer.quietCount += 1
                    } else {
                        acquirer.across[min(ns, Acquirer.buckets)] += 1
                        acquirer.acrossCount += 1
                        let ready = Generation.latestReady.load(ordering: .acquiring)
                        if ready != 0 && start >= ready && start - ready < 50_000 { acquirer.during.append(Double(ns)) }
                    }
                }
            }
        }
        // Quiet phase.
        let quietStart = nowNanoseconds()
        try? await Task.sleep(for: .milliseconds(quick ? 50 : 300))
        let quietEnd = nowNanoseconds()
        acrossStarted.store(quietEnd, ordering: .relaxed)
        phase.store(1, ordering: .releasing)
        // Replace phase.
        var replaceTimes: [Double] = []
        for next in generations.dropFirst() {
            let started = nowNanoseconds()
            _ = try? await host.replace("bench_replaced", with: next, options: .init(drainTimeout: .seconds(5)))
            replaceTimes.append(Double(nowNanoseconds() - started) / 1e3)
            // A pause between replaces, so acquires are measured between switches too.
            try? await Task.sleep(for: .microseconds(200))
        }
        let acrossEnd = nowNanoseconds()
        phase.store(2, ordering: .releasing)
        for thread in threads { thread.join() }

        var latencies: [Double] = []
        for next in generations.dropFirst() {
            let ready = next.ready.load(ordering: .acquiring)
            let seen = acquirers.compactMap { $0.firstSeen[next.generation] }.filter { $0 >= ready }.min()
            if ready != 0, let seen { latencies.append(Double(seen - ready)) }
        }
        let quiet = distribution(acquirers.map(\.quiet))
        let across = distribution(acquirers.map(\.across))
        let during = Distribution(acquirers.flatMap(\.during))
        let quietSeconds = Double(quietEnd - quietStart) / 1e9
        let acrossSeconds = Double(acrossEnd - quietEnd) / 1e9
        return Report(
            machine: .current, replaces: replaces, switchLatencyNs: Distribution(latencies), quietAcquireNs: quiet,
            acrossAcquireNs: across, duringSwitchAcquireNs: during,
            quietRatePerThread: Double(acquirers.map(\.quietCount).reduce(0, +)) / 2 / quietSeconds,
            acrossRatePerThread: Double(acquirers.map(\.acrossCount).reduce(0, +)) / 2 / acrossSeconds,
            p99Ratio: during.p99 / quiet.p99, replaceUs: Distribution(replaceTimes))
    }

    /// Percentiles of merged 1-ns histograms (the last bucket holds everything at or above 100 µs).
    static func distribution(_ histograms: [[UInt32]]) -> Distribution {
        var merged = [Int](repeating: 0, count: Acquirer.buckets + 1)
        for histogram in histograms { for (ns, count) in histogram.enumerated() { merged[ns] += Int(count) } }
        let total = merged.reduce(0, +)
        func at(_ q: Double) -> Double {
            let rank = Int(q * Double(total))
            var seen = 0
            for (ns, count) in merged.enumerated() {
                seen += count
                if seen > rank { return Double(ns) }
            }
            return .nan
        }
        let min = merged.firstIndex { $0 > 0 }.map(Double.init) ?? .nan
        let max = merged.lastIndex { $0 > 0 }.map(Double.init) ?? .nan
        return Distribution(median: at(0.5), p99: at(0.99), min: min, max: max, samples: total)
    }

    public static func render(_ r: Report) -> String {
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        func d(_ x: Distribution) -> String { "p50 \(f(x.median))  p99 \(f(x.p99))  max \(f(x.max))  (\(x.samples) samples)" }
        return [
            "replace — \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date); \(r.replaces) replaces, 2 acquiring threads",
            "switch latency (ready → first acquire of the new generation)   \(d(r.switchLatencyNs)) ns",
            "acquire + release, quiet                  \(d(r.quietAcquireNs)) ns   \(f(r.quietRatePerThread / 1e6)) M/s per thread",
            "acquire + release, across the replaces    \(d(r.acrossAcquireNs)) ns   \(f(r.acrossRatePerThread / 1e6)) M/s per thread",
            "acquire + release, ≤ 50 µs after a switch began  \(d(r.duringSwitchAcquireNs)) ns",
            "p99 during the switch / quiet p99   \(String(format: "%.2f", r.p99Ratio))×   target ≤ 2×",
            "one replace (prepare, init, switch, drain, exit)   \(d(r.replaceUs)) µs",
        ].joined(separator: "\n")
    }
}
