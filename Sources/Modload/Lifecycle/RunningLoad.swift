import Synchronization

/// The record of a load in progress, shared by every caller that asked for the same name while it
/// runs (the merge thread's `shared_load_info`, docs/design.md §4.1).
///
/// Found and created under the table lock, so the first caller wins and every later one *joins*
/// before any expensive work is done. Joiners suspend on ``outcome``; the load completes it once
/// and every joiner is answered at the same moment. A joiner that is cancelled stops waiting and
/// nothing else changes: the load runs to completion for the others (an init cannot be stopped
/// half-way safely, and a later joiner must not inherit someone else's cancellation).
final class RunningLoad: Sendable {
    /// The record this load is bringing up.
    let record: ModuleRecord
    /// The winner's result: success, or the error every merged caller is answered with.
    let outcome = Completion<Result<Void, ModuleError>>()
    /// The winner was a request: missing imports are requested from the resolver.
    let autoload: Bool
    /// The winner was a top-level request: the pipeline holds one of the host's request slots.
    let takesSlot: Bool
    /// Answered once while the pipeline waits for a slot. See ``RequestSlots``.
    let slotTicket = Completion<SlotTicket>()
    /// `true` while the pipeline holds a slot (returned exactly once).
    let holdsSlot = Atomic<Bool>(false)
    /// Set, under the slots' lock, when a load's own work joined this one: it needs no slot of its
    /// own, whether it is queued already or has not asked yet. See ``RequestSlots/waive(_:)``.
    let slotWaived = Atomic<Bool>(false)
    /// Callers waiting for ``outcome`` (the winner and its joiners), counted with the table lock
    /// held: when every one of them stopped waiting while the load was still queued for a request
    /// slot, nobody wants it any more and it is abandoned (``ModuleHost/stopWaiting(for:)``).
    let callers = Atomic<Int>(1)

    /// How a wait for a request slot ended.
    enum SlotTicket: Sendable {
        /// A slot was handed over by a request that finished.
        case handedOver
        /// The wait was waived: the load runs as part of a load that holds a slot.
        case waived
        /// Every caller stopped waiting before a slot came: the load is not run at all.
        case abandoned
    }

    init(record: ModuleRecord, autoload: Bool = false, takesSlot: Bool = false) {
        self.record = record
        self.autoload = autoload
        self.takesSlot = takesSlot
    }
}
