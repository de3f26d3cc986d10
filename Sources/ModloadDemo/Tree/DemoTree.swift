import Crypto
import Foundation
import Modload
import ModloadExampleBuilder
import ModloadRepository

/// The demo machine's module tree: the module files of `Examples/boot` (C and Swift) built from
/// source, laid out as a Linux `/lib/modules/VERSION` is (`kernel/drivers/…`, `kernel/fs/…`), with
/// the tree's own `modprobe.d` and depmod's index.
///
/// 1. **Find the sources**: `Examples/boot` of the package this program was built from.
/// 2. **Key** the build by a SHA-256 of every source's path and bytes (and the ABI header's): a
///    tree is rebuilt when any of them changes, and reused otherwise.
/// 3. **Build** into a folder of its own under `.build/modload-boot-tree/`, every file with
///    ``ExampleBuilder`` (C with `cc`, Swift with `swiftc` and sealed), as many at once as there
///    are cores; copy the `modprobe.d`; index it (``Depmod``).
/// 4. **Publish** by renaming the finished folder to the key's name — so a boot never sees half a
///    tree, and two boots building at once both end with a whole one — and remove older trees.
public struct DemoTree: Sendable {
    /// The module root: what `modload boot` resolves requests in (`-b` for the other verbs).
    public let root: ModuleRoot
    /// Whether this call built it (`false`: an earlier build was reused).
    public let built: Bool

    /// The package's `Examples/boot` (this file is `Sources/ModloadDemo/Tree/DemoTree.swift`).
    public static var sourceFolder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/boot").path
    }

    /// The tree for the current sources: built now if no build of them exists.
    ///
    /// - Throws: ``DemoTreeError`` naming what failed: sources not found, a compiler's output,
    ///   the index.
    public static func prepare(builder: ExampleBuilder = .shared) async throws -> DemoTree {
        // 1. Find the sources.
        let sources = sourceFolder
        let files = sourceFiles(in: sources)
        guard !files.isEmpty else {
            throw DemoTreeError(
                "the demo tree's sources are not beside this build of modload (looked in \(sources)); run `swift run modload boot` in a clone of Modload, or `--builtin`")
        }
        // 2. Key.
        let key = try fingerprint(files, in: sources, abi: builder.packageRoot + "/Sources/CModloadABI/include/modload.h")
        let cache = builder.packageRoot + "/.build/modload-boot-tree"
        let final = "\(cache)/\(key)"
        if FileManager.default.fileExists(atPath: "\(final)/modules.dep") {
            return DemoTree(root: try ModuleRoot(final), built: false)
        }
        // 3. Build.
        let building = "\(cache)/.building-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: building) }
        do {
            try FileManager.default.createDirectory(atPath: building, withIntermediateDirectories: true)
            try await compile(files, from: sources, into: building, builder: builder)
            try FileManager.default.createDirectory(atPath: "\(building)/modprobe.d", withIntermediateDirectories: true)
            for conf in (try? FileManager.default.contentsOfDirectory(atPath: "\(sources)/modprobe.d")) ?? [] where conf.hasSuffix(".conf") {
                try FileManager.default.copyItem(atPath: "\(sources)/modprobe.d/\(conf)", toPath: "\(building)/modprobe.d/\(conf)")
            }
        } catch let error as ExampleBuilder.BuildFailure {
            throw DemoTreeError("building the demo tree failed: \(error)")
        } catch {
            throw DemoTreeError("building the demo tree in \(building) failed: \(error.localizedDescription)")
        }
        do throws(RepositoryError) {
            let root = try ModuleRoot(building)
            try Depmod.run(root).index.write(to: root)
        } catch {
            throw DemoTreeError("indexing the demo tree failed: \(error)")
        }
        // 4. Publish (a concurrent boot may have published the same key first: use that one).
        if rename(building, final) != 0, !FileManager.default.fileExists(atPath: "\(final)/modules.dep") {
            throw DemoTreeError("could not move the built tree to \(final): \(String(cString: strerror(errno)))")
        }
        for old in (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [] where old != key && !old.hasPrefix(".") {
            try? FileManager.default.removeItem(atPath: "\(cache)/\(old)")
        }
        // The index was written with the building folder's name: read it where it now is.
        return DemoTree(root: try ModuleRoot(final), built: true)
    }

    /// The module sources under `folder/kernel`, relative, sorted.
    static func sourceFiles(in folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: "\(folder)/kernel") else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".c") || $0.hasSuffix(".swift") }.map { "kernel/\($0)" }.sorted()
    }

    private static func fingerprint(_ files: [String], in folder: String, abi: String) throws -> String {
        var hash = SHA256()
        for file in files + ["boot_module.h"] + ((try? FileManager.default.contentsOfDirectory(atPath: "\(folder)/modprobe.d"))?.sorted().map { "modprobe.d/\($0)" } ?? []) {
            hash.update(data: Data(file.utf8))
            hash.update(data: try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(file)")))
        }
        hash.update(data: (try? Data(contentsOf: URL(fileURLWithPath: abi))) ?? Data())
        return hash.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Every source into `destination` at its relative path, `.c`/`.swift` → `.so`, a few at once.
    private static func compile(_ files: [String], from sources: String, into destination: String, builder: ExampleBuilder) async throws {
        let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = files[...]
            func start() throws {
                guard let file = pending.popFirst() else { return }
                let output = "\(destination)/\(URL(fileURLWithPath: file).deletingPathExtension().relativePath).so"
                try FileManager.default.createDirectory(
                    atPath: URL(fileURLWithPath: output).deletingLastPathComponent().path, withIntermediateDirectories: true)
                group.addTask { try await builder.buildModule(source: "\(sources)/\(file)", to: output, includes: [sources]) }
            }
            for _ in 0..<width { try start() }
            while try await group.next() != nil { try start() }
        }
    }
}

/// Why the demo tree could not be prepared.
public struct DemoTreeError: Error, CustomStringConvertible {
    /// What failed, in plain words.
    public let description: String
    init(_ description: String) { self.description = description }
}
