import Synchronization

/// The module reference count with a base (the stop_machine removal, docs/design.md §5.1).
///
/// One atomic integer. While a module is in place the count is `base + references`; the extra
/// `base` means it never reaches zero by references alone, so "zero" means exactly one thing:
/// *frozen* — an unload owns the module and no reference can ever be taken again, because a get is
/// an increment-unless-zero.
///
/// - load: `base + 1` (the +1 is held during init and dropped after it);
/// - get: increment unless zero (the caller checks the state first);
/// - put: decrement, never below zero;
/// - try-release (fail-fast unload): if the count is exactly `base`, replace it with zero —
///   frozen — in the same compare-and-swap that marks the module unloading
///   (``freezeIfUnreferenced()``); otherwise nothing changes. The kernel subtracts the base and
///   adds it back unless zero, two steps a reader can see between; one word holding state and
///   count lets this be one.
/// - force and drain: remove the base and mark unloading in one step (``beginUnloading()``); the
///   count freezes when the last holder puts. A drain that gives up adds the base back unless the
///   count froze meanwhile (``cancelUnloading()``).
///
/// Readers load the word once (``reading``): state, unloading flag and count are then a
/// combination that was true at one instant — never "live, not unloading, count −1", never
/// "0 references" while one is held.
///
/// No lock anywhere: each operation is one atomic read-modify-write, or a short CAS loop for the
/// "unless zero" steps and the unload steps.
///
/// The same word holds the module's state (bits 56–61: the state and the unloading flag), so a
/// try-get — "not going, and not frozen" — is one load and one compare-and-swap on one cache
/// line, the same two instructions as C's `get`; state changes, which are rare, are CAS loops on
/// the word.
///
/// The count also keeps the module's *record* in memory, so a reference costs no other atomic
/// operation (no ARC retain). The table holds the record while it is listed; normally a module is
/// unlinked only once its count froze at zero, so no reference outlives it. The two exceptions — a
/// forced unload, and references taken while `coming` whose init then failed — are handled by
/// ``orphan()``: the unlinker's extra retain passes to the remaining references, marked by the
/// orphan bit, and the put that releases the last of them frees it (``PutResult/lastOfOrphan``).
@usableFromInline
struct RefCount: ~Copyable, @unchecked Sendable {  // the word is atomic
    /// The base count held by the module's own presence.
    @usableFromInline static var base: Int { 1 }
    /// Set once the module is unlinked with references remaining. Counts as frozen for try-get.
    @usableFromInline static var orphanBit: Int { 1 << 62 }
    /// Where the state byte lives in the word, and the bits it may use.
    @usableFromInline static var stateShift: Int { 56 }
    @usableFromInline static var stateBits: Int { 0x3F << 56 }
    /// The count itself: references plus the base.
    @usableFromInline static var countBits: Int { (1 << 56) - 1 }
    /// The unloading flag within the state byte.
    static let unloadingFlag: UInt8 = 0x08
    /// The provisional flag within the state byte: a member of an all-or-nothing set that is not
    /// yet published (try-get fails; the set's own formation takes references with
    /// ``getHeld()``).
    static let provisionalFlag: UInt8 = 0x10
    /// Both flags: what to strip from the state byte to get the state.
    static let flagBits: UInt8 = unloadingFlag | provisionalFlag

    /// The word: state, flags and count. It lives beside other modules' words (``RefCountWords``),
    /// not in the record.
    @usableFromInline let word = RefCountWords.take(1 + 1)  // the base and the init reference; state `unformed` (0)

    deinit { RefCountWords.give(word) }

    /// The state in a loaded word (what ``ModuleRecord/state`` says), for readers that hold only
    /// the word's address.
    @inline(__always)
    static func state(inWord word: Int) -> ModuleState {
        ModuleState(rawValue: UInt8(truncatingIfNeeded: (word & stateBits) >> stateShift) & ~flagBits)!
    }

    /// The state, the unloading flag and the count from one load of the word: a combination that
    /// was true at one instant (see ``Reading``).
    var reading: Reading { Reading(word: word.pointee.load(ordering: .acquiring)) }

    /// One load of the word, decoded.
    struct Reading: Equatable {
        /// The state byte without the unloading flag.
        let state: ModuleState
        /// An unload has begun but not committed.
        let isUnloading: Bool
        /// The count field: references, plus the base while ``holdsBase``.
        let count: Int

        init(word: Int) {
            let raw = UInt8(truncatingIfNeeded: (word & RefCount.stateBits) >> RefCount.stateShift)
            state = ModuleState(rawValue: raw & ~RefCount.flagBits) ?? .gone
            isUnloading = raw & RefCount.unloadingFlag != 0
            count = word & RefCount.countBits
        }

        /// The base is in the count exactly while the module is unformed, coming or live with no
        /// unload begun (every step that changes one changes the other in the same operation).
        var holdsBase: Bool { !isUnloading && (state == .unformed || state == .coming || state == .live) }

        /// References held (while `coming`, the host's init reference is one of them).
        var references: Int { holdsBase ? count - RefCount.base : count }

        /// Frozen: an unload owns the module and no reference can be taken again.
        var isFrozen: Bool { !holdsBase && count == 0 }

        /// What `lsmod` shows: the references held, or −1 once frozen (the kernel's convention).
        var reported: Int { isFrozen ? -1 : references }
    }

    // MARK: State

    /// The state byte: a ``ModuleState`` raw value, plus ``unloadingFlag``.
    @inline(__always)
    var rawState: UInt8 { UInt8(truncatingIfNeeded: (word.pointee.load(ordering: .acquiring) & Self.stateBits) >> Self.stateShift) }

    /// Replaces the state byte (the count is untouched).
    func setRawState(_ raw: UInt8) {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let desired = (current & ~Self.stateBits) | (Int(raw) << Self.stateShift)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    // MARK: References

    /// What a put did.
    @usableFromInline
    enum PutResult: Sendable {
        /// References (or the base) remain.
        case held
        /// The count reached zero: an unload that removed the base may proceed.
        case frozen
        /// The last reference to an orphaned record: its holder must free the record.
        case lastOfOrphan
        /// A put without a get (a bug in the caller); undone.
        case underflow
    }

    /// Try-get: increments if the state is exactly `coming` or `live` (no unload begun) and the
    /// count is neither zero nor orphaned. One load and one CAS, retried only on a race.
    @inlinable @inline(__always)
    func tryGet() -> Bool {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let state = UInt8(truncatingIfNeeded: (current & Self.stateBits) >> Self.stateShift)
            guard state == ModuleState.coming.rawValue || state == ModuleState.live.rawValue,
                current & Self.countBits != 0, current & Self.orphanBit == 0
            else { return false }
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: current + 1, successOrdering: .acquiringAndReleasing,
                failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Increments a count the caller already holds a reference on (cannot be frozen).
    @inlinable @inline(__always)
    func getHeld() {
        word.pointee.wrappingAdd(1, ordering: .relaxed)
    }

    /// Decrements. An underflow — a put without a get, which is a bug in the caller
    /// (``ModuleReference`` being `~Copyable` rules it out) — is undone. The hot path stays one
    /// atomic RMW, so the undo is not atomic with it: for that instant a frozen count reads −1.
    @inlinable @inline(__always)
    func put() -> PutResult {
        let new = word.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
        let count = new & Self.countBits
        if count != 0 && count != Self.countBits { return .held }
        if count == 0 {
            // Exactly one put sees a zero count with the orphan bit (it released the last one).
            return new & Self.orphanBit != 0 ? .lastOfOrphan : .frozen
        }
        word.pointee.wrappingAdd(1, ordering: .relaxed)
        return .underflow
    }

    // MARK: Unloading
    //
    // Every step below changes the state byte and the count in *one* atomic operation (a CAS
    // loop), so a reader that loads the word once (``reading``) always sees a combination that
    // was true at one instant: the base is in the count exactly when the state is unformed,
    // coming or live without the unloading flag. The caller holds the table lock (state writes
    // happen only under it), so only the count can move under the CAS: a racing get or put.

    /// Fail-fast try-release (the kernel's `try_release`, as one step): if the module is live
    /// with no unload begun and holds no references, marks it unloading and freezes the count
    /// (removes the base). Otherwise changes nothing. Returns the references held: 0 means frozen.
    func freezeIfUnreferenced() -> Int {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let held = (current & Self.countBits) - Self.base
            guard held == 0 else { return held }
            let desired = Self.word(state: ModuleState.live.rawValue | Self.unloadingFlag, count: 0, orphan: current)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return 0 }
            current = original
        }
    }

    /// Force and drain: marks a live module unloading and removes the base, in one step. Returns
    /// the references still held (0: frozen now); the count freezes when the last one is put.
    func beginUnloading() -> Int {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let held = (current & Self.countBits) - Self.base
            let desired = Self.word(state: ModuleState.live.rawValue | Self.unloadingFlag, count: held, orphan: current)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return held }
            current = original
        }
    }

    /// A drain that gave up: adds the base back and clears the unloading flag — unless the count
    /// froze meanwhile (a racing put released the last reference). Returns `true` if the module
    /// is live again, `false` if it froze (the unload may proceed).
    func cancelUnloading() -> Bool {
        var current = word.pointee.load(ordering: .relaxed)
        while current & Self.countBits != 0 {
            let desired = Self.word(
                state: ModuleState.live.rawValue, count: (current & Self.countBits) + Self.base, orphan: current)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// An unload refused after the count froze (the module's cleanup said no): live again, the
    /// base back, in one step. Only the unloader that froze the count may call this.
    func reinstate() {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let desired = Self.word(
                state: ModuleState.live.rawValue, count: (current & Self.countBits) + Self.base, orphan: current)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// A load that failed: `going`, with the base and the init reference (never dropped) removed,
    /// in one step. Returns the references taken while it was coming.
    @discardableResult
    func failLoad() -> Int {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let held = (current & Self.countBits) - Self.base - 1
            let desired = Self.word(state: ModuleState.going.rawValue, count: held, orphan: current)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return held }
            current = original
        }
    }

    /// A replace's switch (the old generation): `old`, with the base removed, in one step. Returns
    /// the references still held (0: frozen now); the count freezes when the last one is put.
    func retire() -> Int {
        var current = word.pointee.load(ordering: .relaxed)
        while true {
            let held = (current & Self.countBits) - Self.base
            let desired = Self.word(state: ModuleState.old.rawValue, count: held, orphan: current)
            let (exchanged, original) = word.pointee.weakCompareExchange(
                expected: current, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return held }
            current = original
        }
    }

    /// A word with `state`, `count`, and the orphan bit of `orphan`.
    private static func word(state: UInt8, count: Int, orphan: Int) -> Int {
        (Int(state) << stateShift) | (count & countBits) | (orphan & orphanBit)
    }

    /// At unlink, with the base (and any init reference) already gone: `true` if references
    /// remain — the record is now orphaned, and the caller's extra retain belongs to them —
    /// `false` if none did (nothing changes).
    func orphan() -> Bool {
        let previous = word.pointee.bitwiseOr(Self.orphanBit, ordering: .acquiringAndReleasing).oldValue
        if previous & Self.countBits != 0 { return true }
        // No references: a zero count cannot change (try-get refuses it, nobody can put), so the
        // bit can simply be taken back.
        word.pointee.bitwiseAnd(~Self.orphanBit, ordering: .acquiringAndReleasing)
        return false
    }
}
