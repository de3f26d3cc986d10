import NIOCore

/// Runs a task's jobs on one event loop: a connection's calls that only read the host are
/// answered on the loop that read them, so a call costs no hand-off to the cooperative pool and
/// back (two thread wake-ups: more than the work of a List here).
///
/// Rules: only work that neither blocks nor waits long may run here — every connection on the
/// loop waits for it. ``Connection`` moves any other call back to the global concurrent executor.
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
