import Synchronization
import Testing
@testable import Modload

/// Live replace: a new generation while the old one keeps serving, drains, refresh.
@Suite("Live replace")
struct ReplaceTests {
    /// A service module: says which generation it is, counts calls, knows whether its exit ran.
    final class Service: ModuleDefinition {
        let name: String
        let generation: Int
        let failure: ModuleError?
        let handoverFails: Bool
        let accounting: ModuleAccounting
        private let exited = Atomic<Bool>(false)
        private let calls = Atomic<Int>(0)
        /// What this generation took over from the previous one.
        let inherited = Atomic<Int>(-1)

        init(
            _ name: String = "svc", generation: Int, failure: ModuleError? = nil, handoverFails: Bool = false,
            accounting: ModuleAccounting = .counting
        ) {
            self.name = name
            self.generation = generation
            self.failure = failure
            self.handoverFails = handoverFails
            self.accounting = accounting
        }

        var exports: [ExportedSymbol] { [ExportedSymbol("\(name)_generation", generation)] }
        var hasExited: Bool { exited.load(ordering: .acquiring) }
        var callCount: Int { calls.load(ordering: .acquiring) }

        /// A call into the module; `false` if it landed on a generation whose exit already ran.
        func call() -> Bool {
            calls.add(1, ordering: .relaxed)
            return !hasExited
        }

        func initialize(_ context: ModuleContext) async throws {
            if let failure { throw failure }
        }
        func takeOver(from previous: any ModuleDefinition, _ context: ModuleContext) async throws {
            if handoverFails { throw ModuleError(.invalidArgument, reason: "cannot read the old state") }
            if let previous = previous as? Service { inherited.store(previous.callCount, ordering: .releasing) }
        }
        func exit(_ context: ModuleContext) async { exited.store(true, ordering: .releasing) }
    }

    @Test func aFailingNewGenerationLeavesTheOldOneServing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let v1 = Service(generation: 1)
        try await host.insert(v1)
        let failing = Service(generation: 2, failure: ModuleError(.noDevice, reason: "no device for v2"))
        let error = await expectError(.initFailed) { try await host.replace("svc", with: failing) }
        #expect(error?.module == "svc")
        #expect(host.info(of: "svc")?.generation == 1)
        #expect(host.info(of: "svc")?.state == .live)
        #expect(try host.acquire("svc").definition(as: Service.self) === v1)
        #expect(host.symbol(named: "svc_generation")?.exporterState == .live)
        #expect(!v1.hasExited)
        // A throwing handover aborts too; v2's exit runs, v1 is untouched.
        let refusing = Service(generation: 2, handoverFails: true)
        let handover = await expectError(.initFailed) { try await host.replace("svc", with: refusing) }
        #expect(handover?.reason.contains("state handover") == true)
        #expect(refusing.hasExited)
        #expect(try host.acquire("svc").definition(as: Service.self) === v1)
        // And a definition of another name is refused before anything runs.
        await expectError(.invalidArgument) { try await host.replace("svc", with: Service("other", generation: 2)) }
        await expectError(.notFound) { try await host.replace("absent", with: Service("absent", generation: 1)) }
    }

    @Test func aHeldReferenceKeepsWorkingAfterTheSwitchWhileNewAcquiresGetTheNewGeneration() async throws {
        let host = try ModuleHost(configuration: .testing(tracksReferenceHolders: true))
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let v1 = Service(generation: 1)
        try await host.insert(v1)
        let held = try host.acquire("svc", holder: "long-call")
        let v2 = Service(generation: 2)
        let outcome = try await host.replace("svc", with: v2, options: .init(drainTimeout: .milliseconds(50)))
        #expect(outcome.generation == 2 && outcome.previousGeneration == 1)
        #expect(v2.inherited.load(ordering: .acquiring) == 0)
        // Soft drain timed out: v1 is old, its holder named.
        guard case .old(let holders) = outcome.previous else {
            Issue.record("expected v1 to stay old, got \(outcome.previous)")
            return
        }
        #expect(holders.referenceHolders == ["long-call": 1])
        #expect(held.definition(as: Service.self)?.call() == true)
        #expect(held.state == .old)
        #expect(try host.acquire("svc").definition(as: Service.self) === v2)
        #expect(host.modules.map { "\($0.name) \($0.generation) \($0.state)" } == ["svc 2 live", "svc 1 old"])
        #expect(host.listing().contains("Old [generation 1]"))
        await expectError(.busy) { _ = try ModuleHandle(record: held.record).acquire() }
        // The last holder lets go: v1 goes by itself.
        held.release()
        #expect(await eventually { host.modules.count == 1 })
        #expect(v1.hasExited)
        let transitions = log.all.compactMap { event in event.generation.map { "\(event.kind) \($0)" } }
        #expect(transitions == ["coming 1", "live 1", "coming 2", "live 2", "old 1", "going 1", "gone 1"])
    }

    @Test func aThirdGenerationWhileTheOldOneDrainsIsNotPurgedUnlessBrutal() async throws {
        let host = try ModuleHost(configuration: .testing(tracksReferenceHolders: true))
        try await host.insert(Service(generation: 1))
        let held = try host.acquire("svc", holder: "stuck")
        try await host.replace("svc", with: Service(generation: 2), options: .init(drainTimeout: .zero))
        let refused = await expectError(.notPurged) { try await host.replace("svc", with: Service(generation: 3)) }
        #expect(refused?.holders?.referenceHolders == ["stuck": 1])
        #expect(host.info(of: "svc")?.generation == 2)
        // Brutal: the old generation is purged first (its reference revoked), then the replace.
        let outcome = try await host.replace("svc", with: Service(generation: 3), options: .init(drainTimeout: .zero, purge: .brutal))
        #expect(outcome.generation == 3)
        #expect(held.state == .gone)
        #expect(host.taints.contains(.forcedUnload))
        #expect(host.modules.map(\.generation) == [3])
    }

    @Test func aDrainThatEndsInTimeFreesTheOldGeneration() async throws {
        let host = try ModuleHost(configuration: .testing())
        let v1 = Service(generation: 1)
        try await host.insert(v1)
        let acquired = Completion<Void>()
        let release = Task {
            let held = try host.acquire("svc")
            acquired.complete(())
            try await Task.sleep(for: .milliseconds(30))
            held.release()
        }
        _ = await acquired.wait()
        let outcome = try await host.replace("svc", with: Service(generation: 2), options: .init(drainTimeout: .seconds(30)))
        try await release.value
        #expect(outcome.previous == .gone(drainedReferences: 1, image: nil))
        #expect(v1.hasExited)
        #expect(host.modules.map(\.generation) == [2])
    }

    @Test func refreshRebindsAnImporterToTheNewGeneration() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Service(generation: 1))
        let bound = Locked([Int]())
        let importer = BuiltinModule(
            name: "client", imports: [ImportedSymbol("svc_generation", as: Int.self)],
            initialize: { context in
                let generation = context.imports.symbol("svc_generation", as: Int.self)
                bound.withLock { $0.append(generation ?? -1) }
            })
        try await host.insert(importer)
        let outcome = try await host.replace("svc", with: Service(generation: 2), options: .init(drainTimeout: .milliseconds(20)))
        guard case .old(let holders) = outcome.previous else {
            Issue.record("the importer should pin v1, got \(outcome.previous)")
            return
        }
        #expect(holders.dependents == ["client"])
        #expect(host.info(of: "client")?.uses == ["svc"])
        let refreshed = try await host.refresh(["svc"])
        #expect(refreshed == ["client"])
        #expect(bound.withLock { $0 } == [1, 2])
        #expect(await eventually { host.modules.count == 2 })
        #expect(host.modules.map { "\($0.name) \($0.generation)" } == ["client 2", "svc 2"])
        // refreshDependents does it as part of the replace, and v2 then drains at once.
        let third = try await host.replace("svc", with: Service(generation: 3), options: .init(refreshDependents: true))
        #expect(third.refreshed == ["client"])
        #expect(third.previous == .gone(drainedReferences: 1, image: nil))  // the client's, until refreshed
        #expect(bound.withLock { $0 } == [1, 2, 3])
    }

    @Test func noncountingCallsLandOnTheCurrentGeneration() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Service(generation: 1, accounting: .noncounting))
        try await host.replace("svc", with: Service(generation: 2, accounting: .noncounting))
        let generation = try host.withModule("svc", as: Service.self) { (service) throws(ModuleError) in service.generation }
        #expect(generation == 2)
    }

    @Test func unloadsAndReplacesOfANameBeingReplacedAreRefused() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Service(generation: 1))
        let gate = Completion<Void>()
        let slow = TestModule("svc", gate: gate)
        let replace = Task { try await host.replace("svc", with: slow) }
        _ = await slow.initStarted.wait()
        let unload = await expectError(.busy) { try await host.unload("svc") }
        #expect(unload?.reason.contains("being replaced") == true)
        await expectError(.busy) { try await host.replace("svc", with: Service(generation: 3)) }
        gate.complete(())
        #expect(try await replace.value.generation == 2)
    }

    @Test func aModuleFileIsReplacedByARebuiltCopyAndTheOldImageUnmapped() async throws {
        let folder = try ModuleFolder()
        let v1 = try await folder.copy(.checksum, as: "libchecksum-1.so")
        let v2 = try await folder.copy(.checksum, as: "libchecksum-2.so", defines: ["CHECKSUM_VERSION=\"2.0\""])
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: v1)
        // The very file version it runs is refused: the generations would share one image.
        let same = await expectError(.invalidArgument) { try await host.replace("checksum", withFile: v1) }
        #expect(same?.reason.contains("changed file") == true)
        #expect(host.fileStatistics.mapped == 2 && host.fileStatistics.unmapped == 0)  // a share, released
        let held = try host.acquire("checksum")
        let crc = try held.export("checksum_crc32c", as: (@convention(c) (UInt32, UnsafeRawPointer?, UInt) -> UInt32).self)
        let outcome = try await host.replace("checksum", withFile: v2, options: .init(drainTimeout: .milliseconds(10)))
        #expect(outcome.file?.metadata.version == "2.0")
        // v1 still mapped and callable through the held reference.
        #expect(crc(0, "123456789", 9) == 0xe306_9283)
        #expect(mappings(of: v1).contains { $0.contains("libchecksum-1.so") })
        held.release()
        #expect(await eventually { host.modules.count == 1 })
        #expect(await eventually { !mappings(of: v1).contains { $0.contains("libchecksum-1.so") } })
        #expect(host.info(of: "checksum")?.version == "2.0")
        #expect(host.fileStatistics.unmapped == 1)
    }

    @Test func aSwiftModuleFileIsReplacedAndTheOldImageRetired() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let v1 = try await folder.copy(.journal, as: "libjournal-1.so")
        let v2 = try await folder.copy(.journal, as: "libjournal-2.so")
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: checksum)
        try await host.insert(file: v1)
        let outcome = try await host.replace("journal", withFile: v2)
        #expect(outcome.previous == .gone(drainedReferences: 0, image: .retired(reason: "it contains Swift code")))
        #expect(host.info(of: "journal")?.file == v2)
        #expect(host.info(of: "checksum")?.usedBy == ["journal"])
    }
}
