#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where requests find modules (the kernel's modprobe with its `modules.dep` and `modules.alias`).
///
/// A host with a resolver can ``ModuleHost/request(_:parameters:)`` modules by name or alias, and
/// a request also loads the modules that provide the symbols a module imports.
public protocol ModuleResolver: Sendable {
    /// What `nameOrAlias` resolves to: usually one module; several when an alias matches several
    /// (a request loads each); empty when nothing matches.
    ///
    /// - Throws: a ``ModuleError`` when the name may not be loaded at all (a module the
    ///   configuration denies) or the resolver cannot answer (an index out of date) — the request
    ///   fails with it.
    func resolve(_ nameOrAlias: String) throws(ModuleError) -> [ModuleResolution]
    /// The name of the module that exports `symbol`, or `nil` if none does (the `depmod` index).
    func provider(ofSymbol symbol: String) -> String?
    /// Every module `module` needs through its imports, directly or not, in the order to load
    /// them (what a module uses before the module) — `modules.dep`'s closure, reversed — or empty
    /// if the resolver does not know (the default).
    ///
    /// A hint: when a load the host makes for a caller needs providers, it requests this whole
    /// closure at once (those needed first, first) instead of discovering it a level at a time,
    /// so the files of every branch are checked and mapped while the inits below them run.
    /// Binding still requests whatever a module imports, so a hint that leaves a module out only
    /// costs time; one that names a module nothing imports loads it for nothing.
    func dependencies(of module: String) -> [String]
}

extension ModuleResolver {
    /// No closure known: dependencies are found as imports are bound.
    public func dependencies(of module: String) -> [String] { [] }
}

/// One module a request resolved to, and how to load it.
public struct ModuleResolution: Sendable {
    /// Where the module comes from.
    public enum Source: Sendable {
        /// A definition in memory.
        case definition(any ModuleDefinition)
        /// A module file, loaded as ``ModuleHost/ensureLoaded(file:parameters:)`` would.
        case file(String)
    }

    /// The module's name, as its definition or file's metadata says.
    public let module: String
    /// Where it comes from.
    public let source: Source
    /// Parameters configured for it (modprobe.d `options`), applied before the caller's — so a
    /// caller's value for the same parameter wins, as on the kernel's command line.
    public let parameters: String
    /// Modules to request before (`pre`) and after (`post`) it; their failures do not fail the
    /// request (kmod's softdep semantics), and a chain of them that comes back to a module already
    /// being requested by it ends there.
    public let softDependencies: SoftDependencies

    /// A resolution to `source`, named `module`.
    public init(module: String, source: Source, parameters: String = "", softDependencies: SoftDependencies = .none) {
        self.module = module
        self.source = source
        self.parameters = parameters
        self.softDependencies = softDependencies
    }

    /// A resolution to a definition in memory, named as it says.
    public init(_ definition: any ModuleDefinition, parameters: String = "", softDependencies: SoftDependencies = .none) {
        self.init(module: definition.name, source: .definition(definition), parameters: parameters, softDependencies: softDependencies)
    }
}

/// A resolver over a fixed set of built-in definitions: names, aliases (with `*` and `?`
/// wildcards, as modalias patterns), and an index of who exports what.
public struct ModuleCatalog: ModuleResolver {
    private let byName: [String: any ModuleDefinition]
    private let aliases: [(pattern: String, definition: any ModuleDefinition)]
    private let providers: [String: String]

    /// Indexes `definitions`.
    ///
    /// - Throws: `invalidArgument` if a name is malformed or appears twice, or if two definitions
    ///   export the same symbol (a request could not know which to load) — naming them.
    public init(_ definitions: [any ModuleDefinition]) throws(ModuleError) {
        var byName: [String: any ModuleDefinition] = [:]
        var aliases: [(String, any ModuleDefinition)] = []
        var providers: [String: String] = [:]
        for definition in definitions {
            let name = try ModuleName(validating: definition.name).canonical
            guard byName[name] == nil else {
                throw ModuleError(.invalidArgument, module: name, reason: "appears twice in the catalog")
            }
            byName[name] = definition
            for alias in definition.aliases { aliases.append((alias, definition)) }
            for export in definition.exports {
                if let other = providers[export.name], other != name {
                    throw ModuleError(
                        .invalidArgument, module: name,
                        reason: "exports \(export.name), which \(other) in the catalog also exports")
                }
                providers[export.name] = name
            }
        }
        self.byName = byName
        self.aliases = aliases
        self.providers = providers
    }

    /// An exact name (`-` ≡ `_`) first, then the first alias pattern that matches, in catalog
    /// order.
    public func definition(for nameOrAlias: String) -> (any ModuleDefinition)? {
        if let name = try? ModuleName(validating: nameOrAlias), let definition = byName[name.canonical] {
            return definition
        }
        return aliases.first { fnmatch($0.pattern, nameOrAlias, 0) == 0 }?.definition
    }

    /// The definition ``definition(for:)`` finds, if any.
    public func resolve(_ nameOrAlias: String) throws(ModuleError) -> [ModuleResolution] {
        definition(for: nameOrAlias).map { [ModuleResolution($0)] } ?? []
    }

    public func provider(ofSymbol symbol: String) -> String? { providers[symbol] }

    /// Every module name in the catalog, sorted.
    public var names: [String] { byName.keys.sorted() }
}
