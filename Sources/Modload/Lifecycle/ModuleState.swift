/// Where a module is in its life (docs/design.md §3).
///
///     unformed → coming → live → going → gone
///     unformed → coming → going → gone        (init failed or an observer vetoed)
///     live → old → going → gone               (replaced by a newer generation, then drained)
///
/// Every transition is made under the table lock, so a load or unload that looks a name up sees
/// a state that is consistent with the table. The state is also readable without any lock (the
/// reference fast path reads it), so it lives in an atomic inside the module record.
public enum ModuleState: UInt8, Sendable, CustomStringConvertible, CaseIterable {
    /// The name is reserved in the table so duplicate loads find it; nothing else is visible.
    case unformed
    /// Init is running. References may be taken.
    case coming
    /// Init succeeded.
    case live
    /// Init failed, or unloading began. No new references; same-name loads get `busy`.
    case going
    /// Unlinked from the table. Only a reference that outlived the module (a forced unload) or a
    /// stale ``ModuleInfo`` can still see this state.
    case gone
    /// Superseded: a newer generation of the name is current (``ModuleHost/replace(_:with:parameters:options:)``),
    /// or — for a member of an all-or-nothing set — its rollback was refused. No new references,
    /// lookups or calls reach it; references and calls already inside keep working until it
    /// drains, then it goes (`going`, `gone`).
    case old

    public var description: String {
        switch self {
        case .unformed: "unformed"
        case .coming: "coming"
        case .live: "live"
        case .going: "going"
        case .gone: "gone"
        case .old: "old"
        }
    }

    /// The word `/proc/modules` shows for this state.
    public var procName: String {
        switch self {
        case .unformed, .coming: "Loading"
        case .live: "Live"
        case .going: "Unloading"
        case .gone: "Gone"
        case .old: "Old"
        }
    }
}
