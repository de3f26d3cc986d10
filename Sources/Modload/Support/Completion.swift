/// A one-shot broadcast: many tasks wait for a value that is set once.
///
/// This is the single waiting mechanism of the host. Running-load records use it to answer every
/// merged joiner at once, and drain-mode unloads use it to wait for a reference count to freeze.
/// Waiters *suspend* (no thread per waiter); a waiter can give up because its task was cancelled
/// or its timeout passed, and that affects only that waiter.
///
/// Every continuation is resumed exactly once by construction — it is handed out only by
/// `Waiter.take()`, under the lock — so the unchecked continuation is safe, and saves a checking
/// allocation per waiter (a burst can park hundreds of joiners on one completion).
final class Completion<Value: Sendable>: Sendable {
    /// How a wait ended.
    enum WaitResult {
        case value(Value)
        case cancelled
        case timedOut
    }

    /// One waiter. Its `phase` is guarded by the completion's lock.
    private final class Waiter: @unchecked Sendable {
        enum Phase {
            case pending
            case suspended(UnsafeContinuation<WaitResult, Never>)
            case finished
        }
        var phase: Phase = .pending
        var timer: Task<Void, Never>?
        /// Set if the waiter gave up before it had suspended (cancellation raced registration).
        var earlyResult: WaitResult?
        /// Its position in `State.waiters` while suspended (for O(1) removal).
        var index = -1

        /// Marks the waiter finished and hands back what must be resumed, once. Lock held.
        func take() -> (UnsafeContinuation<WaitResult, Never>, Task<Void, Never>?)? {
            guard case .suspended(let continuation) = phase else { return nil }
            phase = .finished
            defer { timer = nil }
            return (continuation, timer)
        }
    }

    private struct State {
        /// The value, once set. Never changes afterwards.
        var value: Value?
        /// Waiters currently suspended; each knows its index.
        var waiters: [Waiter] = []

        mutating func append(_ waiter: Waiter) {
            waiter.index = waiters.count
            waiters.append(waiter)
        }

        /// Removes `waiter` by swapping the last one into its place.
        mutating func remove(_ waiter: Waiter) {
            let index = waiter.index
            guard index >= 0, index < waiters.count, waiters[index] === waiter else { return }
            let last = waiters.removeLast()
            if last !== waiter {
                waiters[index] = last
                last.index = index
            }
            waiter.index = -1
        }
    }

    private let state = Locked(State())

    init() {}

    /// The value if it has been set.
    var value: Value? { state.withLock { $0.value } }

    /// Sets the value and resumes every waiter. Returns `false` (and changes nothing) if the value
    /// was already set.
    @discardableResult
    func complete(_ value: Value) -> Bool {
        let resumed: [(UnsafeContinuation<WaitResult, Never>, Task<Void, Never>?)]? = state.withLock { s in
            guard s.value == nil else { return nil }
            s.value = value
            var resumed: [(UnsafeContinuation<WaitResult, Never>, Task<Void, Never>?)] = []
            resumed.reserveCapacity(s.waiters.count)
            for waiter in s.waiters {
                if let taken = waiter.take() { resumed.append(taken) }
            }
            s.waiters.removeAll()
            return resumed
        }
        guard let resumed else { return false }
        for (continuation, timer) in resumed {
            timer?.cancel()
            continuation.resume(returning: .value(value))
        }
        return true
    }

    /// Waits for the value, until the task is cancelled or `timeout` passes.
    func wait(timeout: Duration? = nil) async -> WaitResult {
        if let value = state.withLock({ $0.value }) { return .value(value) }
        if Task.isCancelled { return .cancelled }
        let waiter = Waiter()
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<WaitResult, Never>) in
                guard suspend(waiter, continuation) else { return }
                if let timeout {
                    let timer = Task { [weak self] in
                        do { try await Task.sleep(for: timeout) } catch { return }
                        self?.finish(waiter, with: .timedOut)
                    }
                    let armed = state.withLock { _ -> Bool in
                        if case .suspended = waiter.phase { waiter.timer = timer; return true }
                        return false
                    }
                    if !armed { timer.cancel() }
                }
            }
        } onCancel: {
            self.finish(waiter, with: .cancelled)
        }
    }

    /// Waits for the value however long it takes, cancelled or not — for work that cannot be
    /// abandoned half-way (a module file's entry point running on another thread).
    func value() async -> Value {
        if let value = state.withLock({ $0.value }) { return value }
        let result = await withUnsafeContinuation { (continuation: UnsafeContinuation<WaitResult, Never>) in
            _ = suspend(Waiter(), continuation)
        }
        guard case .value(let value) = result else { preconditionFailure("an uncancellable wait ended without a value") }
        return value
    }

    /// Registers `waiter` as suspended on `continuation` — or, if the value is set or the waiter
    /// already gave up, resumes the continuation at once. Returns `true` if it registered.
    private func suspend(_ waiter: Waiter, _ continuation: UnsafeContinuation<WaitResult, Never>) -> Bool {
        let immediate: WaitResult? = state.withLock { s in
            if let value = s.value { return .value(value) }
            if let early = waiter.earlyResult { return early }
            waiter.phase = .suspended(continuation)
            s.append(waiter)
            return nil
        }
        guard let immediate else { return true }
        continuation.resume(returning: immediate)
        return false
    }

    /// Resumes `waiter` with `result` unless it has already been resumed.
    private func finish(_ waiter: Waiter, with result: WaitResult) {
        let taken: (UnsafeContinuation<WaitResult, Never>, Task<Void, Never>?)? = state.withLock { s in
            if case .pending = waiter.phase {
                // Not suspended yet: it sees this result when it registers.
                if waiter.earlyResult == nil { waiter.earlyResult = result }
                return nil
            }
            s.remove(waiter)
            return waiter.take()
        }
        guard let (continuation, timer) = taken else { return }
        timer?.cancel()
        continuation.resume(returning: result)
    }
}
