import DequeModule

/// The cap on requests running at once (the kernel's `kmod_concurrent_max`, DESIGN §6).
///
/// A top-level request that wins its load takes a slot for its whole pipeline and returns it at
/// the end, whatever happened. Requests made on behalf of a load already holding a slot (its
/// dependencies, requests from its init) take none — as modprobe loads dependencies inside one
/// process — so a deep dependency tree cannot exhaust the slots and deadlock. A request that
/// finds every slot taken waits, first come first served, up to `requestSlotTimeout`.
///
/// Lock rule: innermost; never held while waiting.
final class RequestSlots: Sendable {
    private struct State {
        var available: Int
        var waiting: Deque<Completion<Void>> = []
        var inFlight = 0
        var peak = 0
        var timeouts = 0
    }
    private let state: Locked<State>
    private let capacity: Int
    private let timeout: Duration

    init(capacity: Int, timeout: Duration) {
        self.capacity = capacity
        self.timeout = timeout
        state = Locked(State(available: capacity))
    }

    /// Takes a slot, waiting up to the timeout. Throws `timedOut` naming `module`.
    func acquire(for module: ModuleName) async throws(ModuleError) {
        let ticket: Completion<Void>? = state.withLock { s in
            if s.available > 0 {
                s.available -= 1
                s.inFlight += 1
                s.peak = max(s.peak, s.inFlight)
                return nil
            }
            let ticket = Completion<Void>()
            s.waiting.append(ticket)
            return ticket
        }
        guard let ticket else { return }
        if case .value = await ticket.wait(timeout: timeout) { return }
        // Timed out (the pipeline task is never cancelled). If the slot was handed over at the
        // same moment, keep it; otherwise leave the queue.
        let gaveUp = state.withLock { s in
            guard let index = s.waiting.firstIndex(where: { $0 === ticket }) else { return false }
            s.waiting.remove(at: index)
            s.timeouts += 1
            return true
        }
        if gaveUp {
            throw ModuleError(
                .timedOut, module: module.canonical,
                reason: "no request slot free after \(timeout) (\(capacity) requests in flight)")
        }
    }

    /// Returns a slot: to the longest waiter if there is one.
    func release() {
        let next: Completion<Void>? = state.withLock { s in
            if let next = s.waiting.popFirst() { return next }  // handed over: in flight unchanged
            s.available += 1
            s.inFlight -= 1
            return nil
        }
        next?.complete(())
    }

    var statistics: ModuleHost.RequestStatistics {
        state.withLock { s in
            ModuleHost.RequestStatistics(
                capacity: capacity, inFlight: s.inFlight, peak: s.peak, waiting: s.waiting.count, timeouts: s.timeouts)
        }
    }
}
