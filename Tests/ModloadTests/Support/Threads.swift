#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Modload

// Real threads for concurrency tests: plain POSIX threads, as a C caller or a daemon's connection
// threads would call the host. A lost waiter fails the test that lost it — it never hangs the run.

/// Runs `body(i)` on `count` new POSIX threads at once and returns when all have finished.
///
/// The caller *suspends* while the threads run: blocking a cooperative-pool thread in
/// `pthread_join` would starve the pool on a 2-core machine, and the threads' ``blocking(_:_:)``
/// calls need the pool to make progress.
///
/// If a thread has not finished after `timeout` — or the test's time limit cancels the caller —
/// the test fails with an issue naming every thread still running and what it was doing (the
/// label of the ``blocking(_:_:)`` call it is in), and `onThreads` returns without joining them:
/// they are abandoned, so one lost wake-up fails one test instead of hanging the whole run.
func onThreads(
    _ count: Int, timeout: Duration = .seconds(240), sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable (Int) -> Void
) async {
    final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    let finished = Atomic<Int>(0)
    let done = (0..<count).map { _ in Flag() }
    ThreadActivity.clear()  // the registry exists before any thread needs it
    let allFinished = Completion<Void>()
    var threads: [pthread_t] = []
    for index in 0..<count {
        let start = Unmanaged.passRetained(Start {
            body(index)
            ThreadActivity.clear()
            done[index].set()
            if finished.add(1, ordering: .acquiringAndReleasing).newValue == count { allFinished.complete(()) }
        }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, start)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        threads.append(thread)
    }
    switch await allFinished.wait(timeout: timeout) {
    case .value:
        for thread in threads { pthread_join(thread, nil) }  // already finished: returns at once
    case .timedOut, .cancelled:
        let stuck = threads.indices.filter { !done[$0].isSet }
        let what = stuck.map { "thread \($0): \(ThreadActivity.label(of: threads[$0]) ?? "running its body")" }
        let report = "\(stuck.count) of \(count) threads did not finish within \(timeout) (or the test was cancelled): \(what.joined(separator: "; "))"
        Issue.record(Comment(rawValue: report), sourceLocation: sourceLocation)
        for (index, thread) in threads.enumerated() {
            if done[index].isSet { pthread_join(thread, nil) } else { pthread_detach(thread) }
        }
    }
}

/// Blocks a plain thread until async work finishes (the work runs on the concurrency pool): the
/// library's own bridge, built on pthread primitives so ThreadSanitizer sees the hand-off.
/// `label` says what the thread waits for, should it never come back (``onThreads``).
func blocking<T: Sendable>(_ label: String, _ body: @escaping @Sendable () async -> T) -> T {
    ThreadActivity.set(label)
    defer { ThreadActivity.clear() }
    return runBlocking(body)
}

/// ``blocking(_:_:)`` without a label.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    blocking("a blocking call", body)
}

/// A settable flag (an `Atomic` cannot go in an array).
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// What each test thread is waiting for, by thread, for the report of a thread that never returns.
enum ThreadActivity {
    private static let labels = Locked([UInt: String]())

    private static var me: UInt { UInt(pthread_self()) }

    static func set(_ label: String) { labels.withLock { $0[me] = label } }
    static func clear() { _ = labels.withLock { $0.removeValue(forKey: me) } }
    static func label(of thread: pthread_t) -> String? { labels.withLock { $0[UInt(thread)] } }
}
