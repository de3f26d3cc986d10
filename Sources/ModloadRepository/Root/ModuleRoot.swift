#if canImport(Glibc)
import Glibc
#endif

/// A module root: a directory tree of module files (kmod's `/lib/modules/$(uname -r)`), with the
/// index `depmod` writes into it and, optionally, a `modules.order` and a `modprobe.d` of its own.
///
/// Module files are the regular files under the root whose names end in `.so`, at any depth,
/// except in the index folders. Their order — which decides between two files of one module and
/// the order of `modules.dep` and `modules.alias` — is `modules.order` (one relative path per line,
/// as kbuild writes it) for the files it lists, then every other file by path.
public struct ModuleRoot: Sendable, Equatable {
    /// The root directory, absolute, without a trailing `/`.
    public let path: String

    /// The environment variable that names the root for the CLI (`-b/--basedir` overrides it).
    public static let environmentVariable = "MODLOAD_ROOT"
    /// The root the CLI uses when neither `-b` nor ``environmentVariable`` names one.
    public static let defaultPath = "/usr/lib/modload/modules"

    /// The root for a command: `basedir` if given, else ``environmentVariable``, else
    /// ``defaultPath``.
    public static func path(basedir: String?, environment: [String: String]) -> String {
        basedir ?? environment[environmentVariable].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPath
    }

    /// The root at `path`, which must be a directory.
    ///
    /// - Throws: `notFound` or `invalid` (not a directory), naming it.
    public init(_ path: String) throws(RepositoryError) {
        guard !path.isEmpty else { throw RepositoryError(.invalid, reason: "the module root path is empty") }
        var status = stat()
        guard stat(path, &status) == 0 else { throw RepositoryError.io(path, "cannot use it as the module root") }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw RepositoryError(.invalid, file: path, reason: "is not a directory (the module root must be one)")
        }
        var absolute = path
        if let resolved = realpath(path, nil) {
            absolute = String(cString: resolved)
            free(resolved)
        }
        while absolute.count > 1 && absolute.hasSuffix("/") { absolute.removeLast() }
        self.path = absolute
    }

    /// The absolute path of `relativePath` under the root.
    public func absolute(_ relativePath: String) -> String { relativePath.hasPrefix("/") ? relativePath : "\(path)/\(relativePath)" }

    /// The root's own configuration directory (read after the system's, so a system file of the
    /// same name masks it).
    public var configurationDirectory: String { "\(path)/modprobe.d" }

    /// The module files under the root, as paths relative to it, in module order; and what was
    /// wrong with `modules.order` or a folder, if anything.
    func moduleFiles() -> (files: [String], warnings: [RepositoryWarning]) {
        var warnings: [RepositoryWarning] = []
        var found: [String] = []
        walk("", into: &found, warnings: &warnings)
        found.sort()
        let (order, orderWarnings) = listedOrder()
        warnings += orderWarnings
        guard !order.isEmpty else { return (found, warnings) }
        let present = Set(found)
        var seen = Set<String>()
        var ordered: [String] = []
        for relative in order where present.contains(relative) && seen.insert(relative).inserted { ordered.append(relative) }
        ordered += found.filter { !seen.contains($0) }
        return (ordered, warnings)
    }

    /// Folders under the root that are never searched for modules: the index generations.
    static let skipped: Set<String> = [ModuleIndex.generationsFolder]

    private func walk(_ relative: String, into found: inout [String], warnings: inout [RepositoryWarning]) {
        let directory = relative.isEmpty ? path : "\(path)/\(relative)"
        guard let entries = directoryEntries(directory) else {
            warnings.append(RepositoryWarning(file: directory, message: "skipped: cannot read the folder: \(String(cString: strerror(errno)))"))
            return
        }
        for (name, listedType) in entries where !(relative.isEmpty && Self.skipped.contains(name)) {
            let child = relative.isEmpty ? name : "\(relative)/\(name)"
            // The folder says what each name is (d_type); a file system that does not is asked.
            var type = listedType
            if type == UInt8(DT_UNKNOWN) {
                var status = stat()
                guard lstat("\(path)/\(child)", &status) == 0 else { continue }
                switch status.st_mode & S_IFMT {
                case S_IFDIR: type = UInt8(DT_DIR)
                case S_IFREG: type = UInt8(DT_REG)
                default: continue  // a link or a special file, as lstat sees it
                }
            }
            switch Int(type) {
            case Int(DT_DIR): walk(child, into: &found, warnings: &warnings)
            case Int(DT_REG) where name.hasSuffix(".so"): found.append(child)
            default: continue  // links and special files are not module files (as lstat sees them)
            }
        }
    }

    /// `modules.order`'s paths; a line without its newline makes kmod ignore the whole file, and
    /// so does this.
    private func listedOrder() -> ([String], [RepositoryWarning]) {
        let file = "\(path)/modules.order"
        guard let bytes = try? readFile(file) else { return ([], []) }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.isEmpty || text.hasSuffix("\n") else {
            return ([], [RepositoryWarning(file: file, message: "corrupted line misses '\\n': the order is ignored")])
        }
        return (text.split(separator: "\n").map { String($0).trimmingPrefix("./") }.filter { !$0.isEmpty }, [])
    }
}

extension String {
    fileprivate func trimmingPrefix(_ prefix: String) -> String { hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self }
}

/// Every byte of the file at `path` (configuration and index files: small).
///
/// - Throws: the failure, with `strerror`'s words.
func readFile(_ path: String) throws(RepositoryError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw RepositoryError.io(path, "cannot open it") }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0 else { throw RepositoryError.io(path, "cannot stat it") }
    guard status.st_mode & S_IFMT == S_IFREG else { throw RepositoryError(.invalid, file: path, reason: "is not a regular file") }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw RepositoryError.io(path, "cannot read it") }
        if n == 0 { return bytes }
        bytes += chunk[..<n]
    }
}

/// The names in the directory at `path` (without `.` and `..`), each with what the directory says
/// it is (`d_type`: `DT_UNKNOWN` where the file system does not say), or `nil` (with `errno` set)
/// if it cannot be read.
func directoryEntries(_ path: String) -> [(name: String, type: UInt8)]? {
    guard let handle = opendir(path) else { return nil }
    defer { closedir(handle) }
    var entries: [(name: String, type: UInt8)] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != ".", name != ".." { entries.append((name, entry.pointee.d_type)) }
    }
    return entries
}
