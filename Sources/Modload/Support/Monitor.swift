#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// State guarded by a `pthread_mutex_t`, with a condition variable for *threads* that must block
/// until the state changes — threads of Modload's own (module entry-point threads), never tasks
/// (tasks wait on a ``Completion``). The same TSan reasoning as ``Locked`` applies.
///
/// Rules: as ``Locked``; a thread blocks only in ``wait(until:timeout:_:)``, which releases the
/// lock while it sleeps.
final class Monitor<State>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    init(_ initial: State) {
        state = initial
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the lock held and the state mutable.
    func withLock<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }

    /// Runs `body` with the lock held, then wakes every blocked thread.
    func update<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer {
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        return body(&state)
    }

    /// Runs `body` with the lock held, then wakes every blocked thread only if `body` set `wake` —
    /// for changes that usually concern nobody, where a wake-up per change would cost a sleeper a
    /// context switch for nothing.
    func withLock<Result>(wakingIf body: (inout State, _ wake: inout Bool) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        var wake = false
        defer {
            if wake { pthread_cond_broadcast(condition) }
            pthread_mutex_unlock(mutex)
        }
        return body(&state, &wake)
    }

    /// Blocks the calling thread until `ready` holds (checked with the lock held before the first
    /// sleep and after every wake; it may update the state, e.g. to count the thread as asleep) or
    /// `timeout` passes, then runs `body` with the lock held; `timedOut` tells it which.
    func wait<Result>(
        until ready: (inout State) -> Bool, timeout: Duration? = nil, _ body: (inout State, _ timedOut: Bool) -> Result
    ) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var deadline = timespec()
        if let timeout {
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
            deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
        }
        var timedOut = false
        while !ready(&state) && !timedOut {
            if timeout == nil {
                pthread_cond_wait(condition, mutex)
            } else if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT {
                timedOut = !ready(&state)
            }
        }
        return body(&state, timedOut)
    }
}

/// Blocks the calling thread until `body`, run as a task, returns — for threads that are not the
/// concurrency pool's (a module's entry point calling back into the host). Never call it on a
/// pool thread: the task may need that thread to make progress.
func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let answer = Monitor<Value?>(nil)
    Task {
        let value = await body()
        answer.update { $0 = value }
    }
    return answer.wait(until: { $0 != nil }) { value, _ in value! }
}
