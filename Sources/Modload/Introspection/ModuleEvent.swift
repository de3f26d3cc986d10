/// Something that happened to a module (docs/design.md §9).
///
/// Ordering: the transition events of one module (`coming`, `live`, `going`, `gone`,
/// `loadFailed`) are delivered in lifecycle order, each before the module's next transition can
/// begin and before its name can be loaded again — so an observer keyed by name never sees a new
/// `coming` ahead of the previous `gone`. A replace is the one overlap, and its order is fixed:
/// `coming` and `live` of the new generation, then `old`, `going` and `gone` of the previous one. `requested`, `mergedJoin` and `unloadRefused` report
/// *attempts* and are not ordered against other modules' transitions.
public struct ModuleEvent: Sendable, CustomStringConvertible {
    /// The kinds of lifecycle event.
    public enum Kind: String, Sendable, CaseIterable {
        /// A request resolved to the module — asked for by name or alias, as a dependency or as
        /// a soft dependency — and the host is about to make sure it is live (its file is not
        /// yet opened; it may be live already). One per request: a module's first one is when
        /// its load was first asked for.
        case requested
        /// Init is about to run; observers may veto.
        case coming
        /// Init succeeded.
        case live
        /// Init failed, an observer vetoed, or an unload began (including a drain that may still
        /// be refused).
        case going
        /// The module is finished — its exit ran, or its load failed — and is being unlinked; the
        /// name is free for a new load once this event has been delivered.
        case gone
        /// A load failed; ``ModuleEvent/error`` says why.
        case loadFailed
        /// A caller was merged into a running load of the same name.
        case mergedJoin
        /// An unload was refused (holders, drain timeout); ``ModuleEvent/error`` says why.
        case unloadRefused
        /// A replace switched to a newer generation: this generation is old (no new references;
        /// those held keep working until it drains, then `going` and `gone` follow).
        case old
    }

    /// What happened.
    public let kind: Kind
    /// The module's canonical name.
    public let module: String
    /// For `loadFailed` and `unloadRefused`: the error.
    public let error: ModuleError?
    /// For transitions (`coming` … `gone`, `old`, `loadFailed`): the generation of the module they
    /// are about (``ModuleInfo/generation``); `nil` for attempts.
    public let generation: Int?

    /// Makes an event (the host makes them; tests and custom observers may too).
    public init(kind: Kind, module: String, error: ModuleError? = nil, generation: Int? = nil) {
        self.kind = kind
        self.module = module
        self.error = error
        self.generation = generation
    }

    public var description: String {
        // The generation is said where a name has two: the old one's events.
        let subject = kind == .old ? "\(module) (generation \(generation.map(String.init) ?? "?"))" : module
        return error.map { "\(kind.rawValue) \(subject): \($0)" } ?? "\(kind.rawValue) \(subject)"
    }
}

/// Identifies an observer added with ``ModuleHost/addObserver(named:_:)``, for removing it.
public struct ObserverToken: Hashable, Sendable {
    let id: UInt64
}
