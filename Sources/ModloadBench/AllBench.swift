import Foundation

/// `modload bench all`: every scenario in one run — with the C limits measured once, in the same
/// run — and one table of every target of docs/design.md §10: the figure, its baseline, the ratio, and
/// whether it is met.
public enum AllBench {
    /// One target of docs/design.md §10.
    public struct Target: Codable, Sendable {
        public let scenario: String
        public let target: String
        public let measured: String
        public let against: String
        /// `nil` when the target compares against a C figure that was not measured; encoded as
        /// an explicit JSON `null` so every target carries the key.
        public let met: Bool?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(scenario, forKey: .scenario)
            try container.encode(target, forKey: .target)
            try container.encode(measured, forKey: .measured)
            try container.encode(against, forKey: .against)
            try container.encode(met, forKey: .met)
        }
    }

    public struct Report: Codable, Sendable {
        public var scenario = "all"
        public let machine: Machine
        public let limits: Limits?
        public let burst: BurstBench.Report
        public let parallel: ParallelBench.Report
        public let refs: RefsBench.Report
        public let quiescence: QuiescenceBench.Report
        public let cycle: CycleBench.Report
        public let files: FilesBench.Report
        public let replace: ReplaceBench.Report
        public let targets: [Target]
    }

    public static func run(quick: Bool, limits: Limits?) async throws -> Report {
        let burst = await BurstBench.run(.init(repetitions: quick ? 1 : 5), limits: limits)
        let parallel = await ParallelBench.run(.init(repetitions: quick ? 1 : 5))
        let refs = await RefsBench.run(quick: quick, limits: limits)
        let quiescence = await QuiescenceBench.run(.init(quick: quick), limits: limits)
        let cycle = await CycleBench.run(quick: quick, limits: limits)
        let files = try await FilesBench.run(quick: quick, limits: limits)
        let replace = await ReplaceBench.run(quick: quick)
        return Report(
            machine: .current, limits: limits, burst: burst, parallel: parallel, refs: refs, quiescence: quiescence,
            cycle: cycle, files: files, replace: replace,
            targets: targets(
                burst: burst, parallel: parallel, refs: refs, quiescence: quiescence, cycle: cycle, files: files, replace: replace))
    }

    static func targets(
        burst: BurstBench.Report, parallel: ParallelBench.Report, refs: RefsBench.Report,
        quiescence: QuiescenceBench.Report, cycle: CycleBench.Report, files: FilesBench.Report, replace: ReplaceBench.Report
    ) -> [Target] {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        var rows: [Target] = []
        let serialized = burst.baselines.first { $0.name == "serialized" }
        rows.append(Target(
            scenario: "burst", target: "exactly 1 init per name",
            measured: burst.modload.inits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
            against: serialized.map { "serialized: \($0.inits.values.reduce(0, +)) inits" } ?? "–",
            met: burst.modload.inits.values.allSatisfy { $0 == 1 }))
        rows.append(Target(
            scenario: "burst", target: "≥ 200× faster than serialized",
            measured: "\(f(burst.modload.wallMs)) ms (\(burst.speedupVsSerialized.map { f($0) } ?? "–")×)",
            against: serialized.map { "serialized \(f($0.wallMs)) ms" } ?? "–",
            met: (burst.speedupVsSerialized ?? 0) >= 200))
        rows.append(Target(
            scenario: "burst", target: "last joiner ≤ 2 ms after the init ends",
            measured: "\(f(burst.modload.lastAnswerAfterInitMs)) ms",
            against: burst.limits?.wake864Us.map { "C: waking 864 threads \(f($0 / 1000)) ms" } ?? "–",
            met: burst.modload.lastAnswerAfterInitMs <= 2))
        rows.append(Target(
            scenario: "parallel", target: "64 sleeping inits ≤ 1.3× one init",
            measured: "\(f(parallel.sleeping.modloadMs)) ms (\(f(parallel.sleeping.modloadRatioToOneInit))×)",
            against: "global lock \(f(parallel.sleeping.globalLockMs)) ms (\(f(parallel.sleeping.globalLockRatioToOneInit))×)",
            met: parallel.sleeping.modloadRatioToOneInit <= 1.3))
        rows.append(Target(
            scenario: "refs", target: "acquire + release ≤ 1.5× C get+put",
            measured: "\(f(refs.acquireReleaseNs)) ns (\(refs.ratioToC.map { f($0) } ?? "–")×)",
            against: refs.cGetPutNs.map { "C \(f($0)) ns" } ?? "–",
            met: refs.ratioToC.map { $0 <= 1.5 }))
        let lookup1k = quiescence.lookupNs["1000"]!
        let lookup10k = quiescence.lookupNs["10000"]!
        for count in [1_000, 10_000] {
            guard let ratios = LookupBench.ratiosToMutex(quiescence.lookupNs, baselines: quiescence.baselines, count: count),
                let modload = quiescence.lookupNs["\(count)"], let mutex = quiescence.baselines["mutex"]?["\(count)"]
            else { continue }
            rows.append(Target(
                scenario: "lookup", target: "\(count) modules, quiet: median and p99 ≤ mutex table",
                measured: "\(f(modload.quiet.all.median)) / \(f(modload.quiet.unpreempted.p99)) ns (\(f(ratios[0]))×, \(f(ratios[1]))×)",
                against: "mutex table \(f(mutex.quiet.all.median)) / \(f(mutex.quiet.unpreempted.p99)) ns",
                met: ratios[0] <= 1 && ratios[1] <= 1))
            rows.append(Target(
                scenario: "lookup", target: "\(count) modules, churn: median and p99 ≤ mutex table",
                measured: "\(f(modload.churn.all.median)) / \(f(modload.churn.unpreempted.p99)) ns (\(f(ratios[2]))×, \(f(ratios[3]))×)",
                against: "mutex table \(f(mutex.churn.all.median)) / \(f(mutex.churn.unpreempted.p99)) ns",
                met: ratios[2] <= 1 && ratios[3] <= 1))
            let churnRatio = modload.churn.unpreempted.p99 / modload.quiet.unpreempted.p99
            rows.append(Target(
                scenario: "lookup", target: "\(count) modules: p99 under churn ≤ 1.25× quiet",
                measured: "\(f(modload.churn.unpreempted.p99)) vs \(f(modload.quiet.unpreempted.p99)) ns (\(f(churnRatio))×)",
                against: "mutex table \(f(mutex.churn.unpreempted.p99 / mutex.quiet.unpreempted.p99))×",
                met: churnRatio <= 1.25))
        }
        let scaling = lookup10k.quiet.all.median / lookup1k.quiet.all.median
        rows.append(Target(
            scenario: "lookup", target: "10,000 modules ≤ 1.3× the 1,000 figure",
            measured: "\(f(lookup10k.quiet.all.median)) ns (\(f(scaling))×)",
            against: quiescence.lookupNs["100000"].map { "100,000: \(f($0.quiet.all.median)) ns" } ?? "–",
            met: scaling <= 1.3))
        rows.append(Target(
            scenario: "quiescence", target: "read section ≤ 2 ns",
            measured: "\(f(quiescence.readSectionNs)) ns",
            against: quiescence.limits?.rcuReadNs.map { "liburcu \(f($0)) ns" } ?? "–",
            met: quiescence.readSectionNs <= 2))
        let sync = quiescence.synchronizeUs["busyReaders1"]!.median
        rows.append(Target(
            scenario: "quiescence", target: "synchronize, 1 busy reader ≤ 50 µs",
            measured: "\(f(sync)) µs",
            against: quiescence.limits?.rcuSynchronizeUs.map { "liburcu \(f($0)) µs" } ?? "–",
            met: sync <= 50))
        rows.append(Target(
            scenario: "cycle", target: "load + unload of a trivial module ≤ 20 µs",
            measured: "\(f(cycle.cycleUs.median)) µs",
            against: cycle.cDlopenCycleUs.map { "C dlopen+dlclose \(f($0)) µs" } ?? "–",
            met: cycle.cycleUs.median <= 20))
        rows.append(Target(
            scenario: "files", target: "file load + unload ≤ 1.2× raw dlopen+dlclose",
            measured: "\(f(files.modloadCycleUs.median)) µs (\(f(files.ratio))×)",
            against: "raw \(f(files.rawCycleUs.median)) µs; hand-written loader \(f(files.handWrittenCycleUs.median)) µs",
            met: files.ratio <= 1.2))
        rows.append(Target(
            scenario: "replace", target: "p99 acquire during a switch ≤ 2× quiet",
            measured: "\(f(replace.duringSwitchAcquireNs.p99)) vs \(f(replace.quietAcquireNs.p99)) ns (\(f(replace.p99Ratio))×)",
            against: "switch latency p50 \(f(replace.switchLatencyNs.median / 1000)) µs",
            met: replace.p99Ratio <= 2))
        return rows
    }

    public static func render(_ r: Report) -> String {
        var sections = [
            BurstBench.render(r.burst), ParallelBench.render(r.parallel), RefsBench.render(r.refs),
            QuiescenceBench.render(r.quiescence), CycleBench.render(r.cycle), FilesBench.render(r.files),
            ReplaceBench.render(r.replace),
        ]
        var summary = ["targets (docs/design.md §10, and issue 6's module-file cycle)"]
        for t in r.targets {
            summary.append(
                "  \(t.met.map { $0 ? "met   " : "MISSED" } ?? "n/a   ") \(t.scenario.padding(toLength: 11, withPad: " ", startingAt: 0))"
                    + "\(t.target.padding(toLength: 44, withPad: " ", startingAt: 0)) \(t.measured)   [\(t.against)]")
        }
        sections.append(summary.joined(separator: "\n"))
        return sections.joined(separator: "\n\n")
    }
}
