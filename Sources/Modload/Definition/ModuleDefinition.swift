import Logging

/// What a module is made from: its metadata and its init and exit code.
///
/// A built-in module is a Swift type conforming to this protocol. Each load uses the *instance* it
/// was given, so a class instance can keep per-load state and a reference
/// (``ModuleReference/definition``) hands that instance to users. Other sources of definitions
/// (module files) produce values of this protocol too, so everything after "I have a definition"
/// is shared.
///
/// ```swift
/// struct Hello: ModuleDefinition {
///     let name = "hello"
///     func initialize(_ context: ModuleContext) async throws {
///         context.logger.info("hello, world")
///     }
/// }
/// try await host.insert(Hello())
/// ```
///
/// A definition named `description` clashes with `CustomStringConvertible`; a definition type
/// should not also conform to it.
public protocol ModuleDefinition: Sendable {
    /// The module's name: 1–55 bytes of `[A-Za-z0-9_-]` (`-` and `_` match each other).
    var name: String { get }
    /// The module's version string, free-form (`"1.2.0"`). Default: empty.
    var version: String { get }
    /// One line saying what the module does. Default: empty.
    var description: String { get }
    /// The module's license (`"GPL"`, `"MIT"`, …). Default: `"unspecified"`.
    var license: String { get }
    /// Bytes the module occupies, shown by the listing. Default: the definition value's own size.
    var size: Int { get }
    /// How callers account for their use of the module (raceless modules, docs/design.md §1).
    /// Default: ``ModuleAccounting/counting``.
    var accounting: ModuleAccounting { get }
    /// Other names the module is requested by (the kernel's `MODULE_ALIAS`, e.g. a device's
    /// modalias `pci:v00008086d000015B8*`); `*` and `?` are wildcards. Default: none.
    var aliases: [String] { get }
    /// Symbols the module exports to other modules. Default: none.
    var exports: [ExportedSymbol] { get }
    /// Symbols the module needs from other modules; bound before init, readable through
    /// ``ModuleContext/imports``. Default: none.
    var imports: [ImportedSymbol] { get }
    /// Parameters the module accepts at load time. Default: none.
    var parameters: [ModuleParameter] { get }
    /// Why the module taints the host when it loads (module files: ``TaintFlags/unsignedModule``
    /// when the signature policy let an unsigned one in). Default: none.
    var taints: TaintFlags { get }

    /// Brings the module up. Runs once per successful load, with no host lock held; other modules'
    /// inits run at the same time. Throwing fails the load: the error reaches every caller merged
    /// into it, wrapped as ``ModuleError/Code/initFailed``. Throw a ``ModuleError`` with
    /// ``ModuleError/Code/noDevice`` when there is nothing for the module to drive.
    func initialize(_ context: ModuleContext) async throws

    /// The step of an unload that may refuse (the new-style cleanup of raceless modules,
    /// docs/design.md §1). Runs when an unload has been decided — no references are held (unless
    /// forced) and, for a noncounting module, a grace period has passed since its call points
    /// became unreachable — but before the point of no return. Throwing refuses the unload: it fails with this error and the module stays
    /// live and usable, with no state change visible to others. Default: does nothing.
    func cleanup(_ context: ModuleContext) async throws

    /// Takes the module down. Runs once, after a successful init and an accepted ``cleanup(_:)``,
    /// when the module is `going`; it cannot fail. Default: does nothing.
    func exit(_ context: ModuleContext) async
    /// State handover in a live replace (``ModuleHost/replace(_:with:parameters:options:)``):
    /// called on the new generation after its init succeeded and before the switch, with the
    /// definition of the generation it replaces — still live and serving, so state it keeps
    /// changing is the previous generation's to hand over consistently. Throwing aborts the
    /// replace: this generation's exit runs and the previous one stays current, untouched.
    /// Default: takes nothing over.
    func takeOver(from previous: any ModuleDefinition, _ context: ModuleContext) async throws
}

extension ModuleDefinition {
    /// Default: empty.
    public var version: String { "" }
    /// Default: empty.
    public var description: String { "" }
    /// Default: `"unspecified"`.
    public var license: String { "unspecified" }
    /// Default: the definition value's own size in memory.
    public var size: Int { MemoryLayout<Self>.size }
    /// Default: ``ModuleAccounting/counting``.
    public var accounting: ModuleAccounting { .counting }
    /// Default: none.
    public var aliases: [String] { [] }
    /// Default: none.
    public var exports: [ExportedSymbol] { [] }
    /// Default: none.
    public var imports: [ImportedSymbol] { [] }
    /// Default: none.
    public var parameters: [ModuleParameter] { [] }
    /// Default: none.
    public var taints: TaintFlags { [] }
    /// Default: accepts every unload.
    public func cleanup(_ context: ModuleContext) async throws {}
    /// Default: does nothing.
    public func exit(_ context: ModuleContext) async {}
    /// Default: takes nothing over.
    public func takeOver(from previous: any ModuleDefinition, _ context: ModuleContext) async throws {}
}

/// How callers account for their use of a module (raceless modules, docs/design.md §1).
public enum ModuleAccounting: Sendable, Equatable {
    /// Callers hold a ``ModuleReference`` while they use the module; an unload decides by the
    /// count.
    case counting
    /// Callers are too hot to count. They reach the module only inside a read section
    /// (``ModuleHost/withModule(_:_:)``) and never suspend there. Unloading makes the call points
    /// unreachable, waits a grace period — every call that had already entered finishes — and
    /// then runs the module's cleanup and exit.
    case noncounting
}

/// What the host hands a module's init and exit.
public struct ModuleContext: Sendable {
    /// The module's canonical name.
    public let name: String
    /// A logger labelled with the host's logger and carrying the module name as metadata.
    public let logger: Logger
    /// The symbols this load imported, bound before init.
    public let imports: BoundImports
    /// The parameter values of this load (given, or defaults).
    public let parameters: ModuleParameters
    private let hostLink: HostLink

    init(name: String, logger: Logger, imports: BoundImports, parameters: ModuleParameters, host: ModuleHost) {
        self.name = name
        self.logger = logger
        self.imports = imports
        self.parameters = parameters
        self.hostLink = HostLink(host)
    }

    /// The host loading the module — for requesting other modules from init. `nil` only if the
    /// host is gone (it is not, while init or exit runs).
    public var host: ModuleHost? { hostLink.host }

    /// A copy with the imports bound.
    func with(imports: BoundImports) -> ModuleContext {
        ModuleContext(name: name, logger: logger, imports: imports, parameters: parameters, hostLink: hostLink)
    }

    private init(name: String, logger: Logger, imports: BoundImports, parameters: ModuleParameters, hostLink: HostLink) {
        self.name = name
        self.logger = logger
        self.imports = imports
        self.parameters = parameters
        self.hostLink = hostLink
    }
}

/// The context's weak link to its host (a record holds its context, and the host holds its
/// records: a strong link would be a cycle).
private final class HostLink: Sendable {
    private let box: WeakBox
    init(_ host: ModuleHost) { box = WeakBox(host) }
    var host: ModuleHost? { box.host }

    private final class WeakBox: @unchecked Sendable {
        weak var host: ModuleHost?  // written once, in init
        init(_ host: ModuleHost) { self.host = host }
    }
}
