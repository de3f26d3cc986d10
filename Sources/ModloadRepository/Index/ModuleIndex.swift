#if canImport(Glibc)
import Glibc
#endif
import Modload

/// What `depmod` learned about a module root: every module, the files it is in, what it depends
/// on, its aliases and soft dependencies, and who exports each symbol. Built by ``Depmod``,
/// published into the root as one generation (``write(to:)``), read back by a resolver
/// (``load(from:)``).
public struct ModuleIndex: Sendable, Equatable {
    /// One module of the root.
    public struct Entry: Sendable, Equatable {
        /// Its canonical name (the metadata's, `_` for `-`).
        public let name: String
        /// Its file, relative to the root.
        public let path: String
        /// The file's version when it was indexed: a loader refuses a file that changed since.
        public let stamp: FileStamp
        /// Every module it needs, directly or not, in kmod's `modules.dep` order: users before what
        /// they use (load them in reverse).
        public let dependencies: [String]
        /// Its aliases (glob patterns, as its metadata declares them).
        public let aliases: [String]
        /// Its soft dependencies, as its metadata declares them (`pre: a post: b`).
        public let softDependencies: SoftDependencies
        /// What it exports.
        public let exports: [ModuleMetadata.Symbol]
    }

    /// The modules, in module order (`modules.order`, then path).
    public let entries: [Entry]
    private let byName: [String: Int]
    private let providers: [String: String]
    /// Every entry's aliases with kmod's normalization, made once: a lookup normalizes only the
    /// name it is given (it runs for every request by alias — a boot's thousand).
    private let normalizedAliases: [[String]]

    /// An index of `entries`; the provider of a symbol is the first entry exporting it.
    public init(entries: [Entry]) {
        var providers: [String: String] = Dictionary(minimumCapacity: entries.reduce(0) { $0 + $1.exports.count })
        for entry in entries {
            for symbol in entry.exports where providers[symbol.name] == nil { providers[symbol.name] = entry.name }
        }
        self.init(entries: entries, providers: providers)
    }

    /// An index of `entries` whose symbol providers are already known (depmod resolved them).
    init(entries: [Entry], providers: [String: String]) {
        self.entries = entries
        var byName: [String: Int] = Dictionary(minimumCapacity: entries.count)
        for (index, entry) in entries.enumerated() { byName[entry.name] = byName[entry.name] ?? index }
        self.byName = byName
        self.providers = providers
        normalizedAliases = entries.map { $0.aliases.compactMap(Names.alias) }
    }

    /// The module named `name` (`-` ≡ `_`).
    public func entry(named name: String) -> Entry? { byName[Names.module(name)].map { entries[$0] } }

    /// The module exporting `symbol`.
    public func provider(ofSymbol symbol: String) -> String? { providers[symbol] }

    /// Every symbol and its exporter, sorted by symbol.
    public var symbols: [(symbol: String, module: String)] {
        providers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The modules whose aliases match `name` (kmod's `modules.alias` lookup: each alias a glob
    /// pattern matched against the name), in module order.
    public func modules(matchingAlias name: String) -> [Entry] {
        guard let name = Names.alias(name) else { return [] }
        return entries.indices.filter { index in normalizedAliases[index].contains { fnmatch($0, name, 0) == 0 } }.map { entries[$0] }
    }

    /// `fnmatch(pattern, name)`, both with kmod's alias normalization.
    static func matches(pattern: String, _ name: String) -> Bool {
        guard let pattern = Names.alias(pattern), let name = Names.alias(name) else { return false }
        return fnmatch(pattern, name, 0) == 0
    }
}
