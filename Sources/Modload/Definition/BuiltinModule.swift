/// A module definition made of closures, for modules that need no type of their own.
///
/// ```swift
/// let probe = BuiltinModule(name: "probe", version: "1.0") { context in
///     context.logger.info("probing")
/// }
/// try await host.insert(probe)
/// ```
public struct BuiltinModule: ModuleDefinition {
    public let name: String
    public let version: String
    public let description: String
    public let license: String
    public let size: Int
    private let initBody: @Sendable (ModuleContext) async throws -> Void
    private let exitBody: @Sendable (ModuleContext) async -> Void

    /// Makes a definition from metadata and init/exit closures.
    public init(
        name: String,
        version: String = "",
        description: String = "",
        license: String = "unspecified",
        size: Int = 0,
        initialize: @escaping @Sendable (ModuleContext) async throws -> Void = { _ in },
        exit: @escaping @Sendable (ModuleContext) async -> Void = { _ in }
    ) {
        self.name = name
        self.version = version
        self.description = description
        self.license = license
        self.size = size
        self.initBody = initialize
        self.exitBody = exit
    }

    public func initialize(_ context: ModuleContext) async throws { try await initBody(context) }
    public func exit(_ context: ModuleContext) async { await exitBody(context) }
}
