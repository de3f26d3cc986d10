import Synchronization
import Testing
@testable import Modload

@Suite("Requests", .timeLimit(.minutes(1)))
struct RequestTests {
    static func filesystem() -> [Linked] {
        [
            Linked("crc32c_generic", exports: [ExportedSymbol("crc32c", 32)]),
            Linked("jbd2", exports: [ExportedSymbol("jbd2_journal", 2)], imports: [ImportedSymbol("crc32c", as: Int.self)]),
            Linked(
                "ext4", imports: [ImportedSymbol("jbd2_journal", as: Int.self), ImportedSymbol("crc32c", as: Int.self)],
                aliases: ["fs-ext4", "block:ext?"]),
        ]
    }

    @Test func aRequestLoadsTheDependencyChainFirst() async throws {
        let modules = Self.filesystem()
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(modules)))
        try await host.request("ext4")
        #expect(host.modules.map(\.name) == ["crc32c_generic", "ext4", "jbd2"])
        #expect(host.info(of: "crc32c_generic")?.usedBy == ["ext4", "jbd2"])
        #expect(host.info(of: "jbd2")?.usedBy == ["ext4"])
        #expect(modules.allSatisfy { $0.inits.count == 1 })
        #expect(host.requestStatistics.inFlight == 0)
    }

    @Test func everyRequestIsARequestedEventBeforeTheModulesTransitions() async throws {
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(Self.filesystem())))
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        try await host.request("fs-ext4")
        // The request, then each dependency as the host requests it, each before its init.
        for module in ["ext4", "jbd2", "crc32c_generic"] {
            let kinds = log.kinds(for: module)
            #expect(kinds.first == .requested && kinds.filter { $0 != .requested } == [.coming, .live], "\(module): \(kinds)")
        }
        #expect(log.all.first?.kind == .requested && log.all.first?.module == "ext4")
        // A request for a live module is one more `requested`, and no transition.
        try await host.request("ext4")
        #expect(log.kinds(for: "ext4").filter { $0 == .requested }.count == 2 && log.kinds(for: "ext4").filter { $0 == .coming }.count == 1)
        // A name nothing resolves to is no event.
        await expectError(.notFound) { try await host.request("nothing-has-this") }
        #expect(!log.all.contains { $0.module == "nothing-has-this" })
    }

    @Test func aRequestFindsModulesByAlias() async throws {
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(Self.filesystem())))
        try await host.request("block:ext4")
        #expect(host.state(of: "ext4") == .live)
        try await host.request("fs-ext4")
    }

    @Test func badRequestsAreRefusedBeforeTakingASlot() async throws {
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(Self.filesystem())))
        await expectError(.invalidArgument) { try await host.request("") }
        await expectError(.invalidArgument) { try await host.request(String(repeating: "x", count: 256)) }
        await expectError(.invalidArgument) { try await host.request("ext4 jbd2") }
        let unknown = await expectError(.notFound) { try await host.request("zfs") }
        #expect(unknown?.description == "zfs: no module has this name or alias")
        #expect(host.requestStatistics == .init(capacity: 50, inFlight: 0, peak: 0, waiting: 0, timeouts: 0))
        #expect(host.modules.isEmpty)
        let noResolver = try ModuleHost(configuration: .testing())
        let disabled = await expectError(.autoloadDisabled) { try await noResolver.request("ext4") }
        #expect(disabled?.reason == "cannot be requested: autoload is disabled (the host has no resolver)")
    }

    @Test func aMissingProviderIsNotFound() async throws {
        let orphan = Linked("orphan", imports: [ImportedSymbol("nowhere", as: Int.self)])
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog([orphan])))
        let error = await expectError(.notFound) { try await host.request("orphan") }
        #expect(error?.reason == "needs unknown symbol nowhere (no module in the resolver provides it)")
    }

    @Test func aCatalogRefusesAmbiguity() throws {
        #expect(throws: ModuleError.self) { try ModuleCatalog([Linked("a"), Linked("a")]) }
        #expect(throws: ModuleError.self) {
            try ModuleCatalog([Linked("a", exports: [ExportedSymbol("x", 1)]), Linked("b", exports: [ExportedSymbol("x", 2)])])
        }
        #expect(throws: ModuleError.self) { try ModuleCatalog([Linked("bad name")]) }
    }

    @Test func manyThreadsRequestingOneModuleRunOneInit() async throws {
        let modules = Self.filesystem()
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(modules)))
        let failures = Counter()
        await onThreads(16) { _ in
            for _ in 0..<20 {
                if blocking({ () -> Bool in (try? await host.request("ext4")) == nil }) { failures.add() }
            }
        }
        #expect(failures.count == 0)
        #expect(modules.allSatisfy { $0.inits.count == 1 })
    }

    @Test func moreRequestsThanTheCapAllSucceedAndNeverExceedIt() async throws {
        // 40 distinct modules requested at once with a cap of 8. Their inits hold at a gate until
        // 8 requests are in flight and 32 wait for a slot: then every one of them may go on.
        let gate = Completion<Void>()
        let modules = (0..<40).map { index in Linked("capped_\(index)", gate: gate) }
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(modules), maxConcurrentRequests: 8))
        let failures = Counter()
        let opener = Task {
            #expect(await eventually { host.requestStatistics.inFlight == 8 && host.requestStatistics.waiting == 32 })
            gate.complete(())
        }
        await onThreads(40) { index in
            if blocking({ () -> Bool in (try? await host.request("capped_\(index)")) == nil }) { failures.add() }
        }
        await opener.value
        #expect(failures.count == 0)
        let stats = host.requestStatistics
        #expect(stats.peak == 8)
        #expect(stats.inFlight == 0 && stats.waiting == 0 && stats.timeouts == 0)
        #expect(host.modules.count == 40)
    }

    @Test func cancellingARequestQueuedForASlotEndsOnlyThatRequest() async throws {
        let gate = Completion<Void>()
        let hog = Linked("hog", gate: gate)
        let queued = Linked("queued")
        let host = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([hog, queued]), maxConcurrentRequests: 1, requestSlotTimeout: .seconds(30)))
        let first = Task { try await host.request("hog") }
        #expect(await eventually { host.requestStatistics.inFlight == 1 })
        let waiting = Task { try await host.request("queued") }
        #expect(await eventually { host.requestStatistics.waiting == 1 })
        waiting.cancel()
        let error = await expectError(.cancelled) { try await waiting.value }
        #expect(error?.module == "queued")
        #expect(await eventually { host.requestStatistics.waiting == 0 })
        // The abandoned load's name frees when its pipeline ends (with `cancelled`), just after.
        #expect(await eventually { host.state(of: "queued") == nil })
        #expect(queued.inits.count == 0)
        // The request holding the slot was not disturbed, and the slot comes back.
        gate.complete(())
        _ = try await first.value
        try await host.request("queued")
        #expect(host.requestStatistics.inFlight == 0 && host.requestStatistics.timeouts == 0)
    }

    @Test func aRequestGivesUpWaitingForASlot() async throws {
        let gate = Completion<Void>()
        let hog = Linked("hog", gate: gate)
        let host = try ModuleHost(
            configuration: .testing(
                resolver: try ModuleCatalog([hog, Linked("late")]), maxConcurrentRequests: 1,
                requestSlotTimeout: .milliseconds(20)))
        let first = Task { try await host.request("hog") }
        _ = await hog.initStarted.wait()
        let error = await expectError(.timedOut) { try await host.request("late") }
        #expect(error?.reason == "no request slot free after 0.02 seconds (1 requests in flight: hog)")
        #expect(host.state(of: "late") == nil)
        gate.complete(())
        _ = try await first.value
        // Slots came back: a new request runs.
        try await host.request("late")
        #expect(host.requestStatistics.inFlight == 0)
        #expect(host.requestStatistics.timeouts == 1)
    }

    @Test func requestsFromInsideInitWork() async throws {
        let helper = Linked("helper")
        let parent = Linked("parent") { context in
            try await context.host!.request("helper")
            #expect(context.host!.state(of: "helper") == .live)
        }
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog([parent, helper]), maxConcurrentRequests: 1))
        // With one slot, the nested request must not need another (it runs on the parent's).
        try await host.request("parent")
        #expect(helper.inits.count == 1)
    }

    @Test func independentDependenciesLoadInParallel() async throws {
        // Each dependency's init waits until the other's has started: loaded one after the
        // other, the first gives up after ~10 s and counts a miss.
        let started = Counter()
        let met = Counter()
        let rendezvous: @Sendable (ModuleContext) async throws -> Void = { _ in
            started.add()
            if await eventually({ started.count >= 2 }) { met.add() }
        }
        let left = Linked("left", exports: [ExportedSymbol("l", 1)], onInit: rendezvous)
        let right = Linked("right", exports: [ExportedSymbol("r", 2)], onInit: rendezvous)
        let top = Linked("top", imports: [ImportedSymbol("l", as: Int.self), ImportedSymbol("r", as: Int.self)])
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog([top, left, right])))
        try await host.request("top")
        #expect(met.count == 2, "the dependencies did not load at the same time")
        #expect(host.info(of: "top")?.uses == ["left", "right"])
    }

    @Test func parametersAreGivenToTheRequestedModule() async throws {
        let tunable = Linked("tunable", parameters: [ModuleParameter("debug", .int, default: .int(0))])
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog([tunable])))
        try await host.request("tunable", parameters: "debug=3")
        #expect(host.info(of: "tunable")?.parameters.int("debug") == 3)
    }

    @Test func anInitRequestingAQueuedModuleTakesItOverInsteadOfWaitingForItsSlot() async throws {
        // Cap 1: `first` holds the slot; a top-level request for `second` queues for it; then
        // first's init requests `second`. The queued load becomes part of first's and runs on
        // its slot — instead of both waiting until the slot timeout.
        let queued = Counter()
        let second = Linked("second")
        let first = Linked("first") { context in
            #expect(await eventually { queued.count == 1 })
            try await context.host!.request("second")
        }
        let host = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([first, second]), maxConcurrentRequests: 1,
                requestSlotTimeout: .seconds(30)))
        let top = Task { try await host.request("first") }
        _ = await first.initStarted.wait()
        let other = Task { try await host.request("second") }
        #expect(await eventually { host.requestStatistics.waiting == 1 })
        queued.store(1)
        _ = try await top.value
        _ = try await other.value
        #expect(second.inits.count == 1)
        #expect(host.requestStatistics.timeouts == 0)
    }

    @Test func bindingAQueuedDependencyTakesItOverToo() async throws {
        // Cap 1: `holder` holds the slot; `app` (imports from `lib`) and then `lib` queue. When
        // holder finishes, app gets the slot and its binding requests lib — still queued behind
        // app's own slot. The binding takes lib over.
        let gate = Completion<Void>()
        let holder = Linked("holder", gate: gate)
        let lib = Linked("lib", exports: [ExportedSymbol("lib_call", 1)])
        let app = Linked("app", imports: [ImportedSymbol("lib_call", as: Int.self)])
        let host = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([holder, lib, app]), maxConcurrentRequests: 1,
                requestSlotTimeout: .seconds(30)))
        let h = Task { try await host.request("holder") }
        _ = await holder.initStarted.wait()
        let a = Task { try await host.request("app") }
        #expect(await eventually { host.requestStatistics.waiting == 1 })
        let l = Task { try await host.request("lib") }
        #expect(await eventually { host.requestStatistics.waiting == 2 })
        gate.complete(())
        _ = try await h.value
        _ = try await a.value
        _ = try await l.value
        #expect(host.info(of: "lib")?.usedBy == ["app"])
        #expect(host.requestStatistics.timeouts == 0)
    }

    @Test func theSlotIsReturnedBeforeTheCallerIsAnswered() async throws {
        let modules = (0..<100).map { Linked("quick_\($0)") }
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(modules), maxConcurrentRequests: 1))
        for index in 0..<100 {
            try await host.request("quick_\(index)")
            #expect(host.requestStatistics.inFlight == 0)
        }
    }

    @Test func requestsFromTasksAnInitStartsStillCountAgainstTheCap() async throws {
        // Cap 2: the spawner holds one slot while its background task requests five workers, so
        // at most one worker init may run at a time (a background task is not the spawner's
        // own work, so its requests take slots like any top-level request).
        let running = Counter()
        let mostAtOnce = Locked(0)
        let workers = (0..<5).map { index in
            Linked("worker_\(index)") { _ in
                running.add()
                mostAtOnce.withLock { $0 = max($0, running.count) }
                try await Task.sleep(for: .milliseconds(5))
                running.add(-1)
            }
        }
        let spawner = Linked("spawner") { context in
            let host = context.host!
            let background = Task {
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<5 { group.addTask { _ = try? await host.request("worker_\(index)") } }
                }
            }
            await background.value
        }
        let host = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([spawner] + workers), maxConcurrentRequests: 2,
                requestSlotTimeout: .seconds(60)))  // a loaded machine must not time a worker out
        try await host.request("spawner")
        #expect(workers.allSatisfy { $0.inits.count == 1 })
        #expect(mostAtOnce.withLock { $0 } == 1)
        #expect(host.requestStatistics.peak == 2)
    }
}
