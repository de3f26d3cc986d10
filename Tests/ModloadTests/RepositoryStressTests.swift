#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Modload
import ModloadRepository

/// Requests through the repository from many POSIX threads at once, over trees that overlap: what
/// the host promises when it makes requests of its own for a request it serves (dependencies,
/// soft dependencies) must hold however those requests interleave with callers' own.
@Suite("Module repository under concurrent requests (real threads)")
struct RepositoryStressTests {
    /// The tree: `base` ← `mid_0…3` ← `top_0…7` (each top imports two neighbouring mids, so every
    /// mid is shared by two tops and `base` by all); `ring_a` and `ring_b` are each other's `pre:`
    /// soft dependency. With `baseAsSoftdep`, every top also names `base` as a `pre:` soft
    /// dependency, so requests the host makes for `base` meet callers' own requests for it in one
    /// load. `base` and the mids take
    /// a few milliseconds in init (options in the tree's modprobe.d), so loads are still running
    /// when other requests arrive.
    static func tree(baseAsSoftdep: Bool) async throws -> (ModuleTree, ModprobeConfiguration) {
        let tree = try ModuleTree()
        try await tree.module("base", exports: ["base_fn"])
        for mid in 0..<4 { try await tree.module("mid_\(mid)", exports: ["mid_\(mid)_fn"], imports: ["base_fn"]) }
        for top in 0..<8 {
            try await tree.module("top_\(top)", imports: ["mid_\(top % 4)_fn", "mid_\((top + 1) % 4)_fn"])
        }
        try await tree.module("ring_a")
        try await tree.module("ring_b")
        _ = try RepositoryTests.index(tree)
        try tree.write(
            """
            options base delay_ms=3
            options mid_0 delay_ms=2
            options mid_1 delay_ms=2
            options mid_2 delay_ms=2
            options mid_3 delay_ms=2
            softdep ring_a pre: ring_b
            softdep ring_b pre: ring_a

            """, to: "modprobe.d/stress.conf")
        try tree.write((0..<8).map { "softdep top_\($0) pre: base\n" }.joined(), to: "softdep.d/base.conf")
        return (tree, ModprobeConfiguration(directories: [tree.root + "/modprobe.d"] + (baseAsSoftdep ? [tree.root + "/softdep.d"] : [])))
    }

    /// Each round, on a new host allowed only 2 requests at once: 8 threads each request a
    /// `top` (its mids and `base` load as dependencies, merged across threads); threads 0 and 4
    /// also request `base` itself, racing those dependency loads; threads 2 and 6 request
    /// `ring_a` and `ring_b` (a soft-dependency loop entered from both ends).
    ///
    /// Checked every round: every request succeeded — a dependency request that took a slot of
    /// its own would exhaust the 2 slots with nested requests and time out, and so would one that
    /// joined, by file, a caller's load of `base` still queued for a slot (without softdeps, the
    /// imports of the mids ask for `base` while threads 0 and 4 ask for it); every
    /// module's init ran exactly once (merging across a request's own dependency requests and
    /// other threads'); `base` — asked for directly in every round — is *not* "loaded as a
    /// dependency" whichever of the direct request and the dependency requests finished first
    /// (`modprobe -r` would otherwise unload it as unused), the mids are, the tops are not.
    ///
    /// The rounds run in a process of their own, so that what they count (init calls, merged
    /// joiners) is theirs alone. (Run in the suite's own process, rounds once timed out waiting for
    /// a slot whose holders then finished: two exit tests' parents each held one of the 2 pool
    /// threads in a blocking read, and nothing else in the process ran — see ``ChildProcesses``.)
    @Test(arguments: [false, true])
    func overlappingTreesFromManyThreadsMergeShareSlotsAndKeepTheirOrigin(baseAsSoftdep: Bool) async throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("modload-stress-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .success) { [baseAsSoftdep = baseAsSoftdep as Bool, report = report as String] in
                exit(await RepositoryStressTests.rounds(baseAsSoftdep: baseAsSoftdep, report: report))
            }
        }
        // The child's problems, one per line.
        let problems = (try? String(contentsOfFile: report, encoding: .utf8))?.split(separator: "\n") ?? []
        for problem in problems { Issue.record(Comment(rawValue: String(problem))) }
    }

    /// The rounds (see above); each problem is a line of the file `report`. Returns the exit
    /// status: 0 if every check held.
    static func rounds(baseAsSoftdep: Bool, report: String) async -> Int32 {
        var problems: [String] = []
        func check(_ condition: Bool, _ problem: @autoclosure () -> String) {
            if !condition { problems.append(problem()) }
        }
        do {
            try await run(baseAsSoftdep: baseAsSoftdep, check: check)
        } catch {
            problems.append("setup failed: \(error)")
        }
        try? problems.map { $0 + "\n" }.joined().write(toFile: report, atomically: true, encoding: .utf8)
        return problems.isEmpty ? 0 : 1
    }

    static func run(baseAsSoftdep: Bool, check: (Bool, @autoclosure () -> String) -> Void) async throws {
        let (tree, configuration) = try await Self.tree(baseAsSoftdep: baseAsSoftdep)
        let repository = try ModuleRepository(root: try ModuleRoot(tree.root), configuration: configuration)
        let rounds = 12 * Stress.scale
        let failures = Locked([String]())
        var originRaces = 0
        for round in 0..<rounds {
            let host = try ModuleHost(configuration: .testing(
                resolver: repository, maxConcurrentRequests: 2, requestSlotTimeout: .seconds(20)))
            await onThreads(8) { thread in
                var asks = ["top_\(thread)"]
                if thread % 4 == 0 { asks.insert("base", at: Int.random(in: 0...1)) }
                if thread % 4 == 2 { asks.append(thread == 2 ? "ring_a" : "ring_b") }
                for name in asks {
                    let result = blocking("request \(name)") { () async -> Result<Void, ModuleError> in
                        do throws(ModuleError) {
                            _ = try await host.request(name)
                            return .success(())
                        } catch {
                            return .failure(error)
                        }
                    }
                    if case .failure(let error) = result {
                        failures.withLock { $0.append("round \(round), thread \(thread), \(name): \(error)") }
                    }
                }
            }
            let modules = ["base", "ring_a", "ring_b"] + (0..<4).map { "mid_\($0)" } + (0..<8).map { "top_\($0)" }
            check(Set(host.modules.map(\.name)) == Set(modules), "round \(round): live \(host.modules.map(\.name).sorted())")
            for name in modules {
                let statistics = host.statistics(of: name)
                check(statistics?.initCalls == 1, "round \(round): \(name) ran init \(statistics?.initCalls ?? 0) times")
            }
            check(
                host.info(of: "base")?.loadedAsDependency == false,
                "round \(round): base was asked for directly yet reads as loaded for a dependency")
            if host.fileStatistics.mergedJoiners > 0 { originRaces += 1 }
            for mid in 0..<4 {
                check(host.info(of: "mid_\(mid)")?.loadedAsDependency == true, "round \(round): mid_\(mid) not loaded as a dependency")
            }
            for top in 0..<8 {
                check(host.info(of: "top_\(top)")?.loadedAsDependency == false, "round \(round): top_\(top) loaded as a dependency")
            }
            // A wait for a slot that never frees ends after 20 s; one such round says it all —
            // with what the host's slots and modules looked like at the end of it.
            let failed = failures.withLock { $0 }
            if !failed.isEmpty {
                let slots = host.requestStatistics
                let states = host.modules.map { "\($0.name) \($0.state)" }.joined(separator: ", ")
                check(false, "round \(round): \(failed.joined(separator: "; ")); then slots in flight \(slots.inFlight), waiting \(slots.waiting), timeouts \(slots.timeouts); modules: \(states)")
                break
            }
        }
        // With softdeps, the race the origin word settles happened: top-level requests (callers'
        // and those the host made for softdeps) met in one file load in at least one round.
        if baseAsSoftdep { check(originRaces > 0, "no round had requests meet in one file load") }
    }
}
