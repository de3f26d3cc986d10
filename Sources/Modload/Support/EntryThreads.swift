#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DequeModule
import Synchronization

/// Threads that run module-file entry points (init, exit, cleanup), off Swift's cooperative pool.
///
/// A module file's entry point is plain C: it may block — sleep, do I/O, or call the host's
/// `request`, which blocks until another module is loaded. Blocking a cooperative-pool thread
/// (there are as many as cores) could starve the very load it waits for, so entry points run here
/// and the calling task waits. Distinct modules' inits run on distinct threads, in parallel, as
/// built-in modules' inits do.
///
/// Handing work to another thread and back costs two wake-ups, and waking a sleeping thread
/// costs 15–20 µs on these machines — more than most entry points run. So both sides spin briefly
/// before they sleep (the usual adaptive spinning of thread pools): a thread that finished an
/// entry point watches for the next one for ``workerSpin``, and a caller watches for its entry
/// point to return for ``callerSpin`` before it suspends. A burst of loads and unloads then hands
/// over in about a microsecond; an idle process spins for nothing. Idle threads sleep, and exit
/// after ``idleLifetime``. There is one set of threads per process.
final class EntryThreads: Sendable {
    static let shared = EntryThreads()

    /// How long a thread that ran an entry point watches for another before it sleeps.
    static let workerSpin: Duration = .microseconds(50)
    /// How long a caller watches for its entry point to return before it suspends.
    static let callerSpin: Duration = .microseconds(20)
    /// How long a sleeping thread waits for work before it exits.
    static let idleLifetime: Duration = .seconds(2)

    typealias Job = @Sendable () -> Void

    /// Lock rule: `state` is a leaf lock, held only to edit the queue and counts.
    private struct State {
        var queue = Deque<Job>()
        /// Threads watching `queued` for work (they need no wake-up).
        var spinning = 0
        /// Threads asleep on the condition variable.
        var sleeping = 0
        /// Threads alive.
        var threads = 0
    }
    private let state = Monitor(State())
    /// Jobs in the queue, readable without the lock by spinning threads.
    private let queued = Atomic<Int>(0)

    /// Runs `body` on an entry-point thread and returns its result. Cancelling the calling task
    /// does not stop `body` (C code cannot be interrupted).
    func run<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
        let ticket = Ticket<Value>()
        submit { ticket.complete(body()) }
        if ticket.spin(for: Self.callerSpin) { return ticket.value }
        return await ticket.park()
    }

    /// The number of threads alive now (for tests and reports).
    var threadCount: Int { state.withLock { $0.threads } }

    private func submit(_ job: @escaping Job) {
        enum Wake { case none, sleeper, spawn }
        let wake = state.withLock { s -> Wake in
            s.queue.append(job)
            queued.add(1, ordering: .releasing)
            // Threads spinning or asleep beyond those already claimed by queued jobs?
            if s.spinning + s.sleeping >= s.queue.count { return s.spinning >= s.queue.count ? .none : .sleeper }
            s.threads += 1
            return .spawn
        }
        switch wake {
        case .none: break
        case .sleeper: state.update { _ in }  // wake the sleepers; one takes the job
        case .spawn: startThread()
        }
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

    /// Takes the next job: at once if one is queued; else after spinning for one; else after
    /// sleeping for one. `nil` (and the thread counted out) after an idle lifetime.
    private func nextJob() -> Job? {
        if let job = state.withLock({ s in s.queue.popFirst().map { queued.subtract(1, ordering: .relaxed); return $0 } }) {
            return job
        }
        state.withLock { $0.spinning += 1 }
        _ = spinUntil(Self.workerSpin) { queued.load(ordering: .acquiring) > 0 }
        return state.wait(
            until: { s in
                if s.spinning > 0 {  // first check: this thread stops spinning, and sleeps unless work came
                    s.spinning -= 1
                    s.sleeping += 1
                }
                return !s.queue.isEmpty
            }, timeout: Self.idleLifetime
        ) { s, _ in
            s.sleeping -= 1
            if let job = s.queue.popFirst() {
                queued.subtract(1, ordering: .relaxed)
                return job
            }
            s.threads -= 1
            return nil
        }
    }

    /// One entry point's result: written by the entry-point thread, read by the caller — who
    /// either spins for it or parks a continuation, whichever the state word says.
    private final class Ticket<Value: Sendable>: @unchecked Sendable {  // fields ordered by `phase`
        private static var running: UInt8 { 0 }
        private static var done: UInt8 { 1 }
        private static var parked: UInt8 { 2 }
        private let phase = Atomic<UInt8>(0)
        private var result: Value?
        private var continuation: UnsafeContinuation<Value, Never>?

        /// The entry point returned (entry-point thread).
        func complete(_ value: Value) {
            result = value
            if phase.exchange(Self.done, ordering: .acquiringAndReleasing) == Self.parked {
                continuation!.resume(returning: value)
            }
        }

        /// Watches for the result for up to `budget`; `true` if it came.
        func spin(for budget: Duration) -> Bool {
            spinUntil(budget) { phase.load(ordering: .acquiring) == Self.done }
        }

        /// The result, once ``spin(for:)`` returned `true`.
        var value: Value { result! }

        /// Suspends until the result comes.
        func park() async -> Value {
            await withUnsafeContinuation { continuation in
                self.continuation = continuation
                if !phase.compareExchange(expected: Self.running, desired: Self.parked, ordering: .acquiringAndReleasing).exchanged {
                    continuation.resume(returning: result!)  // it came meanwhile
                }
            }
        }
    }
}

/// Spins until `condition` holds or `budget` passes (reading the clock every 64 checks); returns
/// whether the condition held.
private func spinUntil(_ budget: Duration, _ condition: () -> Bool) -> Bool {
    let (seconds, attoseconds) = budget.components
    let limit = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    while true {
        for _ in 0..<64 where condition() { return true }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let elapsed = UInt64((now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec))
        if elapsed >= limit { return condition() }
    }
}
