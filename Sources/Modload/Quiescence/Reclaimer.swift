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
/// Lock rule: `mutex` guards `queue`, `started`, `completedBatches` and `takenBatches`; it is never
/// held while work runs or while waiting for a grace period.
final class Reclaimer: @unchecked Sendable {
    static let shared = Reclaimer()

    typealias Work = @Sendable () -> Void

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let batchDone = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Work] = []
    private var started = false
    /// Batches taken from the queue / batches whose work has run.
    private var takenBatches: UInt64 = 0
    private var completedBatches: UInt64 = 0

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(workAvailable, nil)
        pthread_cond_init(batchDone, nil)
    }

    /// Queues `work` to run after a grace period.
    func enqueue(_ work: @escaping Work) {
        pthread_mutex_lock(mutex)
        queue.append(work)
        let start = !started
        started = true
        pthread_cond_signal(workAvailable)
        pthread_mutex_unlock(mutex)
        if start { startThread() }
    }

    /// Blocks until everything queued before this call has run.
    func waitForAllQueued() {
        pthread_mutex_lock(mutex)
        // Work queued now is in the batch after the last one taken.
        let target = queue.isEmpty ? takenBatches : takenBatches + 1
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
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty { pthread_cond_wait(workAvailable, mutex) }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            takenBatches += 1
            pthread_mutex_unlock(mutex)

            ml_rcu_synchronize()
            for work in batch { work() }

            pthread_mutex_lock(mutex)
            completedBatches += 1
            pthread_cond_broadcast(batchDone)
            pthread_mutex_unlock(mutex)
        }
    }
}
