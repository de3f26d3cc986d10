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

    @Test func tryGetRequiresComingOrLiveWithNoUnloadBegun() {
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
        let reported = refs.reported  // state changes never touched the count
        let state = refs.rawState
        #expect(!unformed && coming && !unloading && !going && live)
        #expect(reported == 3)
        #expect(state == ModuleState.live.rawValue)
    }

    /// Try-release as fail-fast unload does it: `true` if the count froze.
    private func tryRelease(_ refs: borrowing RefCount) -> Bool {
        refs.removeBase() == 0 || !refs.restoreBase()
    }

    @Test func refCountStartsWithTheInitReference() {
        let refs = RefCount()
        let atLoad = refs.reported
        let afterInit = refs.put()
        let settled = refs.reported
        #expect(atLoad == 1)
        #expect(afterInit == .held)
        #expect(settled == 0)
    }

    @Test func tryReleaseFreezesAnUnheldCount() {
        let refs = RefCount()
        _ = refs.put()  // drop the init reference
        let frozen = tryRelease(refs)
        let reported = refs.reported
        let gotAfterFreeze = refs.tryGet()
        let reportedAfter = refs.reported
        #expect(frozen)
        #expect(reported == -1)
        #expect(!gotAfterFreeze)
        #expect(reportedAfter == -1)
    }

    @Test func tryReleaseRestoresAHeldCount() {
        let refs = liveCount()
        _ = refs.put()
        let got = refs.tryGet()
        let frozen = tryRelease(refs)
        let reported = refs.reported
        let gotAgain = refs.tryGet()
        let reportedAfter = refs.reported
        #expect(got)
        #expect(!frozen)
        #expect(reported == 1)
        #expect(gotAgain)
        #expect(reportedAfter == 2)
    }

    @Test func aPutBetweenRemoveAndRestoreFreezesTheCount() {
        // The race seed 001 handles: the last holder releases after the base was removed but
        // before it is restored. Restoring must fail and the count stay frozen.
        let refs = liveCount()
        _ = refs.put()
        _ = refs.tryGet()
        let held = refs.removeBase()
        let afterPut = refs.put()
        let restored = refs.restoreBase()
        let reported = refs.reported
        let got = refs.tryGet()
        #expect(held == 1)
        #expect(afterPut == .frozen)
        #expect(!restored)
        #expect(reported == -1)
        #expect(!got)
    }

    @Test func putNeverGoesBelowZero() {
        let refs = RefCount()
        _ = refs.put()
        _ = tryRelease(refs)
        let underflow = refs.put()
        let reported = refs.reported
        #expect(underflow == .underflow)
        #expect(reported == -1)
    }

    @Test func anUnreferencedCountIsNotOrphaned() {
        let refs = RefCount()
        _ = refs.put()
        _ = refs.removeBase()
        let orphaned = refs.orphan()
        let got = refs.tryGet()
        let reported = refs.reported
        #expect(!orphaned)
        #expect(!got)
        #expect(reported == -1)
    }

    @Test func anOrphanedCountFreezesAndItsLastPutSaysSo() {
        let refs = liveCount()
        _ = refs.put()
        _ = refs.tryGet()
        _ = refs.tryGet()
        _ = refs.removeBase()  // forced: two references remain
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
        let host = ModuleHost(configuration: .testing())
        try await host.insert(TestModule("disk"))
        do {
            let ref = try host.acquire("disk")
            #expect(host.info("disk")?.refcount == 1)
            #expect(ref.state == .live)
        }
        #expect(host.info("disk")?.refcount == 0)
        let ref = try host.acquire("disk")
        let second = ref.duplicate()
        #expect(host.info("disk")?.refcount == 2)
        ref.release()
        #expect(host.info("disk")?.refcount == 1)
        second.release()
        #expect(host.info("disk")?.refcount == 0)
    }

    @Test func referenceGivesTheDefinitionInstance() async throws {
        let host = ModuleHost(configuration: .testing())
        let module = TestModule("driver", version: "2.1")
        try await host.insert(module)
        let ref = try host.acquire("driver")
        #expect(ref.definition(as: TestModule.self) === module)
        #expect(ref.definition(as: BuiltinModule.self) == nil)
        #expect(ref.definition.version == "2.1")
        #expect(ref.name == "driver")
    }

    @Test func noReferenceToAGoingModule() async throws {
        let host = ModuleHost(configuration: .testing())
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
        let host = ModuleHost(configuration: .testing())
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
        let host = ModuleHost(configuration: .testing())
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
        let host = ModuleHost(configuration: .testing())
        try await host.insert(TestModule("disk"))
        let handle = try host.handle(for: "disk")
        let ref = try handle.acquire()
        #expect(ref.handle == handle)
        #expect(host.info("disk")?.refcount == 1)
        ref.release()
        try await host.unload("disk")
        #expect(handle.state == .gone)
        await expectError(.busy) { _ = try handle.acquire() }
        try await host.insert(TestModule("disk"))  // a new module of the name is not this handle's
        await expectError(.busy) { _ = try handle.acquire() }
        #expect(try host.handle(for: "disk") != handle)
        await expectError(.notFound) { _ = try host.handle(for: "absent") }
    }

    @Test func holderLabelsAreTrackedWhenConfigured() async throws {
        let host = ModuleHost(configuration: .testing(tracksReferenceHolders: true))
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
        let host = ModuleHost(configuration: .testing())
        try await host.insert(TestModule("net"))
        let ref = try host.acquire("net", holder: "http")
        #expect(try host.holders(of: "net").referenceHolders.isEmpty)
        #expect(try host.holders(of: "net").references == 1)
        ref.release()
    }
}
