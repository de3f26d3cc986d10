/// A module definition made of closures, for modules that need no type of their own.
///
/// ```swift
/// let probe = BuiltinModule(name: "probe", version: "1.0") { context in
///     context.logger.info("probing")
/// }
/// try await host.insert(probe)
/// ```
public struct BuiltinModule: ModuleDefinition {
    /// The module's name.
    public let name: String
    /// The module's version string.
    public let version: String
    /// One line saying what the module does.
    public let description: String
    /// The module's license.
    public let license: String
    /// Bytes the module occupies, as the listing shows it.
    public let size: Int
    /// Other names it is requested by.
    public let aliases: [String]
    /// Symbols it exports.
    public let exports: [ExportedSymbol]
    /// Symbols it imports.
    public let imports: [ImportedSymbol]
    /// Parameters it accepts.
    public let parameters: [ModuleParameter]
    private let initBody: @Sendable (ModuleContext) async throws -> Void
    private let exitBody: @Sendable (ModuleContext) async -> Void

    /// Makes a definition from metadata, symbols, parameters and init/exit closures.
    public init(
        name: String,
        version: String = "",
        description: String = "",
        license: String = "unspecified",
        size: Int = 0,
        aliases: [String] = [],
        exports: [ExportedSymbol] = [],
        imports: [ImportedSymbol] = [],
        parameters: [ModuleParameter] = [],
        initialize: @escaping @Sendable (ModuleContext) async throws -> Void = { _ in },
        exit: @escaping @Sendable (ModuleContext) async -> Void = { _ in }
    ) {
        self.name = name
        self.version = version
        self.description = description
        self.license = license
        self.size = size
        self.aliases = aliases
        self.exports = exports
        self.imports = imports
        self.parameters = parameters
        self.initBody = initialize
        self.exitBody = exit
    }

    /// Runs the `initialize` closure.
    public func initialize(_ context: ModuleContext) async throws { try await initBody(context) }
    /// Runs the `exit` closure.
    public func exit(_ context: ModuleContext) async { await exitBody(context) }
}
