#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Modload

/// The files of an index, and publishing them all at once.
///
/// kmod's text formats, byte for byte where the concept is the same — `modules.dep` (each module's
/// path, then its full dependency closure, users before what they use), `modules.alias`,
/// `modules.symbols`, `modules.softdep` — and `modules.modload`, the one the loader reads: every
/// fact of the index in one line-oriented file, read with one `read` and parsed in one pass. Why
/// not kmod's binary tries: they exist so that each short-lived `modprobe` process can look up one
/// name in an `mmap`ed file without parsing; Modload's loader is a long-lived host that reads the
/// index once per generation and keeps it in memory, where a dictionary is faster than any trie
/// on disk, and a text format stays inspectable and diffable.
///
/// **Publishing is atomic for the whole set**: a run writes a new generation folder
/// (`.modload-index/<generation>/`, every file complete and synced), then renames a symbolic link
/// `modules.index` to point at it — one `rename(2)`, so a reader that resolves the link once sees
/// one run's files, never a mix (kmod replaces file by file). `modules.dep` and the other text
/// files at the root are links into `modules.index/`, for people and tools that look there. The
/// previous generation is kept (a reader may still be reading it); older ones are removed.
extension ModuleIndex {
    /// The folder under the root that holds the generations.
    public static let generationsFolder = ".modload-index"
    /// The link naming the current generation.
    public static let currentLink = "modules.index"
    /// The loader's file.
    public static let loaderFile = "modules.modload"
    /// The text files, in the order `depmod -n` prints them.
    public static let textFiles = ["modules.dep", "modules.alias", "modules.softdep", "modules.symbols"]

    /// Every file of an index: ``textFiles``, then the loader's.
    static let fileNames = textFiles + [loaderFile]

    /// The contents of each file of the index, by name, in ``textFiles`` order then the loader's.
    public func files() -> [(name: String, contents: String)] {
        Self.fileNames.map { ($0, String(decoding: contents(of: $0), as: UTF8.self)) }
    }

    /// The bytes of the index file `name` (one of ``fileNames``).
    func contents(of name: String) -> [UInt8] {
        var out = Text()
        switch name {
        case "modules.dep": dependencyText(&out)
        case "modules.alias": aliasText(&out)
        case "modules.softdep": softdepText(&out)
        case "modules.symbols": symbolText(&out)
        default: loaderText(&out)
        }
        return out.bytes
    }

    /// Bytes of text, appended to in place.
    struct Text {
        var bytes: [UInt8] = []
        init() { bytes.reserveCapacity(1 << 16) }
        mutating func add(_ pieces: String...) { for piece in pieces { bytes.append(contentsOf: piece.utf8) } }
        mutating func add<Number: BinaryInteger>(number: Number) { bytes.append(contentsOf: String(number).utf8) }
    }

    /// `modules.dep`: `PATH: DEP-PATH…`, the closure users before what they use.
    private func dependencyText(_ out: inout Text) {
        let pathOf = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.path) })
        for entry in entries {
            out.add(entry.path, ":")
            for dependency in entry.dependencies { out.add(" ", pathOf[dependency] ?? dependency) }
            out.add("\n")
        }
    }

    private func aliasText(_ out: inout Text) {
        out.add("# Aliases extracted from modules themselves.\n")
        for entry in entries { for pattern in entry.aliases { out.add("alias ", pattern, " ", entry.name, "\n") } }
    }

    private func softdepText(_ out: inout Text) {
        out.add("# Soft dependencies extracted from modules themselves.\n")
        for entry in entries where !entry.softDependencies.isEmpty {
            out.add("softdep ", entry.name, " ", entry.softDependencies.description, "\n")
        }
    }

    private func symbolText(_ out: inout Text) {
        out.add("# Aliases for symbols, used by symbol_request().\n")
        for (symbol, module) in symbols { out.add("alias symbol:", symbol, " ", module, "\n") }
    }

    /// The loader's file: a header line, then per module a `module` line and its facts, tab-separated.
    private func loaderText(_ out: inout Text) {
        out.add("modload-index 1\n")
        for entry in entries {
            let stamp = entry.stamp
            out.add("module\t", entry.name, "\t", entry.path)
            for number in [stamp.device, stamp.inode] {
                out.add("\t")
                out.add(number: number)
            }
            for number in [stamp.size, stamp.modified, stamp.changed] {
                out.add("\t")
                out.add(number: number)
            }
            out.add("\n")
            if !entry.dependencies.isEmpty {
                out.add("deps")
                for dependency in entry.dependencies { out.add("\t", dependency) }
                out.add("\n")
            }
            for pattern in entry.aliases { out.add("alias\t", pattern, "\n") }
            if !entry.softDependencies.isEmpty { out.add("softdep\t", entry.softDependencies.description, "\n") }
            for symbol in entry.exports { out.add("export\t", symbol.name, "\t", symbol.signature.text, "\n") }
        }
    }

    /// Parses the loader's file.
    ///
    /// - Throws: `invalid`, naming `file` and the line.
    static func parse(loaderText text: String, file: String) throws(RepositoryError) -> ModuleIndex {
        func invalid(_ line: Int, _ why: String) -> RepositoryError {
            RepositoryError(.invalid, file: file, reason: "line \(line): \(why) (run modload depmod to rebuild the index)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == "modload-index 1" else { throw invalid(1, "not a Modload index of format 1") }
        struct Building {
            var name: String, path: String, stamp: FileStamp
            var dependencies: [String] = [], aliases: [String] = [], softDependencies = SoftDependencies.none
            var exports: [ModuleMetadata.Symbol] = []
            var entry: ModuleIndex.Entry {
                ModuleIndex.Entry(
                    name: name, path: path, stamp: stamp, dependencies: dependencies, aliases: aliases,
                    softDependencies: softDependencies, exports: exports)
            }
        }
        var entries: [ModuleIndex.Entry] = []
        var current: Building?
        for (offset, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let number = offset + 1
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if fields[0] == "module" {
                guard fields.count == 8, let device = UInt64(fields[3]), let inode = UInt64(fields[4]),
                    let size = Int64(fields[5]), let modified = Int64(fields[6]), let changed = Int64(fields[7])
                else { throw invalid(number, "a module line needs name, path, device, inode, size and two times") }
                if let done = current { entries.append(done.entry) }
                current = Building(
                    name: fields[1], path: fields[2], stamp: FileStamp(device: device, inode: inode, size: size, modified: modified, changed: changed))
                continue
            }
            guard current != nil else { throw invalid(number, "\(fields[0]) before any module line") }
            switch (fields[0], fields.count) {
            case ("deps", 2...): current!.dependencies = Array(fields[1...])
            case ("alias", 2): current!.aliases.append(fields[1])
            case ("softdep", 2):
                guard let parsed = SoftDependencies(parsing: fields[1]) else { throw invalid(number, "a malformed softdep") }
                current!.softDependencies = parsed
            case ("export", 3): current!.exports.append(ModuleMetadata.Symbol(name: fields[1], signature: SymbolSignature(fields[2])))
            default: throw invalid(number, "an unknown or malformed line starting with '\(fields[0])'")
            }
        }
        if let done = current { entries.append(done.entry) }
        return ModuleIndex(entries: entries)
    }

    /// Publishes the index as the root's current generation (see the type's documentation).
    ///
    /// - Throws: `io`, naming the file that could not be written; the previous generation stays
    ///   current.
    public func write(to root: ModuleRoot) throws(RepositoryError) {
        let generations = "\(root.path)/\(Self.generationsFolder)"
        if mkdir(generations, 0o755) != 0 && errno != EEXIST { throw RepositoryError.io(generations, "cannot create the index folder") }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let generation = "\(Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec))-\(getpid())"
        let folder = "\(generations)/\(generation)"
        guard mkdir(folder, 0o755) == 0 else { throw RepositoryError.io(folder, "cannot create the index generation") }
        do throws(RepositoryError) {
            // The files are built, written and synced in parallel (one job each, on as many
            // threads as there are cores), and generations older than the current one are
            // removed meanwhile (no reader is sent to them any more): the syncs overlap.
            let previous = Self.readLink("\(root.path)/\(Self.currentLink)").map { String($0.split(separator: "/").last ?? "") }
            let written = ResultSlots<Void, RepositoryError>(count: Self.fileNames.count)
            DispatchQueue.concurrentPerform(iterations: Self.fileNames.count + 1) { index in
                guard index < Self.fileNames.count else {
                    for (name, _) in directoryEntries(generations) ?? [] where name != generation && name != previous {
                        Self.remove("\(generations)/\(name)")
                    }
                    return
                }
                let name = Self.fileNames[index]
                written.set(index, Result { () throws(RepositoryError) in try Self.writeSynced(contents(of: name), to: "\(folder)/\(name)") })
            }
            for result in written.take() { try result.get() }
            let folderFD = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if folderFD >= 0 {
                fsync(folderFD)
                close(folderFD)
            }
            // The one switch: a new link renamed over the old.
            let link = "\(root.path)/\(Self.currentLink)"
            let temporary = "\(link).\(generation).tmp"
            unlink(temporary)
            guard symlink("\(Self.generationsFolder)/\(generation)", temporary) == 0 else {
                throw RepositoryError.io(temporary, "cannot create the index link")
            }
            guard rename(temporary, link) == 0 else {
                let error = RepositoryError.io(link, "cannot switch the index to the new generation")
                unlink(temporary)
                throw error
            }
        } catch {
            Self.remove(folder)
            throw error
        }
        // Links for people at the root (created once; they follow modules.index).
        for name in Self.fileNames {
            let path = "\(root.path)/\(name)"
            var status = stat()
            if lstat(path, &status) == 0 { continue }
            _ = symlink("\(Self.currentLink)/\(name)", path)
        }
    }

    /// What the symbolic link at `path` points to, or `nil` (with `errno` set) if it cannot be read.
    static func readLink(_ path: String) -> String? {
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink(path, &target, target.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The generation folder `root`'s index link points at now, or `nil` if it has no index:
    /// what changes, and only changes, when depmod publishes.
    static func currentGeneration(of root: ModuleRoot) -> String? {
        readLink("\(root.path)/\(currentLink)")
    }

    /// Reads the root's current generation.
    ///
    /// - Throws: `notFound` (no index: run depmod), `invalid` or `io`, naming the file.
    public static func load(from root: ModuleRoot) throws(RepositoryError) -> ModuleIndex {
        let link = "\(root.path)/\(currentLink)"
        guard let folder = readLink(link) else {
            if errno == ENOENT { throw RepositoryError(.notFound, file: root.path, reason: "has no module index: run modload depmod -b \(root.path)") }
            throw RepositoryError.io(link, "cannot read the index link")
        }
        let file = "\(folder.hasPrefix("/") ? folder : "\(root.path)/\(folder)")/\(loaderFile)"
        return try parse(loaderText: String(decoding: try readFile(file), as: UTF8.self), file: file)
    }

    private static func writeSynced(_ bytes: [UInt8], to path: String) throws(RepositoryError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RepositoryError.io(path, "cannot create it") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RepositoryError.io(path, "cannot write it") }
            done += n
        }
        guard fsync(fd) == 0 else { throw RepositoryError.io(path, "cannot sync it") }
    }

    /// Removes a generation folder and its files.
    private static func remove(_ folder: String) {
        for (name, _) in directoryEntries(folder) ?? [] { unlink("\(folder)/\(name)") }
        rmdir(folder)
    }
}
