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
    /// The definition for a module name or an alias, or `nil` if none matches.
    func definition(for nameOrAlias: String) -> (any ModuleDefinition)?
    /// The name of the module that exports `symbol`, or `nil` if none does (the `depmod` index).
    func provider(ofSymbol symbol: String) -> String?
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

    public func provider(ofSymbol symbol: String) -> String? { providers[symbol] }

    /// Every module name in the catalog, sorted.
    public var names: [String] { byName.keys.sorted() }
}
