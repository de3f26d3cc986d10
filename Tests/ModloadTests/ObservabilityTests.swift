#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Modload

@Suite("Events, observers, listing, errors")
struct ObservabilityTests {
    struct Refusal: Error, CustomStringConvertible {
        var description: String { "policy forbids it" }
    }

    @Test func observerVetoRollsTheLoadBack() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        host.addObserver(named: "lockdown") { event in
            if event.kind == .coming, event.module == "forbidden" { throw Refusal() }
        }
        let module = TestModule("forbidden")
        let error = await expectError(.permissionDenied) { try await host.insert(module) }
        #expect(error?.description == "forbidden (coming): load vetoed by observer \"lockdown\": policy forbids it")
        #expect(error?.errno == EPERM)
        #expect(module.initCalls == 0)
        #expect(host.state(of: "forbidden") == nil)
        #expect(log.kinds(for: "forbidden") == [.coming, .going, .gone, .loadFailed])
        #expect(host.statistics(of: "forbidden")?.failures == ["permissionDenied": 1])
        #expect(host.statistics(of: "forbidden")?.initCalls == 0)
        // Others are unaffected.
        try await host.insert(TestModule("allowed"))
        #expect(host.modules.map(\.name) == ["allowed"])
    }

    @Test func removedObserverNoLongerVetoes() async throws {
        let host = try ModuleHost(configuration: .testing())
        let token = host.addObserver(named: "deny-all") { event in
            if event.kind == .coming { throw Refusal() }
        }
        await expectError(.permissionDenied) { try await host.insert(TestModule("m")) }
        host.removeObserver(token)
        try await host.insert(TestModule("m"))
    }

    @Test func observerErrorsOnOtherEventsAreIgnored() async throws {
        let host = try ModuleHost(configuration: .testing())
        host.addObserver(named: "grumpy") { event in
            if event.kind != .coming { throw Refusal() }
        }
        try await host.insert(TestModule("m"))
        try await host.unload("m")
        #expect(host.state(of: "m") == nil)
    }

    @Test func eventStreamDeliversTheLifecycle() async throws {
        let host = try ModuleHost(configuration: .testing())
        let stream = host.events()
        try await host.insert(TestModule("watched"))
        await expectError(.initFailed) { try await host.insert(TestModule("watched_fail", failure: noDevice)) }
        try await host.unload("watched")
        var seen: [String] = []
        for await event in stream {
            seen.append("\(event.kind.rawValue) \(event.module)")
            if event.kind == .gone, event.module == "watched" { break }
        }
        #expect(seen == [
            "coming watched", "live watched",
            "coming watched_fail", "going watched_fail", "gone watched_fail", "loadFailed watched_fail",
            "going watched", "gone watched",
        ])
    }

    @Test func theNameStaysTakenWhileGoneIsDelivered() async throws {
        // While observers receive `gone`, the module still holds its name in `going` state, so a
        // new load of the name is refused (`busy`) and its `coming` cannot overtake this `gone`.
        let host = try ModuleHost(configuration: .testing())
        let stateDuringGone = Locked<[ModuleState?]>([])
        host.addObserver(named: "probe") { event in
            if event.kind == .gone { stateDuringGone.withLock { $0.append(host.state(of: "m")) } }
        }
        try await host.insert(TestModule("m"))
        try await host.unload("m")
        await expectError(.initFailed) { try await host.insert(TestModule("m", failure: noDevice)) }
        #expect(stateDuringGone.withLock { $0 } == [.going, .going])
        #expect(host.state(of: "m") == nil)
    }

    @Test func theLoadIsStillRunningWhileLiveIsDelivered() async throws {
        // While observers receive `live`, the running-load record is still in the table: a
        // same-name load joins it and an unload is refused, so nothing overtakes `live`.
        let host = try ModuleHost(configuration: .testing())
        let runningDuringLive = Locked<Bool?>(nil)
        host.addObserver(named: "probe") { event in
            guard event.kind == .live else { return }
            runningDuringLive.withLock { $0 = host.table.write { $0.running["m"] != nil } }
        }
        try await host.insert(TestModule("m"))
        #expect(runningDuringLive.withLock { $0 } == true)
        #expect(host.table.write { $0.running.isEmpty })
    }

    @Test func unloadWhileTheLoadIsAnsweringIsBusy() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("m"))
        let record = try #require(host.table.write { $0.module("m") })
        host.table.write { $0.running["m"] = RunningLoad(record: record) }
        let error = await expectError(.busy) { try await host.unload("m") }
        #expect(error?.description == "m (live): is still loading")
        host.table.write { $0.running["m"] = nil }
        try await host.unload("m")
    }

    @Test func mergedJoinsAreEvents() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let gate = Completion<Void>()
        let module = TestModule("m", gate: gate)
        let first = Task { try await host.insert(module) }
        _ = await module.initStarted.wait()
        let second = Task { try await host.ensureLoaded(TestModule("m")) }
        #expect(await eventually { log.kinds(for: "m").contains(.mergedJoin) })
        gate.complete(())
        _ = try await first.value
        _ = try await second.value
    }

    @Test func listingLooksLikeLsmod() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(BuiltinModule(name: "ext4", size: 1_003_520))
        try await host.insert(BuiltinModule(name: "crc32c-generic", size: 16_384))
        let ref = try host.acquire("ext4")
        #expect(host.listing() == """
            Module                      Size  Used by  State
            crc32c_generic             16384  0        Live
            ext4                     1003520  1        Live

            """)
        ref.release()
    }

    @Test func infoDescribesTheModule() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(
            BuiltinModule(name: "jbd2", version: "3.0", description: "journalling", license: "GPL", size: 4096))
        #expect(host.info(of: "jbd2") == ModuleInfo(
            name: "jbd2", generation: 1, version: "3.0", description: "journalling", license: "GPL", size: 4096,
            state: .live, isUnloading: false, accounting: .counting, refcount: 0, usedBy: [], uses: [],
            parameters: .none, parameterWarnings: [], taints: [], file: nil, loadedAsDependency: false))
    }

    @Test func anEntryPointsErrnoMapsToTheCodeOfThatErrnoAndInitFailurePassesItThrough() throws {
        // What a module file's entry point means by returning -errno: the predefined code with
        // that errno, or a code named after an errno no predefined code has.
        let predefined: [ModuleError.Code] = [
            .exists, .busy, .notFound, .wouldBlock, .timedOut, .cancelled, .invalidArgument, .permissionDenied,
            .noDevice, .deadlock, .badSignature, .keyRejected,
        ]
        for code in predefined { #expect(ModuleError.Code.fromErrno(code.errno) == code, "\(code)") }
        #expect(ModuleError.Code.fromErrno(ENOMEM) == ModuleError.Code(name: "errno\(ENOMEM)", errno: ENOMEM))
        // initFailed passes a ModuleError's errno through, as the kernel passes init's return;
        // any other error is EIO.
        #expect(ModuleError(.initFailed, reason: "", underlying: noDevice).errno == ENODEV)
        #expect(ModuleError(.initFailed, reason: "", underlying: Refusal()).errno == EIO)
        #expect(ModuleError(.busy, reason: "", underlying: noDevice).errno == EBUSY)
    }

    @Test func aSubscriberThatFallsBehindKeepsTheNewestEvents() async throws {
        var host: ModuleHost? = try ModuleHost(configuration: .testing())
        let stream = host!.events(bufferingNewest: 3)
        for index in 0..<4 { try await host!.insert(BuiltinModule(name: "m\(index)")) }  // 8 events, unread
        host = nil  // the stream ends with its host
        var received: [String] = []
        for await event in stream { received.append(event.description) }
        #expect(received == ["live m2", "coming m3", "live m3"])
    }
}
