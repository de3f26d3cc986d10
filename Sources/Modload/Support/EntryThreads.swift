#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DequeModule

/// Threads that run module-file entry points (init, exit, cleanup), off Swift's cooperative pool.
///
/// A module file's entry point is plain C: it may block — sleep, do I/O, or call the host's
/// `request`, which blocks until another module is loaded. Blocking a cooperative-pool thread
/// (there are as many as cores) could starve the very load it waits for, so entry points run here
/// and the calling task suspends until they return. Distinct modules' inits run on distinct
/// threads, in parallel, as built-in modules' inits do.
///
/// The price is two thread hand-offs per entry point (tens of microseconds when the threads were
/// asleep; `BENCHMARKS.md` measures it). Threads are kept: an idle one waits ``idleLifetime``
/// for more work before it exits, so a burst of loads does not create a thread per entry point.
/// There is one set of threads per process.
final class EntryThreads: Sendable {
    static let shared = EntryThreads()

    /// How long an idle thread waits for work before it exits.
    static let idleLifetime: Duration = .seconds(2)

    typealias Job = @Sendable () -> Void

    /// Lock rule: `state` is a leaf lock, held only to edit the queue and counts.
    private struct State {
        var queue = Deque<Job>()
        /// Threads waiting for work.
        var idle = 0
    }
    private let state = Monitor(State())

    /// Runs `body` on an entry-point thread and returns its result; the calling task suspends
    /// meanwhile. Cancelling the task does not stop `body` (C code cannot be interrupted).
    func run<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
        // Through the host's one waiting mechanism: the hand-off is ordered by its lock, which
        // ThreadSanitizer sees (a bare continuation resumed from this thread is ordered only by
        // the concurrency runtime's own atomics, which it does not).
        let result = Completion<Value>()
        submit { result.complete(body()) }
        return await result.value()
    }

    private func submit(_ job: @escaping Job) {
        // Wake an idle thread, or start one when every thread is busy.
        let spawn = state.update { s -> Bool in
            s.queue.append(job)
            return s.idle < s.queue.count
        }
        if spawn { startThread() }
    }

    private func startThread() {
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { _ in
            EntryThreads.shared.work()
            return nil
        }, nil)
        precondition(rc == 0, "cannot start a module entry-point thread: \(rc)")
        pthread_detach(thread)
    }

    private func work() {
        while let job = nextJob() { job() }
    }

    /// Waits for the next job; `nil` after an idle lifetime (the thread then exits).
    private func nextJob() -> Job? {
        var counted = false
        return state.wait(
            until: { s in
                if !counted {  // checked first with the lock held: this thread is idle from here
                    s.idle += 1
                    counted = true
                }
                return !s.queue.isEmpty
            }, timeout: Self.idleLifetime
        ) { s, _ in
            s.idle -= 1
            return s.queue.popFirst()
        }
    }
}
