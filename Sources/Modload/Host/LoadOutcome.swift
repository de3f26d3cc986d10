/// What a successful load did for its caller (``ModuleHost/insert(_:parameters:)``,
/// ``ModuleHost/ensureLoaded(_:parameters:)``, ``ModuleHost/request(_:parameters:)`` and their
/// module-file forms).
public struct LoadOutcome: Sendable, Equatable {
    /// How the caller's load ended up live.
    public enum How: String, Sendable, Equatable {
        /// This caller's load ran the module's init.
        case loaded
        /// This caller was merged into a concurrent load of the same name, which succeeded.
        case joined
        /// The module was already live (ensure-loaded and request only; insert throws `exists`).
        case alreadyLive
    }

    /// The module's canonical name.
    public let module: String
    /// How it became live for this caller.
    public let how: How
    /// What parsing *this caller's* parameters warned about (unknown names, text after `--`),
    /// each naming the parameter. The parameters of a merged or already-live load are checked
    /// but not applied: ``ModuleInfo/parameterWarnings`` has those of the load that ran init.
    public let parameterWarnings: [String]
    /// For a module-file load: what the file is (descriptor, signature, code); `nil` otherwise.
    public let file: ModuleFileInfo?

    init(module: String, how: How, parameterWarnings: [String], file: ModuleFileInfo? = nil) {
        self.module = module
        self.how = how
        self.parameterWarnings = parameterWarnings
        self.file = file
    }

    /// The same outcome, for a load of `file`.
    func with(file: ModuleFileInfo) -> LoadOutcome {
        LoadOutcome(module: module, how: how, parameterWarnings: parameterWarnings, file: file)
    }
}
