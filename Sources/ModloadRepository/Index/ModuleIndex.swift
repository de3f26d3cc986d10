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

    /// An index of `entries`; the provider of a symbol is the first entry exporting it.
    public init(entries: [Entry]) {
        self.entries = entries
        var byName: [String: Int] = [:]
        var providers: [String: String] = [:]
        for (index, entry) in entries.enumerated() {
            byName[entry.name] = byName[entry.name] ?? index
            for symbol in entry.exports where providers[symbol.name] == nil { providers[symbol.name] = entry.name }
        }
        self.byName = byName
        self.providers = providers
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
        entries.filter { entry in entry.aliases.contains { Self.matches(pattern: $0, name) } }
    }

    /// `fnmatch(pattern, name)`, both with kmod's alias normalization.
    static func matches(pattern: String, _ name: String) -> Bool {
        guard let pattern = Names.alias(pattern), let name = Names.alias(name) else { return false }
        return fnmatch(pattern, name, 0) == 0
    }
}

/// Which version of a file: device, inode, size and modification time — what a loader compares
/// with the index to see that the file is still the one `depmod` read.
public struct FileStamp: Sendable, Equatable, CustomStringConvertible {
    /// The device and inode.
    public let device: UInt64, inode: UInt64
    /// Its size in bytes.
    public let size: Int64
    /// Its modification time, in nanoseconds since the epoch.
    public let modified: Int64

    /// A stamp of these values.
    public init(device: UInt64, inode: UInt64, size: Int64, modified: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
    }

    /// The file now at `path`, or `nil` if it cannot be stat'ed.
    public static func of(_ path: String) -> FileStamp? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileStamp(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
            modified: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec))
    }

    /// `size N, modified T, inode I`.
    public var description: String { "size \(size), modified \(modified) ns, inode \(inode)" }
}
