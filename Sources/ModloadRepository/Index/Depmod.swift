import Dispatch
import Modload

/// `depmod`: indexes a module root.
///
/// 1. **Find** the module files (``ModuleRoot``: `*.so` at any depth; `modules.order` first).
/// 2. **Read** each file's metadata and stamp through the one open pipeline
///    (`ModuleMetadata.read(file:)`: the bytes read once, the metadata section found and parsed;
///    nothing is mapped, nothing runs), on every core at once. A file that fails is skipped with
///    a warning naming it and why.
/// 3. **One file per module**: two files of one name keep the one under `updates/`, else the first
///    in module order (kmod's search order), with a warning naming both.
/// 4. **Resolve** every import to the module exporting that symbol with that signature; an import
///    nothing provides, or provides with another signature, is unresolved (`-e` names each).
/// 5. **Sort** (Kahn's algorithm on users, kmod's): modules nothing uses first. Modules left over
///    are in cycles: ``RepositoryError/Code/cycle`` names every ring, and nothing is written.
/// 6. **Close** each module's dependencies transitively, in that order (``ModuleIndex``).
public enum Depmod {
    /// What a run found besides the index.
    public struct Report: Sendable {
        /// The index.
        public let index: ModuleIndex
        /// Files skipped, duplicate modules, a corrupt `modules.order`.
        public let warnings: [RepositoryWarning]
        /// Imports nothing provides (kmod's `-e`): `PATH needs unknown symbol NAME`, or
        /// `PATH disagrees about the signature of NAME …`.
        public let unresolved: [String]
        /// Who provides each import (kmod's `-v`): `PATH needs "NAME": PROVIDER-PATH` (made when
        /// asked: a tree of 10,000 modules has 30,000 of them).
        public var provided: [String] { provisions.map { "\($0.importer) needs \"\($0.symbol)\": \($0.provider)" } }
        let provisions: [(importer: String, symbol: String, provider: String)]
    }

    /// Indexes `root`.
    ///
    /// - Throws: `cycle` (naming every ring, kmod's lines in ``RepositoryError/cycles``).
    public static func run(_ root: ModuleRoot) throws(RepositoryError) -> Report {
        // 1. Find.
        let (files, found) = root.moduleFiles()
        var warnings = found
        // 2. Read, in parallel (each file is independent; the pipeline is synchronous).
        var modules: [Found] = []
        modules.reserveCapacity(files.count)
        for outcome in readAll(files, in: root) {
            switch outcome {
            case .success(let module): modules.append(module)
            case .failure(let error): warnings.append(RepositoryWarning(file: error.file ?? root.path, message: "skipped: \(error.reason)"))
            }
        }
        // 3. One file per module.
        var chosen: [String: Int] = [:]
        var keep: [Bool] = Array(repeating: true, count: modules.count)
        for (index, module) in modules.enumerated() {
            let name = Names.module(module.metadata.name)
            guard let other = chosen[name] else {
                chosen[name] = index
                continue
            }
            let (winner, loser) = isPreferred(module.path, over: modules[other].path) ? (index, other) : (other, index)
            keep[loser] = false
            chosen[name] = winner
            warnings.append(RepositoryWarning(
                file: root.absolute(modules[loser].path),
                message: "module \(name) is also in \(root.absolute(modules[winner].path)), which is used (updates/ first, then modules.order and path order)"))
        }
        modules = modules.indices.filter { keep[$0] }.map { modules[$0] }
        let names = modules.map { Names.module($0.metadata.name) }

        // 4. Resolve imports.
        var exporters: [String: (module: Int, signature: SymbolSignature)] =
            Dictionary(minimumCapacity: modules.reduce(0) { $0 + $1.metadata.exports.count })
        for (index, module) in modules.enumerated() {
            for symbol in module.metadata.exports {
                if let first = exporters[symbol.name] {
                    warnings.append(RepositoryWarning(
                        file: root.absolute(module.path),
                        message: "exports \(symbol.name), which \(names[first.module]) (\(root.absolute(modules[first.module].path))) also exports; \(names[first.module]) provides it"))
                } else {
                    exporters[symbol.name] = (index, symbol.signature)
                }
            }
        }
        var uses: [[Int]] = Array(repeating: [], count: modules.count)
        var unresolved: [String] = []
        var provisions: [(importer: String, symbol: String, provider: String)] = []
        let absolute = modules.map { root.absolute($0.path) }
        for (index, module) in modules.enumerated() {
            let path = absolute[index]
            for symbol in module.metadata.imports {
                guard let exporter = exporters[symbol.name] else {
                    unresolved.append("\(path) needs unknown symbol \(symbol.name)")
                    continue
                }
                guard exporter.signature == symbol.signature else {
                    unresolved.append(
                        "\(path) disagrees about the signature of \(symbol.name): it imports \(symbol.signature), \(names[exporter.module]) exports \(exporter.signature)")
                    continue
                }
                guard exporter.module != index else { continue }
                provisions.append((path, symbol.name, absolute[exporter.module]))
                if !uses[index].contains(exporter.module) { uses[index].append(exporter.module) }
            }
        }

        // 5. Sort: modules nothing uses first (kmod's dep_sort_idx); a module's dependencies are
        // taken in module order, so the result depends on the tree, not on import order.
        for index in uses.indices { uses[index].sort() }
        var users = Array(repeating: 0, count: modules.count)
        for targets in uses { for target in targets { users[target] += 1 } }
        var queue = modules.indices.filter { users[$0] == 0 }
        var rank = Array(repeating: -1, count: modules.count)
        var next = 0
        var head = 0
        while head < queue.count {
            let module = queue[head]
            head += 1
            rank[module] = next
            next += 1
            for target in uses[module] {
                users[target] -= 1
                if users[target] == 0 { queue.append(target) }
            }
        }
        if next < modules.count {
            let cycles = Self.cycles(among: modules.indices.filter { rank[$0] < 0 }, uses: uses).map { $0.map { names[$0] } }
            let inCycles = Set(cycles.flatMap { $0 }).count
            throw RepositoryError(
                .cycle, file: root.path,
                reason: "found \(inCycles) modules in dependency cycles: "
                    + cycles.map { $0.joined(separator: " -> ") }.joined(separator: "; "),
                cycles: cycles)
        }

        // 6. Close. A module's closure is its dependencies' closures and themselves, each taken
        // once (marked with the module's number), sorted by rank. Users rank before what they use,
        // so walking modules from the highest rank down finds every dependency's closure done.
        var closure: [[Int]] = Array(repeating: [], count: modules.count)
        var mark = Array(repeating: -1, count: modules.count)
        for module in modules.indices.sorted(by: { rank[$0] > rank[$1] }) {
            var set: [Int] = []
            func take(_ member: Int) {
                guard mark[member] != module else { return }
                mark[member] = module
                set.append(member)
            }
            for target in uses[module] {
                take(target)
                for member in closure[target] { take(member) }
            }
            set.sort { rank[$0] < rank[$1] }
            closure[module] = set
        }
        let entries = modules.enumerated().map { index, module in
            ModuleIndex.Entry(
                name: names[index], path: module.path, stamp: module.stamp,
                dependencies: closure[index].map { names[$0] }, aliases: module.metadata.aliases,
                softDependencies: module.metadata.softDependencies, exports: module.metadata.exports)
        }
        let providers = exporters.mapValues { names[$0.module] }
        return Report(index: ModuleIndex(entries: entries, providers: providers), warnings: warnings, unresolved: unresolved, provisions: provisions)
    }

    /// kmod's search order between two files of one module: `updates/` first, then the earlier
    /// in module order (the caller passes the later one first).
    private static func isPreferred(_ later: String, over earlier: String) -> Bool {
        later.hasPrefix("updates/") && !earlier.hasPrefix("updates/")
    }

    /// A module file read: its path relative to the root, its stamp, its metadata.
    private struct Found {
        let path: String
        let stamp: FileStamp
        let metadata: ModuleMetadata
    }

    /// Reads every file's stamp and metadata, on as many threads as there are cores.
    private static func readAll(_ files: [String], in root: ModuleRoot) -> [Result<Found, ModuleError>] {
        let results = ResultSlots<Found, ModuleError>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            let result: Result<Found, ModuleError>
            do throws(ModuleError) {
                let (metadata, stamp) = try ModuleMetadata.read(file: root.absolute(files[index]))
                result = .success(Found(path: files[index], stamp: stamp, metadata: metadata))
            } catch {
                result = .failure(error)
            }
            results.set(index, result)
        }
        return results.take()
    }

    /// Every elementary cycle among `modules` (each listed from its earliest module, in the
    /// direction of use, the first repeated at the end), ordered by that module; at most 1,000.
    static func cycles(among modules: [Int], uses: [[Int]]) -> [[Int]] {
        let members = Set(modules)
        var found: [[Int]] = []
        for start in modules.sorted() {
            // Paths from `start` through members greater than it, back to `start`.
            var path = [start]
            var onPath: Set<Int> = [start]
            func extend(_ module: Int) {
                guard found.count < 1_000 else { return }
                for target in uses[module] where members.contains(target) {
                    if target == start {
                        found.append(path + [start])
                    } else if target > start, !onPath.contains(target) {
                        path.append(target)
                        onPath.insert(target)
                        extend(target)
                        onPath.remove(target)
                        path.removeLast()
                    }
                }
            }
            extend(start)
        }
        return found
    }
}
