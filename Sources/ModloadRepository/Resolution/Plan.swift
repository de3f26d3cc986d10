import Modload

/// What modprobe would do, without doing it (`--show-depends`, `--dry-run`), and `modprobe -r`.
extension ModuleRepository {
    /// One load of a plan: kmod's `insmod PATH OPTIONS` line.
    public struct Step: Sendable, Equatable, CustomStringConvertible {
        /// The module.
        public let module: String
        /// Its file, absolute.
        public let path: String
        /// The parameters it would get (configured options; the caller's too, for the module asked for).
        public let parameters: String

        /// `insmod PATH PARAMETERS` — with kmod's trailing space when there are none.
        public var description: String { "insmod \(path) \(parameters)" }
    }

    /// The loads a request for `nameOrAlias` makes, in order — kmod's probe list: each dependency
    /// (providers first) with its soft dependencies around it (pre before, post after), then the
    /// module itself with its own; a module appears once, and a loop of softdeps ends.
    ///
    /// - Throws: as a request's resolution: `notFound` (nothing has that name or alias), a denied
    ///   module or dependency, a stale index.
    public func plan(_ nameOrAlias: String, parameters: String = "") throws(ModuleError) -> [Step] {
        let resolutions = try resolve(nameOrAlias)
        guard !resolutions.isEmpty else {
            throw ModuleError(.notFound, module: nameOrAlias, reason: "not found in the module root \(root.path)")
        }
        var steps: [Step] = []
        var listed = Set<String>()
        var visited = Set<String>()

        func entry(_ name: String, required: Bool) throws(ModuleError) -> ModuleIndex.Entry? {
            guard let entry = index.entry(named: name) else {
                if required { throw ModuleError(.notFound, module: name, reason: "is a dependency the index does not have") }
                return nil
            }
            if let origin = configuration.denied[entry.name] {
                if required { throw ModuleError(.permissionDenied, module: entry.name, reason: "is denied (\(origin))") }
                return nil
            }
            return entry
        }
        func fill(_ module: ModuleIndex.Entry, extra: String) throws(ModuleError) {
            let soft = softDependencies(of: module)
            for name in soft.pre { if let pre = try entry(name, required: false) { try probe(pre, extra: "") } }
            if listed.insert(module.name).inserted {
                let options = [configuration.options(for: module.name), extra].filter { !$0.isEmpty }.joined(separator: " ")
                steps.append(Step(module: module.name, path: root.absolute(module.path), parameters: options))
            }
            for name in soft.post { if let post = try entry(name, required: false) { try probe(post, extra: "") } }
        }
        func probe(_ module: ModuleIndex.Entry, extra: String) throws(ModuleError) {
            guard visited.insert(module.name).inserted else { return }
            for name in module.dependencies.reversed() {
                if let dependency = try entry(name, required: true) { try fill(dependency, extra: "") }
            }
            try fill(module, extra: extra)
        }
        for resolution in resolutions {
            if let top = index.entry(named: resolution.module) { try probe(top, extra: parameters) }
        }
        return steps
    }

    /// `modprobe -r`: unloads the module `nameOrAlias` names — after its post soft dependencies,
    /// and before its dependencies (users before what they use) and its pre soft dependencies, each
    /// of those only if nothing uses or holds it and no caller loaded it itself
    /// (``Modload/ModuleInfo/loadedAsDependency``).
    /// Those are best-effort, as kmod's: one that refuses stays, silently.
    ///
    /// - Returns: the modules unloaded, in order.
    /// - Throws: `notFound` if the module is not loaded (or not in the repository), and every
    ///   error of ``Modload/ModuleHost/unload(_:mode:)`` for the module itself — an in-use refusal
    ///   names its holders.
    @discardableResult
    public func remove(
        _ nameOrAlias: String, from host: ModuleHost, mode: ModuleHost.UnloadMode = .failFast
    ) async throws(ModuleError) -> [String] {
        let found = lookup(nameOrAlias).modules
        guard let module = found.first(where: { host.info(of: $0.name) != nil }) ?? found.first else {
            throw ModuleError(.notFound, module: nameOrAlias, reason: "not found in the module root \(root.path)")
        }
        guard host.info(of: module.name) != nil else {
            throw ModuleError(.notFound, module: module.name, reason: "is not loaded")
        }
        let soft = softDependencies(of: module)
        var removed: [String] = []
        func removeUnused(_ names: [String]) async {
            for name in names {
                let canonical = Names.module(name)
                guard canonical != module.name, !removed.contains(canonical), let info = host.info(of: canonical),
                    info.loadedAsDependency, info.usedBy.isEmpty, info.refcount == 0
                else { continue }
                if (try? await host.unload(canonical)) != nil { removed.append(canonical) }
            }
        }
        // kmod's order: what loaded after it, it, what it needed, what loaded before it.
        await removeUnused(soft.post.reversed())
        try await host.unload(module.name, mode: mode)
        removed.append(module.name)
        await removeUnused(module.dependencies)
        await removeUnused(soft.pre.reversed())
        return removed
    }
}
