import Synchronization
import Testing
@testable import Modload

/// All-or-nothing sets: prepare changes nothing, commit brings every member up or none.
@Suite("All-or-nothing sets")
struct SetLoadTests {
    /// Records the order in which inits and exits ran.
    final class Journal: Sendable {
        private let entries = Locked([String]())
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    /// Member `i` of a chain: imports `link<i-1>` (unless first) and exports `link<i>`.
    static func chainMember(
        _ index: Int, journal: Journal, fails: Bool = false, refusesCleanup: Bool = false, gate: Completion<Void>? = nil
    ) -> ChainModule {
        ChainModule(index: index, journal: journal, fails: fails, refusesCleanup: refusesCleanup, gate: gate)
    }

    final class ChainModule: ModuleDefinition {
        let index: Int
        let journal: Journal
        let fails: Bool
        let refusesCleanup: Bool
        let gate: Completion<Void>?
        let initStarted = Completion<Void>()
        init(index: Int, journal: Journal, fails: Bool, refusesCleanup: Bool, gate: Completion<Void>?) {
            self.index = index
            self.journal = journal
            self.fails = fails
            self.refusesCleanup = refusesCleanup
            self.gate = gate
        }
        var name: String { "m\(index)" }
        var exports: [ExportedSymbol] { [ExportedSymbol("link\(index)", index)] }
        var imports: [ImportedSymbol] { index > 1 ? [ImportedSymbol("link\(index - 1)", as: Int.self)] : [] }
        func initialize(_ context: ModuleContext) async throws {
            initStarted.complete(())
            if let gate { _ = await gate.wait() }
            journal.add("init \(name)")
            if fails { throw ModuleError(.noDevice, reason: "member \(index) has no device") }
        }
        func cleanup(_ context: ModuleContext) async throws {
            if refusesCleanup { throw ModuleError(.busy, reason: "member \(index) refuses") }
        }
        func exit(_ context: ModuleContext) async { journal.add("exit \(name)") }
    }

    @Test func aSetWhoseThirdMemberFailsLeavesNothingLoadedAndExitsTheOthersInReverse() async throws {
        let host = try ModuleHost(configuration: .testing())
        let journal = Journal()
        let events = Journal()
        host.addObserver(named: "events") { events.add("\($0.kind) \($0.module)") }
        let members = (1...5).map { ModuleSetMember.definition(Self.chainMember($0, journal: journal, fails: $0 == 3)) }
        let error = await expectError(.initFailed) { try await host.load(members, mode: .allOrNothing) }
        #expect(error?.module == "m3")
        #expect(error?.rolledBack == ["m2", "m1"])
        #expect(error?.description.contains("exits of m2, m1 ran, in that order") == true)
        #expect(journal.all == ["init m1", "init m2", "init m3", "exit m2", "exit m1"])
        #expect(host.modules.isEmpty)
        #expect(host.symbol(named: "link1") == nil)
        // Every member went; none was ever live.
        #expect(!events.all.contains { $0.hasPrefix("live") })
        #expect(events.all.filter { $0.hasPrefix("loadFailed") }.count == 5)
        // The names are free: the same set without the failure loads.
        let fixed = (1...5).map { ModuleSetMember.definition(Self.chainMember($0, journal: journal)) }
        let outcome = try await host.load(fixed, mode: .allOrNothing)
        #expect(outcome.members.map(\.module) == ["m1", "m2", "m3", "m4", "m5"])
        #expect(outcome.members.allSatisfy { $0.how == .loaded })
        #expect(host.info(of: "m5")?.uses == ["m4"])
    }

    @Test func prepareReportsEveryMembersErrorAndChangesNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let journal = Journal()
        try await host.insert(BuiltinModule(name: "owner", exports: [ExportedSymbol("taken", 1)]))
        let members: [ModuleSetMember] = [
            .definition(Self.chainMember(1, journal: journal)),
            .definition(BuiltinModule(name: "needy", imports: [ImportedSymbol("nowhere", as: Int.self)])),
            .definition(BuiltinModule(name: "clash", exports: [ExportedSymbol("taken", 2)])),
            .definition(Self.chainMember(1, journal: journal)),
            .file("/nonexistent/module.so"),
        ]
        // The set's first error (m1 listed twice) gives the code; every other one is listed too.
        let error = await expectError(.invalidArgument) { try await host.prepare(members) }
        let byModule = error?.memberErrors.map { "\($0.module ?? $0.file ?? "?") \($0.code)" } ?? []
        #expect(byModule.contains("needy notFound"))
        #expect(byModule.contains("clash duplicateSymbol"))
        #expect(byModule.contains("m1 invalidArgument"), "listed twice: \(byModule)")
        #expect(byModule.contains("/nonexistent/module.so notFound"))
        #expect(error?.description.contains("nothing changed") == true)
        #expect(journal.all.isEmpty)
        #expect(host.modules.map(\.name) == ["owner"])
    }

    @Test func aCycleInTheSetFailsInPrepareNamingIt() async throws {
        let host = try ModuleHost(configuration: .testing())
        let a = BuiltinModule(name: "a", exports: [ExportedSymbol("fa", 1)], imports: [ImportedSymbol("fb", as: Int.self)])
        let b = BuiltinModule(name: "b", exports: [ExportedSymbol("fb", 1)], imports: [ImportedSymbol("fa", as: Int.self)])
        let error = await expectError(.deadlock) { try await host.prepare([.definition(a), .definition(b)]) }
        #expect(error?.cycle == ["a", "b", "a"])
        #expect(host.modules.isEmpty)
    }

    @Test func aBadFileFailsThePrepareBeforeAnyInitAndUnmapsTheGoodOnes() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let garbage = try folder.write(Array(repeating: 0x7f, count: 4096), as: "libgarbage.so")
        let host = try ModuleHost(configuration: .testing())
        let journal = Journal()
        let error = await expectError(.invalidFile) {
            try await host.load([.definition(Self.chainMember(1, journal: journal)), .file(checksum), .file(garbage)], mode: .allOrNothing)
        }
        #expect(error?.memberErrors.count == 1)
        #expect(error?.memberErrors.first?.file == garbage)
        #expect(journal.all.isEmpty)
        #expect(host.modules.isEmpty)
        #expect(host.fileStatistics.mapped == 1)
        #expect(host.fileStatistics.unmapped == 1)
        #expect(!mappings(of: checksum).contains { $0.contains(checksum) })
    }

    @Test func moduleFilesLoadAsASetInDependencyOrder() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let journal = try await folder.copy(.journal)
        let jstat = try await folder.copy(.jstat)
        let host = try ModuleHost(configuration: .testing())
        // Listed out of order: prepare orders them by their imports.
        let prepared = try await host.prepare([.file(jstat), .file(journal), .file(checksum)])
        #expect(prepared.modules == ["checksum", "journal", "jstat"])
        #expect(host.modules.isEmpty)
        let outcome = try await host.commit(prepared)
        #expect(outcome.members.map(\.module) == ["checksum", "journal", "jstat"])
        #expect(outcome.members.allSatisfy { $0.file != nil })
        #expect(host.info(of: "journal")?.usedBy == ["jstat"])
        await expectError(.invalidArgument) { try await host.commit(prepared) }
    }

    @Test func outsideCallersWaitForTheSetOrGetBusy() async throws {
        let host = try ModuleHost(configuration: .testing())
        let journal = Journal()
        let gate = Completion<Void>()
        let first = Self.chainMember(1, journal: journal)
        let second = Self.chainMember(2, journal: journal, gate: gate)
        let commit = Task { try await host.load([.definition(first), .definition(second)], mode: .allOrNothing) }
        _ = await second.initStarted.wait()
        // m1's init is done, but it is not published: no reference, no call, no listing as live.
        let refused = await expectError(.busy) { _ = try host.acquire("m1") }
        #expect(refused?.reason.contains("all-or-nothing") == true)
        #expect(host.info(of: "m1")?.state == .coming)
        // A load of a member's name, or of a module importing a member's export, waits for the set.
        let joiner = Task { try await host.ensureLoaded(BuiltinModule(name: "m1")) }
        let importer = Task {
            try await host.insert(BuiltinModule(name: "user", imports: [ImportedSymbol("link1", as: Int.self)]))
        }
        try await Task.sleep(for: .milliseconds(50))
        gate.complete(())
        _ = try await commit.value
        #expect(try await joiner.value.how == .joined)
        #expect(try await importer.value.how == .loaded)
        #expect(host.info(of: "user")?.uses == ["m1"])
        #expect(try host.acquire("m1").state == .live)
    }

    @Test func aMemberAnotherCallerIsLoadingIsJoinedAndNotRolledBack() async throws {
        let host = try ModuleHost(configuration: .testing())
        let journal = Journal()
        let gate = Completion<Void>()
        let outside = Self.chainMember(1, journal: journal, gate: gate)
        let load = Task { try await host.insert(outside) }
        _ = await outside.initStarted.wait()
        let set = Task {
            try await host.load(
                [.definition(Self.chainMember(1, journal: journal)), .definition(Self.chainMember(2, journal: journal)),
                 .definition(Self.chainMember(3, journal: journal, fails: true))],
                mode: .allOrNothing)
        }
        try await Task.sleep(for: .milliseconds(30))
        gate.complete(())
        _ = try await load.value
        let error = await expectError(.initFailed) { try await set.value }
        #expect(error?.rolledBack == ["m2"])
        // The joined member is the outside caller's: it stays.
        #expect(host.modules.map(\.name) == ["m1"])
        #expect(journal.all.filter { $0 == "init m1" }.count == 1)

        // A set that succeeds says how each member came up.
        let outcome = try await host.load(
            [.definition(Self.chainMember(1, journal: journal)), .definition(Self.chainMember(2, journal: journal))],
            mode: .allOrNothing)
        #expect(outcome.members.map(\.how) == [.alreadyLive, .loaded])
        await expectError(.exists) {
            try await host.load([.definition(Self.chainMember(1, journal: journal))], mode: .allOrNothing, firstTime: true)
        }
    }

    @Test func aLoadTheSetJoinsThatWaitsForAMemberFailsAtOnceNamingTheRing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let seen = Locked<ModuleError?>(nil)
        // l's init, once the set has taken x, waits for x: the set waits for l (it joined it).
        let l = TestModule("l", onInit: { context in
            while context.host?.state(of: "x") == nil { try? await Task.sleep(for: .milliseconds(1)) }
            do throws(ModuleError) {
                try await context.host?.ensureLoaded(BuiltinModule(name: "x"))
            } catch {
                seen.withLock { $0 = error }
            }
        })
        let load = Task { try await host.insert(l) }
        _ = await l.initStarted.wait()
        // Bounded: a ring nobody sees would leave both waiting for good — that fails here.
        let answered = Completion<Result<SetOutcome, ModuleError>>()
        Task {
            do throws(ModuleError) {
                answered.complete(
                    .success(try await host.load([.definition(BuiltinModule(name: "x")), .definition(TestModule("l"))], mode: .allOrNothing)))
            } catch {
                answered.complete(.failure(error))
            }
        }
        guard case .value(let set) = await answered.wait(timeout: .seconds(20)) else {
            Issue.record("the set and the load it joined wait for each other: the ring was not seen")
            return
        }
        _ = try await load.value
        // Whichever wait closes the ring fails at once, naming it: l's (the set then loads), or
        // the set's (it rolls back, and l's wait gets that failure).
        #expect(seen.withLock { $0 }?.code == .deadlock)
        switch set {
        case .success(let outcome):
            #expect(seen.withLock { $0 }?.cycle.map(Set.init) == ["l", "x"])
            #expect(outcome.members.map { "\($0.module) \($0.how)" } == ["x loaded", "l joined"])
        case .failure(let error):
            #expect(error.code == .deadlock && error.cycle.map(Set.init) == ["l", "x"], "\(error)")
            #expect(host.state(of: "x") == nil)
        }
    }

    @Test func independentMembersInitInParallel() async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let a = TestModule("pa", gate: gate)
        let b = TestModule("pb", gate: gate)
        let set = Task { try await host.load([.definition(a), .definition(b)], mode: .allOrNothing) }
        // Both inits start before either may finish.
        _ = await a.initStarted.wait(timeout: .seconds(10))
        _ = await b.initStarted.wait(timeout: .seconds(10))
        #expect(a.initCalls == 1 && b.initCalls == 1)
        gate.complete(())
        #expect(try await set.value.members.count == 2)
    }

    @Test func aMemberThatRefusesItsRollbackIsLeftOldAndTaintsTheHost() async throws {
        let host = try ModuleHost(configuration: .testing())
        let journal = Journal()
        let error = await expectError(.initFailed) {
            try await host.load(
                [.definition(Self.chainMember(1, journal: journal, refusesCleanup: true)),
                 .definition(Self.chainMember(2, journal: journal, fails: true))],
                mode: .allOrNothing)
        }
        #expect(error?.rolledBack == [])
        #expect(error?.description.contains("m1 refused to be taken down") == true)
        #expect(host.taints.contains(.rollbackFailed))
        #expect(host.modules.map { "\($0.name) \($0.state)" } == ["m1 old"])
        await expectError(.notFound) { _ = try host.acquire("m1") }
        #expect(journal.all == ["init m1", "init m2"])  // no exit: it refused
        // Its name is free for a new load.
        try await host.insert(BuiltinModule(name: "m1"))
        #expect(host.listing().contains("Old [generation 1]"))
    }

    @Test func bestEffortLoadsWhatItCanAndReportsTheRest() async throws {
        let host = try ModuleHost(configuration: .testing())
        let outcome = try await host.load(
            [.definition(BuiltinModule(name: "ok")), .definition(TestModule("broken", failure: ModuleError(.noDevice, reason: "none")))],
            mode: .bestEffort)
        #expect(outcome.members.map(\.module) == ["ok"])
        #expect(outcome.failures.map(\.module) == ["broken"])
        #expect(host.modules.map(\.name) == ["ok"])
    }
}
