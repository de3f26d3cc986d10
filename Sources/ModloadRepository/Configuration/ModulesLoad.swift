/// `modules-load.d`: the modules to load at start, as systemd-modules-load reads them.
///
/// **Files**: the configuration directory rules of `modprobe.d` (every `*.conf` by basename, the
/// first directory masking the rest, lexical order). **Lines**: one module name or alias each;
/// blank lines and lines starting with `#` or `;` are ignored; a line with a blank inside is not a
/// name and is a warning naming file and line.
public struct ModulesLoadList: Sendable, Equatable {
    /// The directories the daemon reads when none are given, most important first; the module
    /// root's own `modules-load.d` comes after these.
    public static let systemDirectories = ["/etc/modload/modules-load.d", "/run/modload/modules-load.d", "/usr/lib/modload/modules-load.d"]

    /// The names, in file order, each with where it was found.
    public private(set) var modules: [(name: String, origin: ModprobeConfiguration.Origin)] = []
    /// Lines ignored and files unreadable, each named.
    public private(set) var warnings: [RepositoryWarning] = []

    /// The list in `directories` (most important first).
    public init(directories: [String]) {
        for path in configurationFiles(in: directories) {
            do throws(RepositoryError) {
                parse(String(decoding: try readFile(path), as: UTF8.self), file: path)
            } catch {
                warnings.append(RepositoryWarning(file: path, message: "skipped: \(error.reason)"))
            }
        }
    }

    /// The list in `text`, as if read from `file`.
    public init(parsing text: String, file: String) {
        parse(text, file: file)
    }

    private mutating func parse(_ text: String, file: String) {
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingBlanks()
            guard !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix(";") else { continue }
            guard !line.contains(where: { $0 == " " || $0 == "\t" }) else {
                warnings.append(RepositoryWarning(file: file, line: offset + 1, message: "not a module name: \(String(reflecting: String(line)))"))
                continue
            }
            modules.append((String(line), ModprobeConfiguration.Origin(file: file, line: offset + 1)))
        }
    }

    public static func == (a: ModulesLoadList, b: ModulesLoadList) -> Bool {
        a.modules.map(\.name) == b.modules.map(\.name) && a.modules.map(\.origin) == b.modules.map(\.origin) && a.warnings == b.warnings
    }
}

extension Substring {
    /// Without leading and trailing blanks (spaces, tabs, carriage returns).
    fileprivate func trimmingBlanks() -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !blank($0) }), let end = lastIndex(where: { !blank($0) }) else { return "" }
        return self[start...end]
    }
}
