#if canImport(Glibc)
import Glibc
#endif
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

    /// The contents of each file of the index, by name, in ``textFiles`` order then the loader's.
    public func files() -> [(name: String, contents: String)] {
        let pathOf = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.path) })
        var dep = ""
        for entry in entries {
            dep += entry.path + ":"
            for dependency in entry.dependencies { dep += " " + (pathOf[dependency] ?? dependency) }
            dep += "\n"
        }
        var alias = "# Aliases extracted from modules themselves.\n"
        for entry in entries { for pattern in entry.aliases { alias += "alias \(pattern) \(entry.name)\n" } }
        var softdep = "# Soft dependencies extracted from modules themselves.\n"
        for entry in entries where !entry.softDependencies.isEmpty { softdep += "softdep \(entry.name) \(entry.softDependencies)\n" }
        var symbols = "# Aliases for symbols, used by symbol_request().\n"
        for (symbol, module) in self.symbols { symbols += "alias symbol:\(symbol) \(module)\n" }
        return [("modules.dep", dep), ("modules.alias", alias), ("modules.softdep", softdep), ("modules.symbols", symbols),
                (Self.loaderFile, loaderText)]
    }

    /// The loader's file: a header line, then per module a `module` line and its facts, tab-separated.
    var loaderText: String {
        var text = "modload-index 1\n"
        for entry in entries {
            let stamp = entry.stamp
            text += "module\t\(entry.name)\t\(entry.path)\t\(stamp.device)\t\(stamp.inode)\t\(stamp.size)\t\(stamp.modified)\n"
            if !entry.dependencies.isEmpty { text += "deps\t" + entry.dependencies.joined(separator: "\t") + "\n" }
            for pattern in entry.aliases { text += "alias\t\(pattern)\n" }
            if !entry.softDependencies.isEmpty { text += "softdep\t\(entry.softDependencies)\n" }
            for symbol in entry.exports { text += "export\t\(symbol.name)\t\(symbol.signature)\n" }
        }
        return text
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
                guard fields.count == 7, let device = UInt64(fields[3]), let inode = UInt64(fields[4]),
                    let size = Int64(fields[5]), let modified = Int64(fields[6])
                else { throw invalid(number, "a module line needs name, path, device, inode, size and time") }
                if let done = current { entries.append(done.entry) }
                current = Building(
                    name: fields[1], path: fields[2], stamp: FileStamp(device: device, inode: inode, size: size, modified: modified))
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
            for (name, contents) in files() { try Self.writeSynced(contents, to: "\(folder)/\(name)") }
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
        for name in Self.textFiles + [Self.loaderFile] {
            let path = "\(root.path)/\(name)"
            var status = stat()
            if lstat(path, &status) == 0 { continue }
            _ = symlink("\(Self.currentLink)/\(name)", path)
        }
        Self.removeGenerations(in: generations, keeping: generation)
    }

    /// Reads the root's current generation.
    ///
    /// - Throws: `notFound` (no index: run depmod), `invalid` or `io`, naming the file.
    public static func load(from root: ModuleRoot) throws(RepositoryError) -> ModuleIndex {
        let link = "\(root.path)/\(currentLink)"
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink(link, &target, target.count - 1)
        guard length > 0 else {
            if errno == ENOENT { throw RepositoryError(.notFound, file: root.path, reason: "has no module index: run modload depmod -b \(root.path)") }
            throw RepositoryError.io(link, "cannot read the index link")
        }
        let folder = String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let file = "\(folder.hasPrefix("/") ? folder : "\(root.path)/\(folder)")/\(loaderFile)"
        return try parse(loaderText: String(decoding: try readFile(file), as: UTF8.self), file: file)
    }

    private static func writeSynced(_ contents: String, to path: String) throws(RepositoryError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RepositoryError.io(path, "cannot create it") }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RepositoryError.io(path, "cannot write it") }
            done += n
        }
        guard fsync(fd) == 0 else { throw RepositoryError.io(path, "cannot sync it") }
    }

    /// Removes every generation but `current` and the one before it (by name: names sort by time).
    private static func removeGenerations(in folder: String, keeping current: String) {
        let time = { (name: String) in Int64(name.prefix { $0 != "-" }) ?? 0 }
        let older = (directoryEntries(folder) ?? []).filter { $0 != current }.sorted { time($0) < time($1) }
        for name in older.dropLast() { remove("\(folder)/\(name)") }
    }

    /// Removes a generation folder and its files.
    private static func remove(_ folder: String) {
        for name in directoryEntries(folder) ?? [] { unlink("\(folder)/\(name)") }
        rmdir(folder)
    }
}
