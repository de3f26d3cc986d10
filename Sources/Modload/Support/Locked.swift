#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// State guarded by a `pthread_mutex_t`.
///
/// Modload uses this rather than `Synchronization.Mutex` because ThreadSanitizer does not
/// instrument `Mutex`'s contended slow path and reports false races on it (docs/design.md §11).
/// Every lock in the host is one of these or a `Monitor` (the same mutex with a condition
/// variable, for threads that block), so the TSan stress runs stay meaningful.
///
/// Rules: critical sections are short, never suspend, never call user code (module init/exit,
/// observers), and never take a second `Locked` unless the order is documented at both sites.
///
/// Public so that the layers above the core (the demo's timeline, its daemon client) lock the
/// same way and their TSan runs stay meaningful too.
public final class Locked<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var state: State

    /// State `initial`, unlocked.
    public init(_ initial: State) {
        state = initial
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the lock held and the state mutable.
    @inline(__always)
    public func withLock<Result, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
