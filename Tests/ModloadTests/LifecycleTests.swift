#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Modload

@Suite("States and transitions")
struct LifecycleTests {
    @Test func successfulLoadGoesComingThenLive() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let seen = Locked<ModuleState?>(nil)
        let module = TestModule("alpha") { context in
            seen.withLock { $0 = host.state(of: context.name) }
        }
        try await host.insert(module)
        #expect(seen.withLock { $0 } == .coming)
        #expect(log.kinds(for: "alpha") == [.coming, .live])
        let info = try #require(host.info(of: "alpha"))
        #expect(info.state == .live)
        #expect(info.refcount == 0)
        #expect(info.version == "1.0")
        #expect(module.initCalls == 1)
        var statistics = try #require(host.statistics(of: "alpha"))
        #expect(statistics.initTime > .zero)
        statistics.initTime = .zero
        #expect(statistics == {
            var s = ModuleStatistics()
            s.attempts = 1
            s.initCalls = 1
            s.loads = 1
            return s
        }())
    }

    @Test func failedInitGoesComingGoingGoneAndLeavesNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let module = TestModule("broken", failure: noDevice)
        let error = await expectError(.initFailed) { try await host.insert(module) }
        #expect((error?.underlying as? ModuleError)?.code == .noDevice)
        #expect(error?.errno == ENODEV)
        #expect(error?.module == "broken")
        #expect(log.kinds(for: "broken") == [.coming, .going, .gone, .loadFailed])
        #expect(host.state(of: "broken") == nil)
        #expect(host.modules.isEmpty)
        #expect(host.statistics(of: "broken")?.failures == ["initFailed": 1])
        // A failed load leaves no trace: the next load runs init again and can succeed.
        try await host.insert(TestModule("broken"))
        #expect(host.state(of: "broken") == .live)
    }

    @Test func referencesCanBeTakenWhileComing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let module = TestModule("early", gate: gate)
        let load = Task { try await host.insert(module) }
        _ = await module.initStarted.wait()
        let ref = try host.acquire("early")
        #expect(ref.state == .coming)
        #expect(host.info(of: "early")?.refcount == 2)  // the init reference and ours
        gate.complete(())
        _ = try await load.value
        #expect(ref.state == .live)
        #expect(host.info(of: "early")?.refcount == 1)
    }

    @Test func unformedModulesAreInvisible() async throws {
        // The unformed window is between admission and formation; it is only observable
        // through the table, so check it directly.
        let host = try ModuleHost(configuration: .testing())
        let name = try ModuleName(validating: "ghost")
        let record = ModuleRecord(
            name: name, definition: TestModule("ghost"), context: host.testContext(for: name), statistics: NameStatistics())
        host.table.write { $0.insert(record) }
        #expect(host.info(of: "ghost") == nil)
        #expect(host.modules.isEmpty)
        await expectError(.notFound) { _ = try host.acquire("ghost") }
        await expectError(.notFound) { try await host.unload("ghost") }
    }

    @Test func noHostLockIsHeldDuringInit() async throws {
        // Init uses the host freely: listing, references, and a nested load. Any lock held across
        // init would deadlock here.
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("base"))
        let nested = TestModule("nested")
        let outer = TestModule("outer") { _ in
            _ = host.listing()
            let ref = try? host.acquire("base")
            #expect(host.info(of: "base")?.refcount == 1)
            ref?.release()
            _ = try? await host.insert(nested)
        }
        try await host.insert(outer)
        #expect(nested.initCalls == 1)
        #expect(host.state(of: "nested") == .live)
        #expect(host.info(of: "base")?.refcount == 0)
    }

    @Test func distinctInitsRunInParallel() async throws {
        // Each init waits, inside init, until the other has started too. With serialized inits
        // the first gives up after ~10 s and counts a miss: the test fails.
        let host = try ModuleHost(configuration: .testing())
        let started = Atomic<Int>(0)
        let met = Counter()
        let rendezvous: @Sendable (ModuleContext) async -> Void = { _ in
            started.add(1, ordering: .acquiringAndReleasing)
            if await eventually({ started.load(ordering: .acquiring) == 2 }) { met.add() }
        }
        let a = TestModule("par_a", onInit: rendezvous)
        let b = TestModule("par_b", onInit: rendezvous)
        async let loadA = host.insert(a)
        async let loadB = host.insert(b)
        _ = try await loadA
        _ = try await loadB
        #expect(met.count == 2, "an init ran while the other was not running: inits were serialized")
        #expect(host.modules.map(\.name) == ["par_a", "par_b"])
    }

    @Test func liveModuleAnswersInsertAndEnsure() async throws {
        let host = try ModuleHost(configuration: .testing())
        let first = TestModule("once")
        try await host.insert(first)
        let second = TestModule("once")
        let error = await expectError(.exists) { try await host.insert(second) }
        #expect(error?.state == .live)
        try await host.ensureLoaded(second)
        #expect(first.initCalls == 1)
        #expect(second.initCalls == 0)
    }

    @Test func unknownModulesAreNotFound() async throws {
        let host = try ModuleHost(configuration: .testing())
        await expectError(.notFound) { _ = try host.acquire("nothing") }
        await expectError(.notFound) { try await host.unload("nothing") }
        await expectError(.notFound) { _ = try host.holders(of: "nothing") }
        #expect(host.info(of: "nothing") == nil)
        #expect(host.statistics(of: "nothing") == nil)
    }
}
