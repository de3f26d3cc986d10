import DequeModule

/// The cap on requests running at once (the kernel's `kmod_concurrent_max`, docs/design.md §6).
///
/// A top-level request that wins its load takes a slot for its whole pipeline and returns it just
/// before its callers are answered, whatever happened. Requests made by the task doing a load's
/// work (its dependencies, requests its init awaits) take none — as modprobe loads dependencies
/// inside one process — so a deep dependency tree cannot exhaust the slots and deadlock. For the
/// same reason, when such a task joins a load still queued for a slot, that wait is *waived*: the
/// queued load now runs as part of the joiner's. A request that finds every slot taken waits,
/// first come first served, up to `requestSlotTimeout`. A queued load whose callers all stopped
/// waiting (cancelled) leaves the queue unrun (the kernel's killed `request_module` waiter).
///
/// Lock rule: innermost; never held while waiting.
final class RequestSlots: Sendable {
    private struct State {
        var available: Int
        var waiting: Deque<RunningLoad> = []
        var inFlight = 0
        /// The modules whose pipelines hold the slots (for the error of a request that waited).
        var holders: [ObjectIdentifier: String] = [:]
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

    /// Takes a slot for `load`'s pipeline, waiting up to the timeout; returns at once if the wait
    /// is waived. Throws `timedOut` naming the module.
    func acquire(for load: RunningLoad) async throws(ModuleError) {
        let queued: Bool = state.withLock { s in
            if load.slotWaived.load(ordering: .relaxed) { return false }  // joined before it asked
            if s.available > 0 {
                s.available -= 1
                s.inFlight += 1
                s.peak = max(s.peak, s.inFlight)
                s.holders[ObjectIdentifier(load)] = load.record.name.canonical
                load.holdsSlot.store(true, ordering: .releasing)
                return false
            }
            s.waiting.append(load)
            return true
        }
        guard queued else { return }
        switch await load.slotTicket.wait(timeout: timeout) {
        case .value(let ticket):
            try take(ticket, for: load)
            return
        case .timedOut, .cancelled:
            break
        }
        // Timed out (the pipeline task is never cancelled). If the slot was handed over or the
        // wait waived at the same moment, take that; otherwise leave the queue.
        let holders: [String]? = state.withLock { s in
            guard let index = s.waiting.firstIndex(where: { $0 === load }) else { return nil }
            s.waiting.remove(at: index)
            s.timeouts += 1
            return s.holders.values.sorted()
        }
        if let holders {
            throw ModuleError(
                .timedOut, module: load.record.name.canonical,
                reason: "no request slot free after \(timeout) (\(capacity) requests in flight: \(holders.joined(separator: ", ")))")
        }
        // Whoever took the ticket out of the queue completes it right after: wait for that.
        if case .value(let ticket) = await load.slotTicket.wait() { try take(ticket, for: load) }
    }

    private func take(_ ticket: RunningLoad.SlotTicket, for load: RunningLoad) throws(ModuleError) {
        switch ticket {
        case .handedOver: load.holdsSlot.store(true, ordering: .releasing)
        case .waived: break
        case .abandoned:
            throw ModuleError(
                .cancelled, module: load.record.name.canonical,
                reason: "every caller stopped waiting before a request slot was free; nothing was loaded")
        }
    }

    /// Lets `load` run without a slot of its own (it became part of a load holding one): taken
    /// out of the queue if it waits there, and marked, so that a load that has not asked for its
    /// slot yet (its pipeline task has not started) does not queue later — the waiver would
    /// otherwise be lost, and the load would wait for a slot held by the load waiting for it.
    func waive(_ load: RunningLoad) {
        let queued = state.withLock { s -> Bool in
            load.slotWaived.store(true, ordering: .relaxed)
            guard let index = s.waiting.firstIndex(where: { $0 === load }) else { return false }
            s.waiting.remove(at: index)
            return true
        }
        if queued { load.slotTicket.complete(.waived) }
    }

    /// Takes `load` out of the queue if it is still there; `true` if it was. The caller then
    /// answers its ticket (``waive(_:)``, or an abandonment).
    func leaveQueue(_ load: RunningLoad) -> Bool {
        state.withLock { s in
            guard let index = s.waiting.firstIndex(where: { $0 === load }) else { return false }
            s.waiting.remove(at: index)
            return true
        }
    }

    /// Returns `load`'s slot if it holds one (once): to the longest waiter if there is one.
    func finish(_ load: RunningLoad) {
        guard load.holdsSlot.exchange(false, ordering: .acquiringAndReleasing) else { return }
        let next: RunningLoad? = state.withLock { s in
            s.holders[ObjectIdentifier(load)] = nil
            if let next = s.waiting.popFirst() {  // handed over: in flight unchanged
                s.holders[ObjectIdentifier(next)] = next.record.name.canonical
                return next
            }
            s.available += 1
            s.inFlight -= 1
            return nil
        }
        next?.slotTicket.complete(.handedOver)
    }

    var statistics: ModuleHost.RequestStatistics {
        state.withLock { s in
            ModuleHost.RequestStatistics(
                capacity: capacity, inFlight: s.inFlight, peak: s.peak, waiting: s.waiting.count, timeouts: s.timeouts)
        }
    }
}
