import Synchronization
import Testing
@testable import Modload

/// A noncounting module (raceless modules, docs/design.md §1): callers reach it through
/// `withModule` inside read sections. Its exit poisons it, so a call that runs after exit is
/// detectable.
final class HotPath: ModuleDefinition {
    let name: String
    let accounting = ModuleAccounting.noncounting
    private let dead = Atomic<Bool>(false)
    private let exits = Atomic<Int>(0)
    let calls = Counter()
    /// While set, cleanup refuses with this error.
    let refusal = Locked<ModuleError?>(nil)

    init(_ name: String) { self.name = name }

    var isDead: Bool { dead.load(ordering: .acquiring) }
    var exitCalls: Int { exits.load(ordering: .acquiring) }

    func initialize(_ context: ModuleContext) async throws {}

    /// The call point: fails loudly (returns false) if the module was already torn down.
    func call() -> Bool {
        calls.add()
        return !isDead
    }

    func cleanup(_ context: ModuleContext) async throws {
        if let refusal = refusal.withLock({ $0 }) { throw refusal }
    }

    func exit(_ context: ModuleContext) async {
        exits.add(1, ordering: .acquiringAndReleasing)
        dead.store(true, ordering: .releasing)
    }
}

@Suite("Noncounting modules and refusable cleanup")
struct NoncountingTests {
    @Test func callersReachANoncountingModuleWithoutReferences() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = HotPath("lsm")
        try await host.insert(module)
        #expect(try host.withModule("lsm", as: HotPath.self) { $0.call() })
        #expect(try host.withModule("lsm") { $0.name } == "lsm")
        #expect(host.info(of: "lsm")?.refcount == 0)
        #expect(host.info(of: "lsm")?.accounting == .noncounting)
        #expect(module.calls.count == 1)
    }

    @Test func callPointErrorsAreClear() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("counted"))
        try await host.insert(HotPath("lsm"))
        let counted = await expectError(.invalidArgument) { _ = try host.withModule("counted") { _ in 0 } }
        #expect(counted?.reason == "is a counting module: take a reference with acquire(_:) to call it")
        let wrongType = await expectError(.invalidArgument) { _ = try host.withModule("lsm", as: TestModule.self) { _ in 0 } }
        #expect(wrongType?.reason.contains("not a TestModule") == true)
        await expectError(.notFound) { _ = try host.withModule("absent") { _ in 0 } }
        await expectError(.invalidArgument) { _ = try host.withModule("bad/name") { _ in 0 } }
    }

    @Test(.timeLimit(.minutes(1)))
    func unloadWaitsForACallerThatEnteredBefore() async throws {
        // A caller is inside the module when the unload starts. The unload makes the call points
        // unreachable at once (a new caller gets notFound), but cleanup and exit wait until the
        // caller that was already inside has returned.
        let host = try ModuleHost(configuration: .testing())
        let module = HotPath("lsm")
        try await host.insert(module)
        let inside = Completion<Void>()
        let leave = Completion<Void>()
        let callerSawLive = Counter()
        let caller = Task.detached {
            await onThreads(1) { _ in
                _ = try? host.withModule("lsm", as: HotPath.self) { hot in
                    inside.complete(())
                    blocking("inside the module") { _ = await leave.wait(timeout: .seconds(30)) }
                    if hot.call() { callerSawLive.add() }
                }
            }
        }
        defer { leave.complete(()) }
        guard case .value = await inside.wait(timeout: .seconds(30)) else {
            Issue.record("the caller never got inside the module")
            return
        }
        let unload = Task { try await host.unload("lsm") }
        #expect(await eventually { host.info(of: "lsm")?.isUnloading == true })
        let late = await expectError(.notFound) { _ = try host.withModule("lsm") { _ in 0 } }
        #expect(late?.reason == "is being unloaded; its call points are gone")
        // A grace period is under way; with the caller's section open it cannot end, so the
        // unload is parked before cleanup and exit.
        #expect(await eventually { Reclaimer.shared.isInGracePeriod })
        #expect(module.exitCalls == 0)  // still waiting for the caller inside
        leave.complete(())
        await caller.value
        _ = try await unload.value
        #expect(callerSawLive.count == 1)
        #expect(module.exitCalls == 1)
        await expectError(.notFound) { _ = try host.withModule("lsm") { _ in 0 } }
    }

    @Test func refusingCleanupLeavesTheModuleLiveAndUsable() async throws {
        let host = try ModuleHost(configuration: .testing())
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let module = HotPath("fs")
        try await host.insert(module)
        module.refusal.withLock { $0 = ModuleError(.busy, reason: "3 mounts still active") }
        for mode in [ModuleHost.UnloadMode.failFast, .force, .drain(timeout: .seconds(1))] {
            let error = await expectError(.busy) { try await host.unload("fs", mode: mode) }
            // The cleanup's own words first.
            #expect(error?.description == "fs (live): 3 mounts still active (its cleanup refused the unload; the module stays live)")
            #expect(host.state(of: "fs") == .live)
            #expect(host.info(of: "fs")?.isUnloading == false)
            #expect(host.info(of: "fs")?.refcount == 0)
            #expect(try host.withModule("fs", as: HotPath.self) { $0.call() })
        }
        #expect(log.kinds(for: "fs") == [.coming, .live, .unloadRefused, .unloadRefused, .unloadRefused])
        #expect(module.exitCalls == 0)
        #expect(host.taints.isEmpty)
        module.refusal.withLock { $0 = nil }
        try await host.unload("fs")
        #expect(module.exitCalls == 1)
    }

    @Test func refusalAfterAForcedDecisionRestoresTheHeldReferences() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = HotPath("fs")
        try await host.insert(module)
        let ref = try host.acquire("fs")
        module.refusal.withLock { $0 = ModuleError(.permissionDenied, reason: "policy") }
        await expectError(.permissionDenied) { try await host.unload("fs", mode: .force) }
        #expect(host.info(of: "fs")?.refcount == 1)
        #expect(host.taints.isEmpty)  // nothing was overridden in the end
        let again = try host.acquire("fs")
        again.release()
        ref.release()
        #expect(host.info(of: "fs")?.refcount == 0)
    }

    @Test func cleanupThrowingAnyErrorRefusesWithBusy() async throws {
        struct Stuck: Error {}
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(BuiltinModuleWithCleanup(name: "m") { throw Stuck() })
        let error = await expectError(.busy) { try await host.unload("m") }
        #expect(error?.underlying is Stuck)
        #expect(host.state(of: "m") == .live)
    }
}

/// A counting module whose cleanup runs a closure.
struct BuiltinModuleWithCleanup: ModuleDefinition {
    let name: String
    var exports: [ExportedSymbol] = []
    let body: @Sendable () async throws -> Void
    func initialize(_ context: ModuleContext) async throws {}
    func cleanup(_ context: ModuleContext) async throws { try await body() }
}
