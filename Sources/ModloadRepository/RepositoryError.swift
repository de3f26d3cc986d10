#if canImport(Glibc)
import Glibc
#endif

/// A failure of the repository layer itself — a root that is not a directory, an index that is
/// missing or unreadable, a dependency cycle that stops `depmod` — naming the file.
///
/// Failures of a *request* (a module denied, an index out of date, a module file that fails its
/// checks) are ``Modload/ModuleError``s: they travel through the host like every load error.
public struct RepositoryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// The root, a configuration directory or an index does not exist.
        case notFound
        /// A path is not what it must be (a root that is not a directory, an index of another format).
        case invalid
        /// Reading or writing failed (`strerror` in the reason).
        case io
        /// Modules depend on each other in a ring; `cycles` names each.
        case cycle
    }

    /// What kind of failure.
    public let code: Code
    /// The file or directory concerned, if one is.
    public let file: String?
    /// What went wrong, in plain words.
    public let reason: String
    /// For `cycle`: each ring, its first module repeated at the end.
    public let cycles: [[String]]

    /// A failure of `code` on `file`.
    public init(_ code: Code, file: String? = nil, reason: String, cycles: [[String]] = []) {
        self.code = code
        self.file = file
        self.reason = reason
        self.cycles = cycles
    }

    /// An I/O failure of `doing` on `file`, with the text of `errno`.
    static func io(_ file: String, _ doing: String, errno code: Int32 = errno) -> RepositoryError {
        RepositoryError(code == ENOENT ? .notFound : .io, file: file, reason: "\(doing): \(String(cString: strerror(code)))")
    }

    /// `file: reason`.
    public var description: String { file.map { "\($0): \(reason)" } ?? reason }
}

/// Something the repository skipped or ignored, and why — a module file that fails its checks, a
/// configuration line it cannot read, two files of one module — named by file and line.
public struct RepositoryWarning: Sendable, Equatable, CustomStringConvertible {
    /// The file concerned.
    public let file: String
    /// The line in it, for configuration files.
    public let line: Int?
    /// What was skipped and why.
    public let message: String

    /// A warning about `file` (at `line`).
    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`.
    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}
