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
    /// How callers account for their use of the module (seed 003). Default: ``ModuleAccounting/counting``.
    var accounting: ModuleAccounting { get }

    /// Brings the module up. Runs once per successful load, with no host lock held; other modules'
    /// inits run at the same time. Throwing fails the load: the error reaches every caller merged
    /// into it, wrapped as ``ModuleError/Code/initFailed``. Throw a ``ModuleError`` with
    /// ``ModuleError/Code/noDevice`` when there is nothing for the module to drive.
    func initialize(_ context: ModuleContext) async throws

    /// The step of an unload that may refuse (seed 003's new-style cleanup). Runs when an unload
    /// has been decided — no references are held (unless forced) and, for a noncounting module,
    /// a grace period has passed since its call points became unreachable — but before the point
    /// of no return. Throwing refuses the unload: it fails with this error and the module stays
    /// live and usable, with no state change visible to others. Default: does nothing.
    func cleanup(_ context: ModuleContext) async throws

    /// Takes the module down. Runs once, after a successful init and an accepted ``cleanup(_:)``,
    /// when the module is `going`; it cannot fail. Default: does nothing.
    func exit(_ context: ModuleContext) async
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
    /// Default: accepts every unload.
    public func cleanup(_ context: ModuleContext) async throws {}
    /// Default: does nothing.
    public func exit(_ context: ModuleContext) async {}
}

/// How callers account for their use of a module (seed 003).
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
}
