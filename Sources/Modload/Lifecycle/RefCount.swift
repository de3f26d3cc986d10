import Synchronization

/// The module reference count with a base (seed 001, DESIGN §5.1).
///
/// One atomic integer. While a module is in place the count is `base + references`; the extra
/// `base` means it never reaches zero by references alone, so "zero" means exactly one thing:
/// *frozen* — an unload owns the module and no reference can ever be taken again, because a get is
/// an increment-unless-zero.
///
/// - load: `base + 1` (the +1 is held during init and dropped after it);
/// - get: increment unless zero (the caller checks the state first);
/// - put: decrement, never below zero;
/// - try-release: subtract `base` (``removeBase()``); zero → frozen. Otherwise add `base` back
///   *unless the count reached zero meanwhile* (``restoreBase()``; a racing put released the
///   last reference: also frozen). The two steps are separate because force and drain unloads
///   stop after the first.
///
/// No lock anywhere: each operation is one atomic read-modify-write, or a short CAS loop for the
/// two "unless zero" steps.
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
struct RefCount: ~Copyable, Sendable {
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

    @usableFromInline let word = Atomic<Int>(1 + 1)  // the base and the init reference; state `unformed` (0)

    /// References held, as reported: the count minus the base (−1 once frozen).
    var reported: Int { (word.load(ordering: .relaxed) & Self.countBits) - Self.base }

    // MARK: State

    /// The state byte: a ``ModuleState`` raw value, plus ``unloadingFlag``.
    @inline(__always)
    var rawState: UInt8 { UInt8(truncatingIfNeeded: (word.load(ordering: .acquiring) & Self.stateBits) >> Self.stateShift) }

    /// Replaces the state byte (the count is untouched).
    func setRawState(_ raw: UInt8) {
        var current = word.load(ordering: .relaxed)
        while true {
            let desired = (current & ~Self.stateBits) | (Int(raw) << Self.stateShift)
            let (exchanged, original) = word.weakCompareExchange(
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
        var current = word.load(ordering: .relaxed)
        while true {
            let state = UInt8(truncatingIfNeeded: (current & Self.stateBits) >> Self.stateShift)
            guard state == ModuleState.coming.rawValue || state == ModuleState.live.rawValue,
                current & Self.countBits != 0, current & Self.orphanBit == 0
            else { return false }
            let (exchanged, original) = word.weakCompareExchange(
                expected: current, desired: current + 1, successOrdering: .acquiringAndReleasing,
                failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Increments a count the caller already holds a reference on (cannot be frozen).
    @inlinable @inline(__always)
    func getHeld() {
        word.wrappingAdd(1, ordering: .relaxed)
    }

    /// Decrements. An underflow — a put without a get, which is a bug in the caller
    /// (``ModuleReference`` being `~Copyable` rules it out) — is undone. The hot path stays one
    /// atomic RMW, so the undo is not atomic with it: for that instant a frozen count reads −1.
    @inlinable @inline(__always)
    func put() -> PutResult {
        let new = word.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
        let count = new & Self.countBits
        if count != 0 && count != Self.countBits { return .held }
        if count == 0 {
            // Exactly one put sees a zero count with the orphan bit (it released the last one).
            return new & Self.orphanBit != 0 ? .lastOfOrphan : .frozen
        }
        word.wrappingAdd(1, ordering: .relaxed)
        return .underflow
    }

    /// The unload step: subtracts the base and returns the references still held. Zero means the
    /// count is frozen. Otherwise the caller either restores the base (``restoreBase()``) or, for
    /// a forced or draining unload, leaves it off so the count freezes when the last holder puts.
    func removeBase() -> Int {
        word.wrappingSubtract(Self.base, ordering: .acquiringAndReleasing).newValue & Self.countBits
    }

    /// Adds the base back unless the count reached zero since ``removeBase()``. Returns `true` if
    /// restored (the module stays), `false` if it froze meanwhile (the unload may proceed).
    func restoreBase() -> Bool {
        var current = word.load(ordering: .relaxed)
        while current & Self.countBits != 0 {
            let (exchanged, original) = word.weakCompareExchange(
                expected: current, desired: current + Self.base, successOrdering: .acquiringAndReleasing,
                failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Puts the base back unconditionally: an unload that removed it is refused after all (its
    /// refusable cleanup said no). Only the unloader that removed the base may call this.
    func reinstateBase() {
        word.wrappingAdd(Self.base, ordering: .acquiringAndReleasing)
    }

    /// Removes the base and the init reference of a load that failed (its init reference was
    /// never dropped); returns the references taken while it was coming.
    func removeBaseAndInitReference() -> Int {
        word.wrappingSubtract(Self.base + 1, ordering: .acquiringAndReleasing).newValue & Self.countBits
    }

    /// At unlink, with the base (and any init reference) already gone: `true` if references
    /// remain — the record is now orphaned, and the caller's extra retain belongs to them —
    /// `false` if none did (nothing changes).
    func orphan() -> Bool {
        let previous = word.bitwiseOr(Self.orphanBit, ordering: .acquiringAndReleasing).oldValue
        if previous & Self.countBits != 0 { return true }
        // No references: a zero count cannot change (try-get refuses it, nobody can put), so the
        // bit can simply be taken back.
        word.bitwiseAnd(~Self.orphanBit, ordering: .acquiringAndReleasing)
        return false
    }
}
