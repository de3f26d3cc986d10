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
/// Lock rule: `mutex` guards `queue`, `urgent`, `started`, `idle`, `completedBatches` and `takenBatches`;
/// it is never held while work runs or while waiting for a grace period.
final class Reclaimer: @unchecked Sendable {
    static let shared = Reclaimer()

    typealias Work = @Sendable () -> Void

    /// How long deferred releases may gather before a grace period is started for them.
    static let lazyDelay: Duration = .milliseconds(1)
    /// A batch this large starts a grace period without waiting.
    static let maximumBatch = 4_096

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let batchDone = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Work] = []
    /// Someone is waiting for queued work: don't gather, start the grace period.
    private var urgent = false
    private var started = false
    /// The thread sleeps waiting for work (as opposed to gathering a batch, or running one).
    private var idle = false
    /// Batches taken from the queue / batches whose work has run.
    private var takenBatches: UInt64 = 0
    private var completedBatches: UInt64 = 0
    /// The reclaimer thread, once started (set before it runs any work).
    private var thread: pthread_t?

    private init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(workAvailable, &attributes)
        pthread_condattr_destroy(&attributes)
        pthread_cond_init(batchDone, nil)
    }

    /// Queues `work` to run after a grace period. `urgent`: a caller is waiting for it.
    func enqueue(_ work: @escaping Work, urgent: Bool = false) {
        pthread_mutex_lock(mutex)
        queue.append(work)
        if urgent { self.urgent = true }
        let start = !started
        started = true
        // Wake the thread only if it must act now: it sleeps on an empty queue, someone waits,
        // or the batch is full. Deferred work arriving while it gathers a batch waits for the
        // batch's timer — a wake-up per release would cost each a context switch for nothing.
        if idle || urgent || queue.count >= Self.maximumBatch { pthread_cond_signal(workAvailable) }
        pthread_mutex_unlock(mutex)
        if start { startThread() }
    }

    /// `true` while the thread waits for a grace period (between taking a batch and running it).
    /// For tests that must know a grace period is under way rather than sleep and hope.
    var isInGracePeriod: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return takenBatches > completedBatches
    }

    /// `true` on the reclaimer thread itself.
    var isCurrentThread: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// Blocks until everything queued before this call has run.
    func waitForAllQueued() {
        pthread_mutex_lock(mutex)
        // Work queued now is in the batch after the last one taken.
        let target = queue.isEmpty ? takenBatches : takenBatches + 1
        if !queue.isEmpty {
            urgent = true
            pthread_cond_signal(workAvailable)
        }
        while completedBatches < target { pthread_cond_wait(batchDone, mutex) }
        pthread_mutex_unlock(mutex)
    }

    private func startThread() {
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { _ in Reclaimer.shared.run() }, nil)
        precondition(rc == 0, "cannot start the quiescence reclaimer thread: \(rc)")
        pthread_detach(thread)
    }

    private func run() -> Never {
        pthread_mutex_lock(mutex)
        thread = pthread_self()
        pthread_mutex_unlock(mutex)
        while true {
            pthread_mutex_lock(mutex)
            idle = true
            while queue.isEmpty { pthread_cond_wait(workAvailable, mutex) }
            idle = false
            if !urgent && queue.count < Self.maximumBatch {
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                let (seconds, attoseconds) = Self.lazyDelay.components
                deadline.tv_sec += Int(seconds)
                deadline.tv_nsec += Int(attoseconds / 1_000_000_000)
                if deadline.tv_nsec >= 1_000_000_000 {
                    deadline.tv_sec += 1
                    deadline.tv_nsec -= 1_000_000_000
                }
                while !urgent && queue.count < Self.maximumBatch
                    && pthread_cond_timedwait(workAvailable, mutex, &deadline) != ETIMEDOUT
                {}
            }
            urgent = false
            var batch = queue
            queue.removeAll(keepingCapacity: true)
            takenBatches += 1
            pthread_mutex_unlock(mutex)

            ml_rcu_synchronize()
            // Run in order, destroying each item (and what it captured) right after it runs, so
            // "has run" includes "has released": a barrier later in the batch sees it done.
            batch.reverse()
            while let work = batch.popLast() { work() }

            pthread_mutex_lock(mutex)
            completedBatches += 1
            pthread_cond_broadcast(batchDone)
            pthread_mutex_unlock(mutex)
        }
    }
}
