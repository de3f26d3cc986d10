#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Modload

@Suite("The lock-free module table")
struct SnapshotTableTests {
    @Test(.timeLimit(.minutes(1)))
    func writersNeverBlockReaders() async throws {
        // A writer holds the table lock (and keeps holding it); every read API still answers.
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("disk"))
        try await host.insert(HotPath("lsm"))
        let holding = Completion<Void>()
        let letGo = Completion<Void>()
        let writer = Task.detached {
            await onThreads(1) { _ in
                host.table.write { _ in
                    holding.complete(())
                    // Bounded: should this test fail before letting go, the lock is still freed.
                    blocking("holding the table lock") { _ = await letGo.wait(timeout: .seconds(30)) }
                }
            }
        }
        defer { letGo.complete(()) }
        guard case .value = await holding.wait(timeout: .seconds(30)) else {
            Issue.record("the writer thread never took the table lock")
            return
        }
        #expect(host.state(of: "disk") == .live)
        #expect(host.info(of: "disk")?.name == "disk")
        #expect(host.modules.count == 2)
        #expect(host.listing().contains("disk"))
        #expect(host.statistics(of: "disk")?.loads == 1)
        #expect(try host.holders(of: "disk").references == 0)
        let ref = try host.acquire("disk")
        ref.release()
        #expect(try host.withModule("lsm", as: HotPath.self) { $0.call() })
        letGo.complete(())
        await writer.value
    }

    @Test(.timeLimit(.minutes(1)))
    func anUnloadedModuleIsReleasedOnlyAfterAGracePeriod() async throws {
        // A reader found the module's record in a read section; the module is unloaded meanwhile.
        // Until the reader's section ends, the record and its definition stay alive; after it
        // and a grace period, they are released.
        let host = try ModuleHost(configuration: .testing())
        let released = Counter()
        try await host.insert(ReleaseTracking(name: "gone_soon", released: released))
        let found = Completion<Void>()
        let unloaded = Completion<Void>()
        let aliveInSection = Counter()
        let reader = Task.detached {
            await onThreads(1) { _ in
                host.table.read { snapshot in
                    _ = snapshot.withModule("gone_soon") { record in
                        found.complete(())
                        // Bounded: should this test fail first, the read section still ends.
                        blocking("inside a read section") { _ = await unloaded.wait(timeout: .seconds(30)) }
                        if released.count == 0 && record.definition.name == "gone_soon" { aliveInSection.add() }
                    }
                }
            }
        }
        defer { unloaded.complete(()) }
        guard case .value = await found.wait(timeout: .seconds(30)) else {
            Issue.record("the reader thread never found the module")
            return
        }
        try await host.unload("gone_soon")
        #expect(host.state(of: "gone_soon") == nil)
        await Task.yield()
        #expect(released.count == 0)
        unloaded.complete(())
        await reader.value
        await Quiescence.barrier()
        #expect(aliveInSection.count == 1)
        #expect(released.count == 1)
    }

    @Test func snapshotsAreReleasedAfterUse() async throws {
        // Load and unload many modules; every record and definition is released in the end.
        let host = try ModuleHost(configuration: .testing())
        let released = Counter()
        for index in 0..<200 {
            try await host.insert(ReleaseTracking(name: "m\(index)", released: released))
        }
        for index in 0..<200 { try await host.unload("m\(index)") }
        await Quiescence.barrier()
        #expect(released.count == 200)
    }
}

/// A definition that counts its own deallocation.
final class ReleaseTracking: ModuleDefinition {
    let name: String
    let released: Counter
    init(name: String, released: Counter) {
        self.name = name
        self.released = released
    }
    func initialize(_ context: ModuleContext) async throws {}
    deinit { released.add() }
}
