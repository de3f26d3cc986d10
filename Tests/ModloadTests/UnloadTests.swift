import Testing
@testable import Modload

@Suite("Unloading")
struct UnloadTests {
    @Test func failFastUnloadRunsExitOnceAndForgetsTheModule() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let module = TestModule("usb")
        try await host.insert(module)
        let outcome = try await host.unload("usb")
        #expect(outcome == .init(module: "usb", mode: .failFast, overriddenReferences: 0, drainedReferences: 0, image: nil))
        #expect(module.exitCalls == 1)
        #expect(host.state(of: "usb") == nil)
        #expect(log.kinds(for: "usb") == [.coming, .live, .going, .gone])
        #expect(host.statistics(of: "usb")?.unloads == 1)
        // It can be loaded again: a new init.
        let again = TestModule("usb")
        try await host.insert(again)
        #expect(again.initCalls == 1)
    }

    @Test func failFastRefusesWhileReferencesAreHeld() async throws {
        let host = try ModuleHost(configuration: .testing(tracksReferenceHolders: true))
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let module = TestModule("fs")
        try await host.insert(module)
        let a = try host.acquire("fs", holder: "mount")
        let b = try host.acquire("fs", holder: "mount")
        let error = await expectError(.wouldBlock) { try await host.unload("fs") }
        #expect(error?.holders?.references == 2)
        #expect(error?.holders?.referenceHolders == ["mount": 2])
        #expect(error?.state == .live)
        #expect(error?.description == "fs (live): is in use; held by 2 references (mount×2)")
        #expect(log.kinds(for: "fs").last == .unloadRefused)
        // Nothing changed: still live, same count, still usable, no exit.
        #expect(host.state(of: "fs") == .live)
        #expect(host.info(of: "fs")?.refcount == 2)
        let c = try host.acquire("fs")
        #expect(module.exitCalls == 0)
        a.release()
        b.release()
        c.release()
        try await host.unload("fs")
        #expect(module.exitCalls == 1)
    }

    @Test func unloadOfAComingModuleIsBusy() async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let module = TestModule("starting", gate: gate)
        let load = Task { try await host.insert(module) }
        _ = await module.initStarted.wait()
        for mode in [ModuleHost.UnloadMode.failFast, .force, .drain(timeout: .seconds(1))] {
            let error = await expectError(.busy) { try await host.unload("starting", mode: mode) }
            #expect(error?.state == .coming)
        }
        gate.complete(())
        _ = try await load.value
        #expect(host.state(of: "starting") == .live)
        #expect(host.taints.isEmpty)
    }

    @Test func unloadOfAGoingModuleIsBusyAndSoAreLoads() async throws {
        let host = try ModuleHost(configuration: .testing())
        let exitGate = Completion<Void>()
        let module = TestModule("stopping", exitGate: exitGate)
        try await host.insert(module)
        let unload = Task { try await host.unload("stopping") }
        _ = await module.exitStarted.wait()
        let error = await expectError(.busy) { try await host.unload("stopping") }
        #expect(error?.state == .going)
        await expectError(.busy) { try await host.insert(TestModule("stopping")) }
        await expectError(.busy) { try await host.ensureLoaded(TestModule("stopping")) }
        #expect(host.info(of: "stopping")?.state == .going)
        #expect(host.info(of: "stopping")?.refcount == -1)
        exitGate.complete(())
        _ = try await unload.value
        #expect(module.exitCalls == 1)
        try await host.ensureLoaded(TestModule("stopping"))
    }

    @Test func forceOverridesReferencesAndTaints() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = TestModule("stuck")
        try await host.insert(module)
        let a = try host.acquire("stuck")
        let b = a.duplicate()
        #expect(host.taints.isEmpty)
        let outcome = try await host.unload("stuck", mode: .force)
        #expect(outcome.overriddenReferences == 2)
        #expect(host.taints == .forcedUnload)
        #expect(host.taints.description == "R")
        #expect(module.exitCalls == 1)
        #expect(host.state(of: "stuck") == nil)
        // The orphaned references stay memory-safe and say what happened.
        #expect(a.state == .gone)
        #expect(a.definition(as: TestModule.self) === module)
        #expect(a.record.refs.reading.references == 2)  // base removed; two holders left
        a.release()
        b.release()
        #expect(module.exitCalls == 1)
    }

    @Test func forceWithoutReferencesDoesNotTaint() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("idle"))
        let outcome = try await host.unload("idle", mode: .force)
        #expect(outcome.overriddenReferences == 0)
        #expect(host.taints.isEmpty)
    }

    @Test func drainWaitsForHoldersThenUnloads() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = TestModule("busy_dev")
        try await host.insert(module)
        let ref = try host.acquire("busy_dev")
        let drain = Task { try await host.unload("busy_dev", mode: .drain(timeout: .seconds(30))) }
        #expect(await eventually { host.info(of: "busy_dev")?.isUnloading == true })
        // While draining: still live, but no new references, same-name loads busy, no exit yet.
        #expect(host.state(of: "busy_dev") == .live)
        #expect(host.listing().contains("Unloading"))
        await expectError(.busy) { _ = try host.acquire("busy_dev") }
        await expectError(.busy) { try await host.insert(TestModule("busy_dev")) }
        #expect(module.exitCalls == 0)
        ref.release()
        let outcome = try await drain.value
        #expect(outcome.drainedReferences == 1)
        #expect(module.exitCalls == 1)
        #expect(host.state(of: "busy_dev") == nil)
        #expect(host.taints.isEmpty)
    }

    @Test func drainTimeoutRestoresTheModuleAndSaysWhoHoldsIt() async throws {
        let host = try ModuleHost(configuration: .testing(tracksReferenceHolders: true))
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let module = TestModule("db")
        try await host.insert(module)
        let ref = try host.acquire("db", holder: "query-7")
        let error = await expectError(.timedOut) { try await host.unload("db", mode: .drain(timeout: .milliseconds(10))) }
        #expect(error?.holders?.referenceHolders == ["query-7": 1])
        #expect(error?.state == .live)
        // A refused unload changes no state: nobody saw `going`.
        #expect(log.kinds(for: "db") == [.coming, .live, .unloadRefused])
        // Live, usable, count intact, no exit.
        #expect(host.state(of: "db") == .live)
        #expect(host.info(of: "db")?.refcount == 1)
        let another = try host.acquire("db")
        #expect(module.exitCalls == 0)
        ref.release()
        another.release()
        try await host.unload("db")
        #expect(module.exitCalls == 1)
    }

    @Test func unloadDuringAFailedLoadsRollbackSaysSo() async throws {
        let host = try ModuleHost(configuration: .testing())
        let name = try ModuleName(validating: "half")
        let record = ModuleRecord(
            name: name, definition: TestModule("half"), context: host.testContext(for: name), statistics: NameStatistics())
        record.setState(.going)
        host.table.write { t in
            t.insert(record)
            t.running["half"] = RunningLoad(record: record)
        }
        let error = await expectError(.busy) { try await host.unload("half") }
        #expect(error?.description == "half (going): its load failed and it is being removed")
    }

    @Test func drainCancelledBeforeItBeginsChangesNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        try await host.insert(TestModule("db"))
        let ref = try host.acquire("db")
        let drain = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await host.unload("db", mode: .drain(timeout: .seconds(60)))
        }
        await expectError(.cancelled) { _ = try await drain.value }
        #expect(log.kinds(for: "db") == [.coming, .live])
        #expect(host.state(of: "db") == .live)
        ref.release()
    }

    @Test func cancelledDrainRestoresTheModule() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("db"))
        let ref = try host.acquire("db")
        let drain = Task { try await host.unload("db", mode: .drain(timeout: .seconds(60))) }
        #expect(await eventually { host.info(of: "db")?.isUnloading == true })
        drain.cancel()
        await expectError(.cancelled) { _ = try await drain.value }
        #expect(host.state(of: "db") == .live)
        #expect(host.info(of: "db")?.refcount == 1)
        ref.release()
    }

    @Test func negativeDrainTimeoutIsRefusedAndChangesNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = TestModule("m")
        try await host.insert(module)
        let error = await expectError(.invalidArgument) {
            try await host.unload("m", mode: .drain(timeout: .milliseconds(-5)))
        }
        #expect(error?.description == "m: drain timeout must not be negative (got -0.005 seconds)")
        #expect(host.state(of: "m") == .live)
        #expect(module.exitCalls == 0)
    }

    @Test func drainWithNothingHeldUnloadsAtOnce() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = TestModule("free")
        try await host.insert(module)
        let outcome = try await host.unload("free", mode: .drain(timeout: .seconds(60)))
        #expect(outcome.drainedReferences == 0)
        #expect(module.exitCalls == 1)
    }

    @Test func noLockIsHeldAcrossExit() async throws {
        // An exit that waits, and calls the host while it does: other loads, unloads, lookups and
        // requests all go on meanwhile, and the exit's own calls into the host do not deadlock.
        let exitGate = Completion<Void>()
        let seenFromExit = Locked<[String]>([])
        let slow = BuiltinModule(name: "slow_exit") { _ in } exit: { context in
            let host = context.host!
            seenFromExit.withLock { $0.append("\(host.state(of: "slow_exit").map(\.description) ?? "none")") }
            _ = try? await host.request("helper")
            seenFromExit.withLock { $0.append("\(host.state(of: "helper").map(\.description) ?? "none")") }
            _ = await exitGate.wait(timeout: .seconds(30))
        }
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog([Linked("helper"), Linked("other")])))
        try await host.insert(slow)
        let unload = Task { try await host.unload("slow_exit") }
        #expect(await eventually { seenFromExit.withLock { $0.count } == 2 })
        // The exit is parked at its gate: everything else works.
        try await host.insert(BuiltinModule(name: "during_exit"))
        try await host.request("other")
        try await host.unload("during_exit")
        #expect(host.info(of: "slow_exit")?.state == .going)
        #expect(host.modules.map(\.name).contains("other"))
        exitGate.complete(())
        _ = try await unload.value
        #expect(seenFromExit.withLock { $0 } == ["going", "live"])
        #expect(host.state(of: "slow_exit") == nil)
    }
}
