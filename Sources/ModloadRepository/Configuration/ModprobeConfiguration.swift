#if canImport(Glibc)
import Glibc
#endif
import Modload

/// `modprobe.d` configuration: what the administrator says about modules, on top of what the
/// modules say about themselves.
///
/// **Files**: every `*.conf` in the directories, by basename across all of them; a basename found
/// in more than one directory is read only from the first (so `/etc` masks `/usr/lib`, as kmod);
/// then the files in lexical order of basename. A missing directory is no error.
///
/// **Lines**: `#` starts a comment line; a line ending in `\` continues on the next (joined with
/// nothing between); names compare with `-` ≡ `_`. Directives:
/// - `alias PATTERN MODULE` — a name (glob) that resolves to MODULE, before module names;
/// - `blacklist MODULE` — MODULE's own aliases are ignored (a request by its name still loads it,
///   and so does a dependency on it — kmod's semantics exactly);
/// - `options MODULE|ALIAS ARGS…` — parameters; every matching line, in order, concatenated;
/// - `softdep MODULE pre: A… post: B…` — every line for a module merged (kmod keeps only the
///   first: its bug #33);
/// - `deny MODULE` — MODULE is refused however it is asked for: by name, alias, dependency or
///   softdep (what `blacklist` is often mistaken for);
/// - `weakdep MODULE A…` — recorded and shown, never loaded (as kmod).
///
/// `install` and `remove` are not supported: they run shell commands as root in place of a load,
/// outside every guarantee the host gives (merging, references, the drain), with the daemon's
/// privileges; `softdep`, `options` and `deny` cover what they are used for. Such a line, and every
/// malformed one, is a warning naming file and line; the rest of the configuration still applies.
public struct ModprobeConfiguration: Sendable, Equatable {
    /// The directories the CLI reads when none are given, most important first; the module root's
    /// own `modprobe.d` comes after these.
    public static let systemDirectories = ["/etc/modload/modprobe.d", "/run/modload/modprobe.d", "/usr/lib/modload/modprobe.d"]

    /// Where a line came from: `file:line`.
    public struct Origin: Sendable, Equatable, CustomStringConvertible {
        /// The file.
        public let file: String
        /// The line.
        public let line: Int
        /// `file:line`.
        public var description: String { "\(file):\(line)" }
    }

    /// `alias` lines: pattern → module, in order.
    public private(set) var aliases: [(pattern: String, module: String, origin: Origin)] = []
    /// `blacklist` lines: module → where.
    public private(set) var blacklisted: [String: Origin] = [:]
    /// `deny` lines: module → where.
    public private(set) var denied: [String: Origin] = [:]
    /// `options` lines: name (module or alias) → text, in order.
    public private(set) var options: [(name: String, text: String)] = []
    /// The positions in `options` of each name's lines, under the name as written (alias
    /// normalized) and as a module name: what ``options(for:alias:)`` looks up per request.
    private var optionLines: [String: [Int]] = [:]
    /// `softdep` lines, merged per module.
    public private(set) var softDependencies: [String: SoftDependencies] = [:]
    /// `weakdep` lines, merged per module.
    public private(set) var weakDependencies: [String: [String]] = [:]
    /// The files read, in order.
    public private(set) var files: [String] = []
    /// Lines ignored and files unreadable, each named.
    public private(set) var warnings: [RepositoryWarning] = []

    /// No configuration at all.
    public init() {}

    /// The configuration in `directories` (most important first; see the type's documentation).
    public init(directories: [String]) {
        for path in configurationFiles(in: directories) {
            do throws(RepositoryError) {
                let bytes = try readFile(path)
                parse(String(decoding: bytes, as: UTF8.self), file: path)
            } catch {
                warnings.append(RepositoryWarning(file: path, message: "skipped: \(error.reason)"))
            }
        }
    }

    /// The configuration in `text`, as if read from `file`.
    public init(parsing text: String, file: String) {
        parse(text, file: file)
    }

    /// Adds the lines of `text`, as if read from `file` after the files already read (what a
    /// program that sets options of its own, as `modload boot` does, adds to the administrator's).
    public mutating func add(parsing text: String, file: String) {
        parse(text, file: file)
    }

    /// Adds the lines of `text` (from `file`).
    private mutating func parse(_ text: String, file: String) {
        files.append(file)
        var pending = ""
        var firstLine = 0
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if pending.isEmpty { firstLine = offset + 1 }
            var line = String(raw)
            if line.hasSuffix("\\") && !line.hasSuffix("\\\\") {
                line.removeLast()
                pending += line
                continue
            }
            pending += line
            let complete = pending
            pending = ""
            apply(complete, origin: Origin(file: file, line: firstLine))
        }
        if !pending.isEmpty { apply(pending, origin: Origin(file: file, line: firstLine)) }
    }

    private mutating func apply(_ line: String, origin: Origin) {
        let trimmed = line.trimmingBlanks
        guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return }
        let tokens = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let command = tokens[0]
        func bad(_ why: String) {
            warnings.append(RepositoryWarning(
                file: origin.file, line: origin.line, message: "ignoring bad line starting with '\(command)': \(why)"))
        }
        func moduleName(_ token: String) -> String? {
            try? ModuleHost.canonicalName(token)
        }
        switch command {
        case "alias":
            guard tokens.count == 3 else { return bad("alias takes a pattern and a module name") }
            guard let pattern = Names.alias(tokens[1]) else { return bad("the pattern \(tokens[1]) has an unmatched bracket") }
            guard let module = moduleName(tokens[2]) else { return bad("\(tokens[2]) is not a module name") }
            aliases.append((pattern, module, origin))
        case "blacklist", "deny":
            guard tokens.count == 2 else { return bad("\(command) takes one module name") }
            guard let module = moduleName(tokens[1]) else { return bad("\(tokens[1]) is not a module name") }
            if command == "deny" {
                denied[module] = denied[module] ?? origin
            } else {
                blacklisted[module] = blacklisted[module] ?? origin
            }
        case "options":
            guard tokens.count >= 3 else { return bad("options takes a module or alias and parameters") }
            guard let name = Names.alias(tokens[1]) else { return bad("\(tokens[1]) has an unmatched bracket") }
            for key in Set([name, Names.module(name)]) { optionLines[key, default: []].append(options.count) }
            options.append((name, tokens[2...].joined(separator: " ")))
        case "softdep":
            guard tokens.count >= 3, let module = moduleName(tokens[1]) else {
                return bad("softdep takes a module name, then pre: and post: lists")
            }
            guard let parsed = SoftDependencies(parsing: tokens[2...].joined(separator: " ")) else {
                return bad("softdep lists are 'pre:' or 'post:' followed by module names")
            }
            var merged = softDependencies[module] ?? .none
            merged.pre += parsed.pre.filter { !merged.pre.contains($0) }
            merged.post += parsed.post.filter { !merged.post.contains($0) }
            softDependencies[module] = merged
        case "weakdep":
            guard tokens.count >= 3, let module = moduleName(tokens[1]), tokens[2...].allSatisfy({ moduleName($0) != nil }) else {
                return bad("weakdep takes module names")
            }
            weakDependencies[module, default: []] += tokens[2...].map { Names.module($0) }
        case "install", "remove":
            bad("\(command) commands are not supported (Modload runs no shell commands for modules; use softdep, options or deny)")
        default:
            bad("unknown directive")
        }
    }

    /// The configured parameters of `module` (and of `alias`, the name it was asked for, if any):
    /// every matching `options` line in order, joined by spaces.
    public func options(for module: String, alias: String? = nil) -> String {
        var lines = optionLines[Names.module(module)] ?? []
        if let alias = alias.flatMap(Names.alias), let more = optionLines[alias] { lines = Array(Set(lines + more)).sorted() }
        return lines.map { options[$0].text }.joined(separator: " ")
    }

    /// The effective configuration in kmod's `-c` shape: `blacklist`, `deny`, `alias`, `options`,
    /// `softdep`, `weakdep` lines, each group in order, names canonical.
    public var text: String {
        var lines: [String] = []
        lines += blacklisted.sorted { $0.key < $1.key }.map { "blacklist \($0.key)" }
        lines += denied.sorted { $0.key < $1.key }.map { "deny \($0.key)" }
        lines += aliases.map { "alias \($0.pattern) \($0.module)" }
        lines += options.map { "options \($0.name) \($0.text)" }
        lines += softDependencies.sorted { $0.key < $1.key }.map { "softdep \($0.key) \($0.value)" }
        lines += weakDependencies.sorted { $0.key < $1.key }.map { "weakdep \($0.key) \($0.value.joined(separator: " "))" }
        return lines.map { $0 + "\n" }.joined()
    }

    public static func == (a: ModprobeConfiguration, b: ModprobeConfiguration) -> Bool {
        a.text == b.text && a.files == b.files && a.warnings == b.warnings
    }
}

extension String {
    var trimmingBlanks: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}
