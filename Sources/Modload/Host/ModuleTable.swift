/// The host's table of modules and of loads in progress (the kernel's `modules` list and seed
/// 000's `running_loads`).
///
/// Lock rules — the *table lock* ([T] in DESIGN §4) guards all of this:
/// - it is held only to look up and edit these dictionaries and to change a record's state, for
///   a few hundred nanoseconds; never across init, exit, observers, or any wait (seed 004);
/// - nothing is taken inside it except a record's innermost side lock.
struct ModuleTable {
    /// Every module that is unformed, coming, live or going, by canonical name. A name is in here
    /// from the moment a load wins it until the module is gone.
    var modules: [String: ModuleRecord] = [:]

    /// Loads in progress, by canonical name: where a same-name load finds the load to join.
    /// A name is in here from the moment a load wins it until that load's outcome is decided.
    var running: [String: RunningLoad] = [:]

    /// Names whose module was just restored to live by a refused drain and whose events are still
    /// being delivered. Unloads of these names are refused (`busy`) until then, so no later
    /// transition's events can overtake them. (A load's `live` is covered by its running record.)
    var settling: Set<String> = []

    /// Recent failures remembered by the negative cache (empty unless it is configured). Expired
    /// entries are dropped when the name is looked up or another failure is recorded.
    var recentFailures: [String: (error: ModuleError, until: ContinuousClock.Instant)] = [:]
}
