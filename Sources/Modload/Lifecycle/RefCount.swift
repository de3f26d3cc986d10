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
/// The count also keeps the module's *record* in memory, so a reference costs no other atomic
/// operation (no ARC retain). The table holds the record while it is listed; normally a module is
/// unlinked only once its count froze at zero, so no reference outlives it. The two exceptions — a
/// forced unload, and references taken while `coming` whose init then failed — are handled by
/// ``orphan()``: the unlinker's extra retain passes to the remaining references, marked by the
/// orphan bit, and the put that releases the last of them frees it (``PutResult/lastOfOrphan``).
struct RefCount: ~Copyable {
    /// The base count held by the module's own presence.
    static let base = 1
    /// Set once the module is unlinked with references remaining. Counts as frozen for try-get.
    static let orphanBit = 1 << 62

    private let count = Atomic<Int>(RefCount.base + 1)

    /// References held, as reported: the count minus the base (−1 once frozen).
    var reported: Int { (count.load(ordering: .relaxed) & ~Self.orphanBit) - Self.base }

    /// What a put did.
    enum PutResult {
        /// References (or the base) remain.
        case held
        /// The count reached zero: an unload that removed the base may proceed.
        case frozen
        /// The last reference to an orphaned record: its holder must free the record.
        case lastOfOrphan
        /// A put without a get (a bug in the caller); undone.
        case underflow
    }

    /// Increments unless the count is zero (or orphaned). `false` means the module is frozen for
    /// unload.
    @inline(__always)
    func tryGet() -> Bool { addUnlessZero(1) }

    /// Increments a count the caller already holds a reference on (cannot be frozen).
    @inline(__always)
    func getHeld() {
        count.wrappingAdd(1, ordering: .relaxed)
    }

    /// Decrements. An underflow — a put without a get, which is a bug in the caller
    /// (``ModuleReference`` being `~Copyable` rules it out) — is undone. The hot path stays one
    /// atomic RMW, so the undo is not atomic with it: for that instant a frozen count reads −1.
    @inline(__always)
    func put() -> PutResult {
        let new = count.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
        if new > 0 {
            // Exactly one put sees the orphan bit alone (it released the last reference).
            return new == Self.orphanBit ? .lastOfOrphan : .held
        }
        if new == 0 { return .frozen }
        count.wrappingAdd(1, ordering: .relaxed)
        return .underflow
    }

    /// At unlink, with the base (and any init reference) already gone: `true` if references
    /// remain — the record is now orphaned, and the caller's extra retain belongs to them —
    /// `false` if none did (nothing changes).
    func orphan() -> Bool {
        let previous = count.bitwiseOr(Self.orphanBit, ordering: .acquiringAndReleasing).oldValue
        if previous != 0 { return true }
        // No references: a zero count cannot change (try-get refuses it, nobody can put), so the
        // bit can simply be taken back.
        count.store(0, ordering: .releasing)
        return false
    }

    /// Removes the base and the init reference of a load that failed (its init reference was
    /// never dropped); returns the references taken while it was coming.
    func removeBaseAndInitReference() -> Int {
        count.wrappingSubtract(Self.base + 1, ordering: .acquiringAndReleasing).newValue
    }

    /// The unload step: subtracts the base and returns the references still held. Zero means the
    /// count is frozen. Otherwise the caller either restores the base (``restoreBase()``) or, for
    /// a forced or draining unload, leaves it off so the count freezes when the last holder puts.
    func removeBase() -> Int {
        count.wrappingSubtract(Self.base, ordering: .acquiringAndReleasing).newValue
    }

    /// Adds the base back unless the count reached zero since ``removeBase()``. Returns `true` if
    /// restored (the module stays), `false` if it froze meanwhile (the unload may proceed).
    func restoreBase() -> Bool { addUnlessZero(Self.base) }

    /// Puts the base back unconditionally: an unload that removed it is refused after all (its
    /// refusable cleanup said no). Only the unloader that removed the base may call this.
    func reinstateBase() {
        count.wrappingAdd(Self.base, ordering: .acquiringAndReleasing)
    }

    @inline(__always)
    private func addUnlessZero(_ amount: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current != 0 && current & Self.orphanBit == 0 {
            let (exchanged, original) = count.weakCompareExchange(
                expected: current, desired: current + amount,
                successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
