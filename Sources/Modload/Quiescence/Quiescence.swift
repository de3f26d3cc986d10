import CModloadRCU

/// The quiescence domain: the userspace analogue of the kernel's RCU (docs/design.md §7; the
/// stop_machine removal and raceless modules, §1).
///
/// - A **read section** (``read(_:)``) is a synchronous closure; nothing published to it can be
///   freed until it ends. It costs about a nanosecond: two thread-local stores and a compiler
///   barrier, inlined into the caller — no lock, no atomic read-modify-write. Sections nest.
/// - **synchronize** (``synchronize()``, ``synchronizeBlocking()``) returns once every read
///   section that began before it has ended. It never waits for idle or exited threads.
/// - **Deferred release** (``release(afterGracePeriod:)``, ``afterGracePeriod(_:)``) hands an
///   object or an action to a background reclaimer, which runs it after a grace period;
///   ``barrier()`` waits until everything handed over before it has run.
///
/// The usual pattern: a writer publishes a new version of something readers find through an
/// atomic pointer, then retires the old version with deferred release; readers load the pointer
/// inside a read section and may use what they found until the section ends.
///
/// There is one domain per process, as the kernel has one RCU: read sections of every host and
/// every user count for every grace period. Read sections are short and never suspend, so sharing
/// costs a writer at most the length of the longest section in progress.
///
/// Rules: a read section must not suspend (the closure is synchronous, so it cannot `await`) and
/// must not wait for a grace period — ``synchronizeBlocking()`` and ``barrierBlocking()`` called
/// inside one stop the process with a message rather than deadlock.
public enum Quiescence {
    /// Runs `body` inside a read section.
    @inlinable @inline(__always)
    public static func read<Result, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        ml_rcu_read_lock()
        defer { ml_rcu_read_unlock() }
        return try body()
    }

    /// `true` if the calling thread is inside a read section.
    public static var isInReadSection: Bool { ml_rcu_in_read_section() != 0 }

    /// Waits until every read section that began before this call has ended, blocking the calling
    /// thread (briefly spinning, then yielding, then sleeping). For code that is not async.
    ///
    /// Calling it inside a read section is a deadlock and stops the process with a message.
    public static func synchronizeBlocking() {
        precondition(
            !isInReadSection,
            "Quiescence.synchronizeBlocking() called inside a read section: it would wait for itself")
        ml_rcu_synchronize()
    }

    /// Waits until every read section that began before this call has ended, suspending the task.
    /// Concurrent callers share grace periods (the reclaimer runs one for all of them).
    public static func synchronize() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Reclaimer.shared.enqueue({ continuation.resume() }, urgent: true)
        }
    }

    /// Releases `object` after a grace period: readers that may still hold it unretained (found
    /// through a pointer that has since been replaced) are done with it by then.
    public static func release(afterGracePeriod object: AnyObject & Sendable) {
        // An explicit retain, dropped by the work itself: the object is freed when the work runs,
        // not whenever the closure happens to be destroyed.
        let retained = Unmanaged.passRetained(object)
        Reclaimer.shared.enqueue { retained.release() }
    }

    /// Runs `action` on the reclaimer thread after a grace period. Actions run in the order they
    /// were handed over, and each is destroyed (releasing what it captured) right after it runs;
    /// they must not block for long (they delay every later release) and must not call
    /// ``barrierBlocking()``. Objects released by deferred work — module definitions among them —
    /// run their `deinit` on the reclaimer thread. Deferred work is batched: it may wait about a millisecond
    /// for more to gather, so that one grace period serves many releases.
    public static func afterGracePeriod(_ action: @escaping @Sendable () -> Void) {
        Reclaimer.shared.enqueue(action)
    }

    /// Waits until every deferred release and action handed over before this call has run.
    public static func barrier() async {
        await synchronize()  // the reclaimer runs work in order: this runs after all earlier work
    }

    /// ``barrier()`` for code that is not async. Calling it inside a read section, or on the
    /// reclaimer thread (from a deferred action, or a `deinit` that deferred release triggered),
    /// would wait for itself and stops the process with a message.
    public static func barrierBlocking() {
        precondition(!isInReadSection, "Quiescence.barrierBlocking() called inside a read section")
        precondition(
            !Reclaimer.shared.isCurrentThread,
            "Quiescence.barrierBlocking() called on the reclaimer thread (a deferred action or a deinit it ran): it would wait for itself")
        Reclaimer.shared.waitForAllQueued()
    }

    /// `true` if readers rely on `membarrier(2)`; `false` means they fence (slower, still correct):
    /// the kernel lacks it, or the environment set `MODLOAD_RCU_FENCE=1` before the process's
    /// first read section (a diagnostic switch).
    public static var usesMembarrier: Bool { ml_rcu_uses_membarrier() != 0 }

    /// Threads registered as readers (every thread that ever entered a read section and has not
    /// exited).
    public static var registeredReaders: Int { Int(ml_rcu_registered_readers()) }
}
