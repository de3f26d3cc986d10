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
struct RefCount: ~Copyable {
    /// The base count held by the module's own presence.
    static let base = 1

    private let count = Atomic<Int>(RefCount.base + 1)

    /// References held, as reported: the count minus the base (−1 once frozen).
    var reported: Int { count.load(ordering: .relaxed) - Self.base }

    /// Increments unless the count is zero. `false` means the module is frozen for unload.
    @inline(__always)
    func tryGet() -> Bool { addUnlessZero(1) }

    /// Increments a count the caller already holds a reference on (cannot be frozen).
    @inline(__always)
    func getHeld() {
        count.wrappingAdd(1, ordering: .relaxed)
    }

    /// Decrements. Returns the new count, or `nil` if the decrement went below zero — a put without
    /// a get, which is a bug in the caller (``ModuleReference`` being `~Copyable` rules it out);
    /// the decrement is then undone. The hot path stays one atomic RMW, so the undo is not atomic
    /// with it: for that instant a frozen count reads −1.
    @inline(__always)
    func put() -> Int? {
        let new = count.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
        if new < 0 {
            count.wrappingAdd(1, ordering: .relaxed)
            return nil
        }
        return new
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
        while current != 0 {
            let (exchanged, original) = count.weakCompareExchange(
                expected: current, desired: current + amount,
                successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
