import Modload

/// A module root and its configuration, as a host's resolver: `request` by name or alias finds
/// module files here (libkmod's role beside the kernel's loader).
///
/// **Lookup order** (kmod's; the first step that finds anything wins):
/// 1. configuration `alias` lines whose pattern matches the name — every match;
/// 2. a module of that name;
/// 3. `symbol:NAME` — the module exporting NAME;
/// 4. module aliases (glob patterns in the modules' metadata) that match — every match.
///
/// `blacklist` removes modules found by an alias (steps 1 and 4) only; `deny` refuses a module
/// found any way — and so every request that needs it, as a dependency or softdep too. Each
/// resolution carries the configured `options` (the caller's parameters come after them, so they
/// win) and the soft dependencies of the configuration and the module's metadata, merged.
///
/// **Dependencies** load through the host: a module file's imports name the symbols it needs, the
/// host asks ``provider(ofSymbol:)`` who exports each, and requests those modules — independent
/// ones in parallel, a shared one once (merging). ``dependencies(of:)`` hands the host
/// `modules.dep`'s closure, so a request opens the whole tree at once, deepest files first, rather
/// than a level at a time; plans (``plan(_:)``) read the same closure. **A stale index** is
/// refused: a file whose size, time or inode differ from what depmod read fails the request
/// ("index is stale: run modload depmod") rather than load a module whose dependencies the index
/// may no longer describe.
public struct ModuleRepository: ModuleResolver {
    /// The root.
    public let root: ModuleRoot
    /// Its index.
    public let index: ModuleIndex
    /// The configuration.
    public let configuration: ModprobeConfiguration

    /// The repository at `root`, with its current index.
    ///
    /// - Throws: `notFound` if depmod has not indexed the root, `invalid`/`io` for an index that
    ///   cannot be read.
    public init(root: ModuleRoot, configuration: ModprobeConfiguration = ModprobeConfiguration()) throws(RepositoryError) {
        self.init(root: root, index: try ModuleIndex.load(from: root), configuration: configuration)
    }

    /// The repository at `root` with `index`.
    public init(root: ModuleRoot, index: ModuleIndex, configuration: ModprobeConfiguration = ModprobeConfiguration()) {
        self.root = root
        self.index = index
        self.configuration = configuration
    }

    /// What a name resolves to before blacklist and deny: the modules, and whether through an alias.
    public func lookup(_ nameOrAlias: String) -> (modules: [ModuleIndex.Entry], viaAlias: Bool) {
        // 1. Configuration aliases.
        let configured = configuration.aliases.filter { ModuleIndex.matches(pattern: $0.pattern, nameOrAlias) }
        if !configured.isEmpty {
            var seen = Set<String>()
            return (configured.compactMap { seen.insert($0.module).inserted ? index.entry(named: $0.module) : nil }, true)
        }
        // 2. Module names.
        if !nameOrAlias.contains(":"), let entry = index.entry(named: nameOrAlias) { return ([entry], false) }
        // 3. Symbols.
        if nameOrAlias.hasPrefix("symbol:") {
            let symbol = String(nameOrAlias.dropFirst("symbol:".count))
            return (index.provider(ofSymbol: symbol).flatMap(index.entry(named:)).map { [$0] } ?? [], false)
        }
        // 4. Module aliases.
        return (index.modules(matchingAlias: nameOrAlias), true)
    }

    /// What the configuration makes of a lookup: the modules it lets through, and those it
    /// refuses — `blacklist` (found through an alias) and `deny` (found any way).
    public struct Screening: Sendable {
        /// The modules found, in lookup order.
        public let found: [ModuleIndex.Entry]
        /// Whether they were found through an alias.
        public let viaAlias: Bool
        /// The ones that may load.
        public let allowed: [ModuleIndex.Entry]
        /// Modules refused because they are blacklisted (found through an alias), with the line.
        public let blacklisted: [(module: String, origin: ModprobeConfiguration.Origin)]
        /// Modules refused because they are denied, with the line.
        public let denied: [(module: String, origin: ModprobeConfiguration.Origin)]
    }

    /// ``lookup(_:)`` with the configuration's `blacklist` and `deny` applied: what ``resolve(_:)``
    /// loads, and what it refuses and why.
    public func screen(_ nameOrAlias: String) -> Screening {
        let (found, viaAlias) = lookup(nameOrAlias)
        var allowed: [ModuleIndex.Entry] = []
        var blacklisted: [(module: String, origin: ModprobeConfiguration.Origin)] = []
        var denied: [(module: String, origin: ModprobeConfiguration.Origin)] = []
        for entry in found {
            if let origin = configuration.denied[entry.name] {
                denied.append((entry.name, origin))
            } else if viaAlias, let origin = configuration.blacklisted[entry.name] {
                blacklisted.append((entry.name, origin))
            } else {
                allowed.append(entry)
            }
        }
        return Screening(found: found, viaAlias: viaAlias, allowed: allowed, blacklisted: blacklisted, denied: denied)
    }

    public func resolve(_ nameOrAlias: String) throws(ModuleError) -> [ModuleResolution] {
        let screening = screen(nameOrAlias)
        if screening.allowed.isEmpty, !screening.blacklisted.isEmpty || !screening.denied.isEmpty {
            // In lookup order, each with its reason.
            let refused = screening.found.compactMap { entry -> String? in
                if let denied = screening.denied.first(where: { $0.module == entry.name }) { return "\(entry.name) is denied (\(denied.origin))" }
                if let listed = screening.blacklisted.first(where: { $0.module == entry.name }) {
                    return "\(entry.name) is blacklisted for aliases (\(listed.origin))"
                }
                return nil
            }
            throw ModuleError(
                screening.denied.isEmpty ? .notFound : .permissionDenied, module: nameOrAlias,
                reason: (screening.viaAlias ? "resolves only to modules the configuration refuses: " : "cannot be loaded: ")
                    + refused.joined(separator: "; "))
        }
        let alias = screening.viaAlias ? nameOrAlias : nil
        return try screening.allowed.map { entry throws(ModuleError) in try resolution(of: entry, askedAs: alias) }
    }

    public func provider(ofSymbol symbol: String) -> String? { index.provider(ofSymbol: symbol) }

    /// `modules.dep`'s closure of `module`, in load order (what a module uses before it): the host
    /// requests it all at once (``Modload/ModuleResolver/dependencies(of:)``).
    public func dependencies(of module: String) -> [String] {
        index.entry(named: module)?.dependencies.reversed() ?? []
    }

    /// How to load `entry`: its file (checked against the index), configured options, merged
    /// soft dependencies.
    private func resolution(of entry: ModuleIndex.Entry, askedAs alias: String?) throws(ModuleError) -> ModuleResolution {
        let path = root.absolute(entry.path)
        guard let now = FileStamp.of(path) else {
            throw ModuleError(.notFound, module: entry.name, file: path, reason: "is in the index but gone (index is stale: run modload depmod)")
        }
        guard now == entry.stamp else {
            throw ModuleError(
                .invalidFile, module: entry.name, file: path,
                reason: "changed since the index was built (index is stale: run modload depmod)")
        }
        return ModuleResolution(
            module: entry.name, source: .file(path), parameters: configuration.options(for: entry.name, alias: alias),
            softDependencies: softDependencies(of: entry))
    }

    /// The configuration's soft dependencies of `entry`, then its own, without repeats.
    public func softDependencies(of entry: ModuleIndex.Entry) -> SoftDependencies {
        var merged = configuration.softDependencies[entry.name] ?? .none
        merged.pre += entry.softDependencies.pre.filter { !merged.pre.contains($0) }
        merged.post += entry.softDependencies.post.filter { !merged.post.contains($0) }
        return merged
    }
}
