#if canImport(Glibc)
import Glibc
#endif
import CModloadRCU
import Synchronization
import Testing
@testable import Modload

/// An object that counts its releases, knows whether it is alive, and on release checks that no
/// reader says it is holding it.
final class Tracked: Sendable {
    let id: Int
    private let alive = Atomic<Bool>(true)
    private let released: Counter
    private let holders: [Counter]
    private let releasedWhileHeld: Counter?

    init(id: Int = 0, released: Counter, holders: [Counter] = [], releasedWhileHeld: Counter? = nil) {
        self.id = id
        self.released = released
        self.holders = holders
        self.releasedWhileHeld = releasedWhileHeld
    }

    var isAlive: Bool { alive.load(ordering: .acquiring) }

    /// What a release does, without freeing the memory (the grace-period test keeps every object
    /// so a reader's check of `isAlive` is always a valid read): dead from now on, and a release
    /// while a reader says it holds the object is counted. Returns `false` if already retired.
    @discardableResult
    func retire() -> Bool {
        guard alive.exchange(false, ordering: .acquiringAndReleasing) else { return false }
        if holders.contains(where: { $0.count == id }) { releasedWhileHeld?.add() }
        released.add()
        return true
    }

    deinit { retire() }
}

@Suite("Quiescence: read sections and grace periods")
struct QuiescenceTests {
    @Test func readSectionsNest() throws {
        #expect(!Quiescence.isInReadSection)
        Quiescence.read {
            #expect(Quiescence.isInReadSection)
            Quiescence.read { #expect(Quiescence.isInReadSection) }
            #expect(Quiescence.isInReadSection)
        }
        #expect(!Quiescence.isInReadSection)
        #expect(Quiescence.read { 42 } == 42)
    }

    @Test func readSectionsPassErrorsThrough() throws {
        struct Oops: Error {}
        #expect(throws: Oops.self) { try Quiescence.read { throw Oops() } }
        #expect(!Quiescence.isInReadSection)
    }

    @Test(.timeLimit(.minutes(2)))
    func synchronizeNeverReturnsWhileAnOlderReadSectionIsOpen() async throws {
        #expect(await Self.gracePeriodsWaitForOlderSections() == 0)
    }

    @Test(.timeLimit(.minutes(5)))
    func withoutMembarrierReadersFenceAndGracePeriodsStillWait() async throws {
        // The fallback for kernels without membarrier(2): readers fence themselves. Forced here
        // with MODLOAD_RCU_FENCE=1, set in a process of its own before its first read section.
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .success) {
                setenv("MODLOAD_RCU_FENCE", "1", 1)
                guard !Quiescence.usesMembarrier else { exit(2) }
                let violations = await QuiescenceTests.gracePeriodsWaitForOlderSections()
                if violations != 0 { exit(violations < 0 ? 3 : 4) }
            }
        }
    }

    /// Readers mark each section `active` on entry and `completed` just before leaving. The
    /// writer notes the sections it sees active, synchronizes, and then every one of them must
    /// have completed. Real threads, hundreds of grace periods. Returns the violations (sections
    /// seen open before a grace period and still open after it); −1 if nothing was checked.
    static func gracePeriodsWaitForOlderSections() async -> Int {
        let readers = 2
        let active = (0..<readers).map { _ in Counter() }
        let completed = (0..<readers).map { _ in Counter() }
        let stop = Counter()
        let violations = Counter()
        let checked = Counter()
        await onThreads(readers + 1) { index in
            guard index < readers else {
                while active.contains(where: { $0.count == 0 }) { sched_yield() }  // readers are reading
                for _ in 0..<600 {
                    let seen = active.map(\.count)
                    Quiescence.synchronizeBlocking()
                    for (reader, id) in seen.enumerated() where id != 0 {
                        checked.add()
                        if completed[reader].count < id { violations.add() }
                    }
                }
                stop.store(1)
                return
            }
            var id = 0
            while stop.count == 0 {
                id += 1
                Quiescence.read {
                    active[index].store(id)
                    spin(Int.random(in: 0..<2_000))
                    completed[index].store(id)
                }
            }
        }
        return checked.count > 0 ? violations.count : -1
    }

    @Test(.timeLimit(.minutes(2)))
    func aNestedSectionHoldsTheGracePeriodUntilTheOutermostEnds() async throws {
        let innerDone = Completion<Void>()
        let outerOpen = Counter()
        let openAtSynchronize = Counter(-1)
        await onThreads(2) { index in
            if index == 0 {
                Quiescence.read {
                    outerOpen.store(1)
                    Quiescence.read {}
                    innerDone.complete(())
                    spin(2_000_000)  // stay in the outer section a while after the inner ended
                    outerOpen.store(0)
                }
            } else {
                blocking { _ = await innerDone.wait() }
                Quiescence.synchronizeBlocking()
                openAtSynchronize.store(outerOpen.count)
            }
        }
        #expect(openAtSynchronize.count == 0)
    }

    @Test(.timeLimit(.minutes(2)))
    func deferredReleaseRunsOnceAndNeverUnderAReader() async throws {
        // A writer publishes a new object and retires the old one after a grace period; readers
        // load the current object *unretained* inside read sections, say which one they hold,
        // and check it stays alive. A release checks that no reader says it holds the object.
        let readers = 3
        let holding = (0..<readers).map { _ in Counter() }
        let released = Counter()
        let releasedWhileHeld = Counter()
        let touchedReleased = Counter()
        let nextID = Counter(1)
        let reads = Counter()
        let stop = Counter()
        @Sendable func make() -> Tracked {
            nextID.add()
            return Tracked(id: nextID.count, released: released, holders: holding, releasedWhileHeld: releasedWhileHeld)
        }
        // Every object stays in memory to the end (`graveyard`); a "release" retires it. So a
        // reader between loading the pointer and publishing which object it holds — a window
        // the release cannot see — still catches a premature release: its own check of
        // `isAlive`, right after publishing, reads valid memory and finds it dead.
        let first = make()
        let graveyard = Locked([first])
        let current = Atomic<Unmanaged<Tracked>>(.passUnretained(first))
        let doubleReleases = Counter()
        await onThreads(readers + 1) { index in
            guard index < readers else {
                var published = 0
                while stop.count == 0 || published < 1_000 {
                    let next = make()
                    graveyard.withLock { $0.append(next) }
                    let old = current.exchange(.passUnretained(next), ordering: .acquiringAndReleasing)
                    Quiescence.afterGracePeriod { if !old.takeUnretainedValue().retire() { doubleReleases.add() } }
                    published += 1
                    if published % 64 == 0 { spin(20_000) }  // let readers overlap the releases
                }
                return
            }
            while reads.count < 20_000 {
                Quiescence.read {
                    current.load(ordering: .acquiring)._withUnsafeGuaranteedRef { object in
                        holding[index].store(object.id)
                        if !object.isAlive { touchedReleased.add() }
                        spin(Int.random(in: 0..<4_000))
                        if !object.isAlive { touchedReleased.add() }
                        holding[index].store(0)
                    }
                }
                reads.add()
            }
            stop.store(1)
        }
        await Quiescence.barrier()
        #expect(releasedWhileHeld.count == 0)
        #expect(touchedReleased.count == 0)
        #expect(doubleReleases.count == 0)
        let created = nextID.count - 1
        #expect(released.count == created - 1)  // all but the current one
        #expect(graveyard.withLock { $0.count } == created)
        current.load(ordering: .acquiring).takeUnretainedValue().retire()
        #expect(released.count == created)
    }

    @Test func releaseAfterGracePeriodReleasesExactlyOnce() async throws {
        let released = Counter()
        do {
            let object = Tracked(released: released)
            Quiescence.release(afterGracePeriod: object)
        }
        await Quiescence.barrier()
        #expect(released.count == 1)
    }

    @Test(.timeLimit(.minutes(5)))
    func idleAndExitedThreadsNeverHoldAGracePeriod() async throws {
        // 32 threads read once and exit; 32 read once and then sit idle (blocked). Grace periods
        // complete regardless, and exited threads leave the registry. The registry counts every
        // thread of the process, so this runs in a process of its own, where no other suite
        // starts threads between the counts.
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .success) {
                await onThreads(32) { _ in Quiescence.read {} }
                let idleRelease = Completion<Void>()
                let idleReady = Counter()
                let beforeIdle = Quiescence.registeredReaders
                let idle = Task.detached {
                    await onThreads(32) { _ in
                        Quiescence.read {}
                        idleReady.add()
                        blocking("idle after one read section") { _ = await idleRelease.wait() }
                    }
                }
                guard await eventually({ idleReady.count == 32 }) else { exit(2) }
                let registeredWhileIdle = Quiescence.registeredReaders
                Quiescence.synchronizeBlocking()
                await Quiescence.synchronize()
                idleRelease.complete(())
                await idle.value
                guard registeredWhileIdle == beforeIdle + 32 else { exit(3) }
                guard await eventually({ Quiescence.registeredReaders == beforeIdle }) else { exit(4) }
            }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func asyncSynchronizeWaitsForAnOpenSection() async throws {
        // In a process of its own: there, the grace-period epoch moves only for this writer, so
        // "the epoch moved" means its grace period has begun — and from then on it waits for the
        // reader's open section, however long the test looks (no sleep to hope it started).
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .success) {
                let entered = Completion<Void>()
                let leave = Completion<Void>()
                let reader = Task.detached {
                    await onThreads(1) { _ in
                        Quiescence.read {
                            entered.complete(())
                            blocking("inside a read section") { _ = await leave.wait(timeout: .seconds(60)) }
                        }
                    }
                }
                guard case .value = await entered.wait(timeout: .seconds(30)) else { exit(2) }
                let epoch = ml_rcu_epoch_now()
                let done = Counter()
                let writer = Task {
                    await Quiescence.synchronize()
                    done.store(1)
                }
                guard await eventually({ ml_rcu_epoch_now() > epoch }) else { exit(3) }
                for _ in 0..<100 {
                    await Task.yield()
                    if done.count != 0 { exit(4) }  // returned while the section was open
                }
                leave.complete(())
                await writer.value
                await reader.value
                if done.count != 1 { exit(5) }
            }
        }
    }

    @Test func barrierWaitsForEverythingHandedOverBefore() async throws {
        let ran = Counter()
        for _ in 0..<100 { Quiescence.afterGracePeriod { ran.add() } }
        await Quiescence.barrier()
        #expect(ran.count == 100)
        for _ in 0..<100 { Quiescence.afterGracePeriod { ran.add() } }
        await onThreads(1) { _ in Quiescence.barrierBlocking() }
        #expect(ran.count == 200)
    }

    @Test func synchronizeInsideAReadSectionStopsTheProcess() async throws {
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .failure) {
                Quiescence.read { Quiescence.synchronizeBlocking() }
            }
        }
    }

    @Test func barrierInsideAReadSectionStopsTheProcess() async throws {
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .failure) {
                Quiescence.read { Quiescence.barrierBlocking() }
            }
        }
    }
}

@Suite("Quiescence: barriers see releases done")
struct QuiescenceBarrierTests {
    /// An object whose release takes a while, to widen any window between "ran" and "released".
    final class SlowToRelease: Sendable {
        let released: Counter
        init(released: Counter) { self.released = released }
        deinit {
            spin(20_000)
            released.add()
        }
    }

    @Test func barrierReturnsOnlyAfterEveryEarlierReleaseFreedItsObject() async throws {
        for _ in 0..<50 {
            let released = Counter()
            for _ in 0..<20 { Quiescence.release(afterGracePeriod: SlowToRelease(released: released)) }
            await Quiescence.barrier()
            #expect(released.count == 20)
        }
    }

    @Test func blockingBarrierReturnsOnlyAfterEveryEarlierReleaseFreedItsObject() async throws {
        await onThreads(1) { _ in
            for _ in 0..<50 {
                let released = Counter()
                for _ in 0..<20 { Quiescence.release(afterGracePeriod: SlowToRelease(released: released)) }
                Quiescence.barrierBlocking()
                #expect(released.count == 20)
            }
        }
    }

    @Test func blockingBarrierOnTheReclaimerThreadStopsTheProcess() async throws {
        await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .failure) {
                Quiescence.afterGracePeriod { Quiescence.barrierBlocking() }
                await Quiescence.barrier()
            }
        }
    }
}
