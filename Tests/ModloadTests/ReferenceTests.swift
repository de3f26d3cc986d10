import Testing
@testable import Modload

/// A module whose init fails after a gate, counting its own release.
final class FailingTracked: ModuleDefinition {
    let name: String
    let released: Counter
    let gate: Completion<Void>
    let started: Completion<Void>
    init(name: String, released: Counter, gate: Completion<Void>, started: Completion<Void>) {
        self.name = name
        self.released = released
        self.gate = gate
        self.started = started
    }
    func initialize(_ context: ModuleContext) async throws {
        started.complete(())
        _ = await gate.wait()
        throw noDevice
    }
    deinit { released.add() }
}

@Suite("References and the base-count algorithm")
struct ReferenceTests {
    // RefCount is ~Copyable, which #expect cannot capture: read values into locals first.

    /// A count as a live module has it.
    private func liveCount() -> RefCount {
        let refs = RefCount()
        refs.setRawState(ModuleState.live.rawValue)
        return refs
    }

    @Test func tryGetRequiresComingOrLiveWithNoUnloadBegun() throws {
        let refs = RefCount()
        let unformed = refs.tryGet()
        refs.setRawState(ModuleState.coming.rawValue)
        let coming = refs.tryGet()
        refs.setRawState(ModuleState.live.rawValue | RefCount.unloadingFlag)
        let unloading = refs.tryGet()
        refs.setRawState(ModuleState.going.rawValue)
        let going = refs.tryGet()
        refs.setRawState(ModuleState.live.rawValue)
        let live = refs.tryGet()
        let reading = refs.reading  // state changes never touched the count
        #expect(!unformed && coming && !unloading && !going && live)
        #expect(reading.references == 3 && reading.state == .live && !reading.isUnloading)
    }

    @Test func refCountStartsWithTheInitReference() throws {
        let refs = RefCount()
        let atLoad = refs.reading.reported
        let afterInit = refs.put()
        let settled = refs.reading.reported
        #expect(atLoad == 1)
        #expect(afterInit == .held)
        #expect(settled == 0)
    }

    @Test func tryReleaseFreezesAnUnheldCountAndMarksItUnloadingInOneStep() throws {
        let refs = liveCount()
        _ = refs.put()  // drop the init reference
        let held = refs.freezeIfUnreferenced()
        let reading = refs.reading
        let gotAfterFreeze = refs.tryGet()
        #expect(held == 0)
        #expect(reading.isUnloading && reading.isFrozen && reading.reported == -1)
        #expect(!gotAfterFreeze)
    }

    @Test func tryReleaseOfAHeldCountChangesNothing() throws {
        let refs = liveCount()
        _ = refs.put()
        let got = refs.tryGet()
        let before = refs.reading
        let held = refs.freezeIfUnreferenced()
        let after = refs.reading
        let gotAgain = refs.tryGet()
        #expect(got && held == 1)
        #expect(before == after)  // not even for an instant: the word was never written
        #expect(after.state == .live && !after.isUnloading && after.references == 1)
        #expect(gotAgain)
    }

    @Test func aPutDuringADrainFreezesTheCountAndTheDrainCannotBeCancelled() throws {
        // The race the stop_machine removal (docs/design.md §1) handles: the last holder releases
        // after the base was removed but before it is restored. Restoring must fail and the count
        // stay frozen.
        let refs = liveCount()
        _ = refs.put()
        _ = refs.tryGet()
        let held = refs.beginUnloading()
        let draining = refs.reading
        let afterPut = refs.put()
        let restored = refs.cancelUnloading()
        let reading = refs.reading
        let got = refs.tryGet()
        #expect(held == 1)
        #expect(draining.isUnloading && draining.references == 1 && draining.reported == 1)
        #expect(afterPut == .frozen)
        #expect(!restored)
        #expect(reading.reported == -1)
        #expect(!got)
    }

    @Test func aCancelledDrainRestoresTheBaseAndClearsTheMarkInOneStep() throws {
        let refs = liveCount()
        _ = refs.put()
        _ = refs.tryGet()
        _ = refs.beginUnloading()
        let restored = refs.cancelUnloading()
        let reading = refs.reading
        #expect(restored)
        #expect(reading.state == .live && !reading.isUnloading && reading.references == 1)
    }

    @Test func aRefusedCleanupReinstatesAFrozenCount() throws {
        let refs = liveCount()
        _ = refs.put()
        _ = refs.freezeIfUnreferenced()
        refs.reinstate()
        let reading = refs.reading
        let got = refs.tryGet()
        #expect(reading.state == .live && !reading.isUnloading && reading.references == 0)
        #expect(got)
    }

    @Test func aFailedLoadGoesGoingWithoutItsBaseAndInitReference() throws {
        let refs = RefCount()
        refs.setRawState(ModuleState.coming.rawValue)
        _ = refs.tryGet()  // a reference taken while coming
        let remaining = refs.failLoad()
        let reading = refs.reading
        #expect(remaining == 1)
        #expect(reading.state == .going && reading.references == 1)
    }

    @Test func putNeverGoesBelowZero() throws {
        let refs = liveCount()
        _ = refs.put()
        _ = refs.freezeIfUnreferenced()
        let underflow = refs.put()
        let reported = refs.reading.reported
        #expect(underflow == .underflow)
        #expect(reported == -1)
    }

    @Test func anUnreferencedCountIsNotOrphaned() throws {
        let refs = liveCount()
        _ = refs.put()
        _ = refs.beginUnloading()
        let orphaned = refs.orphan()
        let got = refs.tryGet()
        let reported = refs.reading.reported
        #expect(!orphaned)
        #expect(!got)
        #expect(reported == -1)
    }

    @Test func anOrphanedCountFreezesAndItsLastPutSaysSo() throws {
        let refs = liveCount()
        _ = refs.put()
        _ = refs.tryGet()
        _ = refs.tryGet()
        _ = refs.beginUnloading()  // forced: two references remain
        let orphaned = refs.orphan()
        let got = refs.tryGet()  // an orphan counts as frozen for try-get
        refs.getHeld()  // a holder can still duplicate
        let first = refs.put()
        let second = refs.put()
        let last = refs.put()
        #expect(orphaned)
        #expect(!got)
        #expect(first == .held)
        #expect(second == .held)
        #expect(last == .lastOfOrphan)
    }

    @Test func referenceEndReleasesIt() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("disk"))
        do {
            let ref = try host.acquire("disk")
            #expect(host.info(of: "disk")?.refcount == 1)
            #expect(ref.state == .live)
        }
        #expect(host.info(of: "disk")?.refcount == 0)
        let ref = try host.acquire("disk")
        let second = ref.duplicate()
        #expect(host.info(of: "disk")?.refcount == 2)
        ref.release()
        #expect(host.info(of: "disk")?.refcount == 1)
        second.release()
        #expect(host.info(of: "disk")?.refcount == 0)
    }

    @Test func referenceGivesTheDefinitionInstance() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = TestModule("driver", version: "2.1")
        try await host.insert(module)
        let ref = try host.acquire("driver")
        #expect(ref.definition(as: TestModule.self) === module)
        #expect(ref.definition(as: BuiltinModule.self) == nil)
        #expect(ref.definition.version == "2.1")
        #expect(ref.name == "driver")
    }

    @Test func noReferenceToAGoingModule() async throws {
        let host = try ModuleHost(configuration: .testing())
        let exitGate = Completion<Void>()
        let module = TestModule("leaving", exitGate: exitGate)
        try await host.insert(module)
        let unload = Task { try await host.unload("leaving") }
        _ = await module.exitStarted.wait()
        let error = await expectError(.busy) { _ = try host.acquire("leaving") }
        #expect(error?.state == .going)
        exitGate.complete(())
        _ = try await unload.value
        await expectError(.notFound) { _ = try host.acquire("leaving") }
    }

    @Test func referencesOutlivingAForcedUnloadKeepTheRecordUntilTheLastOne() async throws {
        let host = try ModuleHost(configuration: .testing())
        let released = Counter()
        try await host.insert(ReleaseTracking(name: "forced", released: released))
        let a = try host.acquire("forced")
        let b = a.duplicate()
        try await host.unload("forced", mode: .force)
        await Quiescence.barrier()  // the table's own hold on the record is gone by now
        #expect(released.count == 0)
        #expect(a.state == .gone)
        #expect(a.definition.name == "forced")
        a.release()
        #expect(released.count == 0)
        b.release()  // the last reference frees the record
        #expect(released.count == 1)
    }

    @Test func aReferenceTakenWhileComingOutlivesAFailedInit() async throws {
        let host = try ModuleHost(configuration: .testing())
        let released = Counter()
        let gate = Completion<Void>()
        let started = Completion<Void>()
        let load = Task { try await host.insert(FailingTracked(name: "doomed", released: released, gate: gate, started: started)) }
        _ = await started.wait()
        let ref = try host.acquire("doomed")
        gate.complete(())
        await expectError(.initFailed) { try await load.value }
        await Quiescence.barrier()
        #expect(ref.state == .gone)
        #expect(released.count == 0)
        ref.release()
        #expect(released.count == 1)
    }

    @Test func aHandleAcquiresWithoutALookupAndKnowsWhenItsModuleIsGone() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("disk"))
        let handle = try host.handle(of: "disk")
        let ref = try handle.acquire()
        #expect(ref.handle == handle)
        #expect(host.info(of: "disk")?.refcount == 1)
        ref.release()
        try await host.unload("disk")
        #expect(handle.state == .gone)
        await expectError(.busy) { _ = try handle.acquire() }
        try await host.insert(TestModule("disk"))  // a new module of the name is not this handle's
        await expectError(.busy) { _ = try handle.acquire() }
        #expect(try host.handle(of: "disk") != handle)
        await expectError(.notFound) { _ = try host.handle(of: "absent") }
    }

    @Test func holderLabelsAreTrackedWhenConfigured() async throws {
        let host = try ModuleHost(configuration: .testing(tracksReferenceHolders: true))
        try await host.insert(TestModule("net"))
        let a = try host.acquire("net", holder: "http")
        let b = try host.acquire("net", holder: "http")
        let c = try host.acquire("net", holder: "dns")
        let d = try host.acquire("net")
        let report = try host.holders(of: "net")
        #expect(report.references == 4)
        #expect(report.referenceHolders == ["http": 2, "dns": 1])
        #expect(report.summary == "held by 4 references (dns×1, http×2, 1 unnamed)")
        a.release()
        c.release()
        #expect(try host.holders(of: "net").referenceHolders == ["http": 1])
        b.release()
        d.release()
    }

    @Test func holderLabelsAreIgnoredByDefault() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("net"))
        let ref = try host.acquire("net", holder: "http")
        #expect(try host.holders(of: "net").referenceHolders.isEmpty)
        #expect(try host.holders(of: "net").references == 1)
        ref.release()
    }
}
