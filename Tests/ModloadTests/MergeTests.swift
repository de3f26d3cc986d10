import Testing
@testable import Modload

/// Merged same-name loads (docs/design.md §4.1; the merge thread and the kmod selftest from the
/// 288-CPU boot, §1).
@Suite("Merging same-name loads")
struct MergeTests {
    /// Starts `count` concurrent loads of `name`, each with its own definition instance, while
    /// the first instance's init is held at a gate; releases the gate once all have joined.
    private func concurrentLoads(
        _ count: Int, of name: String, failing: Bool, caller: ModuleHost.LoadCaller
    ) async -> (results: [ModuleError?], modules: [TestModule], host: ModuleHost) {
        let host = ModuleHost.forTesting()
        let gate = Completion<Void>()
        let modules = (0..<count).map { _ in TestModule(name, gate: gate, failure: failing ? noDevice : nil) }
        let results = await withTaskGroup(of: ModuleError?.self) { group in
            for module in modules {
                group.addTask {
                    do throws(ModuleError) {
                        _ = try await host.load(module, parameters: "", for: caller)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            // Hold the init until every other caller has merged into it.
            #expect(await eventually { host.statistics(of: name)?.mergedJoiners == count - 1 }, "not every caller merged")
            gate.complete(())
            var results: [ModuleError?] = []
            for await result in group { results.append(result) }
            return results
        }
        return (results, modules, host)
    }

    @Test func fourInsertsOneSucceedsThreeExist() async throws {
        let (results, modules, host) = await concurrentLoads(4, of: "selftest", failing: false, caller: .insert)
        #expect(results.filter { $0 == nil }.count == 1)
        #expect(results.compactMap { $0?.code } == [.exists, .exists, .exists])
        #expect(modules.map(\.initCalls).reduce(0, +) == 1)
        #expect(host.state(of: "selftest") == .live)
        #expect(host.statistics(of: "selftest")?.mergedJoiners == 3)
        #expect(host.statistics(of: "selftest")?.attempts == 4)
    }

    @Test func fourFailingInsertsOneFailsThreeBusyNothingLeft() async throws {
        let (results, modules, host) = await concurrentLoads(4, of: "selftest", failing: true, caller: .insert)
        let codes = results.compactMap { $0?.code }
        #expect(codes.count == 4)
        #expect(codes.filter { $0 == .initFailed }.count == 1)
        #expect(codes.filter { $0 == .busy }.count == 3)
        // Busy joiners can still see why: the winner's error is their underlying error.
        for error in results.compactMap({ $0 }) where error.code == .busy {
            #expect((error.underlying as? ModuleError)?.code == .initFailed)
        }
        #expect(modules.map(\.initCalls).reduce(0, +) == 1)
        #expect(host.state(of: "selftest") == nil)
        #expect(host.statistics(of: "selftest")?.failures == ["initFailed": 1])
    }

    @Test func ensureLoadedCallersAllSucceed() async throws {
        let (results, modules, host) = await concurrentLoads(16, of: "shared", failing: false, caller: .ensureLoaded)
        #expect(results.allSatisfy { $0 == nil })
        #expect(modules.map(\.initCalls).reduce(0, +) == 1)
        #expect(host.state(of: "shared") == .live)
    }

    @Test func ensureLoadedCallersAllGetTheWinnersError() async throws {
        let (results, modules, _) = await concurrentLoads(16, of: "shared", failing: true, caller: .ensureLoaded)
        let errors = results.compactMap { $0 }
        #expect(errors.count == 16)
        #expect(errors.allSatisfy { $0.code == .initFailed })
        #expect(errors.allSatisfy { ($0.underlying as? ModuleError)?.code == .noDevice })
        #expect(Set(errors.map(\.description)).count == 1)
        #expect(modules.map(\.initCalls).reduce(0, +) == 1)
    }

    @Test func theBootBurstRunsOneInitPerName() async throws {
        // The 288-CPU boot at full size: 288 loads of A and 576 of B at once, both failing in init. The
        // inits are held until every caller has arrived, as a slow init is in the real burst.
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let a = TestModule("pcc_cpufreq", gate: gate, failure: noDevice)
        let b = TestModule("acpi_cpufreq", gate: gate, failure: noDevice)
        let answered = await withTaskGroup(of: ModuleError?.self) { group in
            for index in 0..<864 {
                let module = index % 3 == 0 ? a : b
                group.addTask {
                    do throws(ModuleError) {
                        try await host.ensureLoaded(module)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            #expect(
                await eventually {
                    host.statistics(of: "pcc_cpufreq")?.mergedJoiners == 287
                        && host.statistics(of: "acpi_cpufreq")?.mergedJoiners == 575
                }, "not every caller merged")
            gate.complete(())
            var errors: [ModuleError?] = []
            for await error in group { errors.append(error) }
            return errors
        }
        #expect(answered.count == 864)
        #expect(answered.allSatisfy { $0?.code == .initFailed })
        #expect(a.initCalls == 1)
        #expect(b.initCalls == 1)
        #expect(host.statistics(of: "pcc_cpufreq")?.failures == ["initFailed": 1])
        #expect(host.statistics(of: "acpi_cpufreq")?.failures == ["initFailed": 1])
        #expect(host.modules.isEmpty)
    }

    /// Cancelling one caller — a joiner, or the winner whose call started the load — ends only
    /// that caller's wait: the shared init goes on and the other caller gets its result.
    @Test(arguments: ["joiner", "winner"])
    func cancellingOneCallerLeavesTheSharedLoadRunning(cancelled: String) async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let module = TestModule("slow", gate: gate)
        let winner = Task { try await host.insert(module) }
        _ = await module.initStarted.wait()
        let joiner = Task { try await host.ensureLoaded(TestModule("slow")) }
        #expect(await eventually { host.statistics(of: "slow")?.mergedJoiners == 1 })
        let (victim, survivor) = cancelled == "joiner" ? (joiner, winner) : (winner, joiner)
        victim.cancel()
        await expectError(.cancelled) { try await victim.value }
        #expect(host.state(of: "slow") == .coming)
        gate.complete(())
        _ = try await survivor.value
        #expect(host.state(of: "slow") == .live)
        #expect(module.initCalls == 1)
    }

    @Test func alreadyCancelledCallerIsAnsweredWithoutWaiting() async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let module = TestModule("slow", gate: gate)
        let winner = Task { try await host.insert(module) }
        _ = await module.initStarted.wait()
        let joiner = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await host.ensureLoaded(TestModule("slow"))
        }
        await expectError(.cancelled) { try await joiner.value }
        gate.complete(())
        _ = try await winner.value
    }

    @Test func negativeCacheAnswersTheHerdAfterAFailure() async throws {
        let host = try ModuleHost(configuration: .testing(failedLoadCacheDuration: .seconds(60)))
        let module = TestModule("flaky", failure: noDevice)
        let first = await expectError(.initFailed) { try await host.ensureLoaded(module) }
        let again = await expectError(.initFailed) { try await host.ensureLoaded(TestModule("flaky")) }
        #expect(again?.description == first?.description)
        let inserted = await expectError(.busy) { try await host.insert(TestModule("flaky")) }
        #expect((inserted?.underlying as? ModuleError)?.code == .initFailed)
        #expect(module.initCalls == 1)
        #expect(host.statistics(of: "flaky")?.initCalls == 1)
        #expect(host.statistics(of: "flaky")?.cachedFailures == 2)
    }

    @Test func negativeCacheExpires() async throws {
        let host = try ModuleHost(configuration: .testing(failedLoadCacheDuration: .milliseconds(1)))
        await expectError(.initFailed) { try await host.ensureLoaded(TestModule("flaky", failure: noDevice)) }
        try await Task.sleep(for: .milliseconds(20))
        let fixed = TestModule("flaky")
        try await host.ensureLoaded(fixed)
        #expect(fixed.initCalls == 1)
    }

    @Test func negativeCacheDropsExpiredFailures() async throws {
        let host = try ModuleHost(configuration: .testing(failedLoadCacheDuration: .milliseconds(1)))
        await expectError(.initFailed) { try await host.ensureLoaded(TestModule("one", failure: noDevice)) }
        await expectError(.initFailed) { try await host.ensureLoaded(TestModule("two", failure: noDevice)) }
        try await Task.sleep(for: .milliseconds(20))
        await expectError(.initFailed) { try await host.ensureLoaded(TestModule("three", failure: noDevice)) }
        #expect(host.table.write { Array($0.recentFailures.keys) } == ["three"])
    }

    @Test func negativeCacheIsOffByDefault() async throws {
        let host = try ModuleHost(configuration: .testing())
        await expectError(.initFailed) { try await host.ensureLoaded(TestModule("flaky", failure: noDevice)) }
        let fixed = TestModule("flaky")
        try await host.ensureLoaded(fixed)
        #expect(fixed.initCalls == 1)
    }
}
