#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadRCU

/// The reclaimer: one background thread that runs deferred work after grace periods.
///
/// Work handed over is queued; the thread takes everything queued, waits one grace period, runs
/// it in order, and repeats. So one grace period serves a whole batch, and work handed over
/// later never runs before work handed over earlier. The thread starts with the first work and
/// sleeps on a condition variable when there is none.
///
/// Batching: a grace period costs every reader CPU an interrupt (membarrier), so when only
/// deferred releases are queued the thread lets them gather for up to ``lazyDelay`` (or until
/// ``maximumBatch`` are queued) before starting one. Someone *waiting* — `synchronize()`,
/// `barrier()` — makes the queue urgent and the grace period starts at once.
///
/// Lock rule: `state` (a ``Monitor``) guards the queue, `urgent`, `started`, `idle` and the batch
/// counters; it is never held while work runs or while waiting for a grace period. The reclaimer
/// thread and ``waitForAllQueued()`` are the only sleepers on it.
final class Reclaimer: @unchecked Sendable {
    static let shared = Reclaimer()

    typealias Work = @Sendable () -> Void

    /// How long deferred releases may gather before a grace period is started for them.
    static let lazyDelay: Duration = .milliseconds(1)
    /// A batch this large starts a grace period without waiting.
    static let maximumBatch = 4_096

    private struct State {
        var queue: [Work] = []
        /// Someone is waiting for queued work: don't gather, start the grace period.
        var urgent = false
        var started = false
        /// The thread sleeps waiting for work (as opposed to gathering a batch, or running one).
        var idle = false
        /// Batches taken from the queue / batches whose work has run.
        var takenBatches: UInt64 = 0
        var completedBatches: UInt64 = 0
        /// The reclaimer thread, once started (set before it runs any work).
        var thread: pthread_t?
    }

    private let state = Monitor(State())

    private init() {}

    /// Queues `work` to run after a grace period. `urgent`: a caller is waiting for it.
    func enqueue(_ work: @escaping Work, urgent: Bool = false) {
        let start = state.withLock { (s: inout State, wake: inout Bool) -> Bool in
            s.queue.append(work)
            if urgent { s.urgent = true }
            let start = !s.started
            s.started = true
            // Wake the thread only if it must act now: it sleeps on an empty queue, someone waits,
            // or the batch is full. Deferred work arriving while it gathers a batch waits for the
            // batch's timer — a wake-up per release would cost each a context switch for nothing.
            wake = s.idle || urgent || s.queue.count >= Self.maximumBatch
            return start
        }
        if start { startThread() }
    }

    /// `true` while the thread waits for a grace period (between taking a batch and running it).
    /// For tests that must know a grace period is under way rather than sleep and hope.
    var isInGracePeriod: Bool {
        state.withLock { $0.takenBatches > $0.completedBatches }
    }

    /// `true` on the reclaimer thread itself.
    var isCurrentThread: Bool {
        state.withLock { s in s.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    /// Blocks until everything queued before this call has run.
    func waitForAllQueued() {
        // Work queued now is in the batch after the last one taken.
        let target = state.withLock { (s: inout State, wake: inout Bool) -> UInt64 in
            guard !s.queue.isEmpty else { return s.takenBatches }
            s.urgent = true
            wake = true
            return s.takenBatches + 1
        }
        state.wait(until: { $0.completedBatches >= target }) { _, _ in }
    }

    private func startThread() {
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { _ in Reclaimer.shared.run() }, nil)
        precondition(rc == 0, "cannot start the quiescence reclaimer thread: \(rc)")
        pthread_detach(thread)
    }

    private func run() -> Never {
        state.withLock { $0.thread = pthread_self() }
        while true {
            // 1. Sleep until there is work (counted as idle, so enqueue knows to wake us).
            state.wait(until: { s in
                s.idle = s.queue.isEmpty
                return !s.idle
            }) { _, _ in }
            // 2. Let deferred releases gather for up to lazyDelay, unless someone waits or the
            //    batch is full; then take the batch.
            var batch = state.wait(
                until: { $0.urgent || $0.queue.count >= Self.maximumBatch }, timeout: Self.lazyDelay
            ) { s, _ in
                s.urgent = false
                s.takenBatches += 1
                defer { s.queue.removeAll(keepingCapacity: true) }
                return s.queue
            }
            // 3. One grace period for the whole batch.
            ml_rcu_synchronize()
            // 4. Run in order, destroying each item (and what it captured) right after it runs, so
            //    "has run" includes "has released": a barrier later in the batch sees it done.
            batch.reverse()
            while let work = batch.popLast() { work() }
            state.update { $0.completedBatches += 1 }
        }
    }
}
