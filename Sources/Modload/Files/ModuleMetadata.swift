/// What a module file says about itself, read from its metadata section (`.modload_info`,
/// format in `modload.h`) without mapping or running any of it: the module's name and metadata,
/// the symbols it exports and imports with their signatures, the parameters it accepts, the names
/// it is also requested by, and its soft dependencies. This is what `modload modinfo` prints and
/// what `depmod` indexes. A load also checks that the mapped descriptor says the same.
public struct ModuleMetadata: Sendable, Equatable {
    /// The ABI version the module was built for.
    public let abiVersion: UInt32
    /// The module's name as the file spells it.
    public let name: String
    /// Free-form version.
    public let version: String
    /// One line saying what it does.
    public let description: String
    /// Its license.
    public let license: String
    /// How callers account for their use of it.
    public let accounting: ModuleAccounting
    /// Exported symbols: name and signature.
    public let exports: [Symbol]
    /// Imported symbols: name and expected signature.
    public let imports: [Symbol]
    /// Parameters, with their defaults and descriptions.
    public let parameters: [ModuleParameter]
    /// Other names it is requested by: glob patterns (`pci:v00008086d*`), as kmod matches them.
    public let aliases: [String]
    /// Modules to load before and after it.
    public let softDependencies: SoftDependencies
    /// Every line of the section, in file order, as `(key, value)` — keys this host does not
    /// know included (what `modinfo -F KEY` prints).
    public let fields: [Field]

    /// A symbol's name and C signature (`"u32(u32,ptr,usize)"`).
    public struct Symbol: Sendable, Equatable, Hashable, CustomStringConvertible {
        /// The symbol's name.
        public let name: String
        /// Its signature text.
        public let signature: SymbolSignature

        /// The symbol `name` with `signature`.
        public init(name: String, signature: SymbolSignature) {
            self.name = name
            self.signature = signature
        }

        public var description: String { "\(name) \(signature)" }
    }

    /// One `key=value` line of the metadata section.
    public struct Field: Sendable, Equatable {
        /// The key (`name`, `alias`, `export`, …).
        public let key: String
        /// The value, as written.
        public let value: String
    }

    /// The most entries of each kind a module may declare, and the longest string it may hold.
    static let maximumEntries = 4_096
    static let maximumStringLength = 4_096
    /// The largest metadata section read.
    static let maximumSectionSize = 1 << 20
    /// The section's name.
    static let sectionName = ".modload_info"

    /// The values of every line with `key`, in file order.
    public func values(of key: String) -> [String] { fields.filter { $0.key == key }.map(\.value) }
}

/// A module's soft dependencies (kmod's `softdep`): modules loaded before it (`pre`) and after it
/// (`post`) when it is requested, though it does not import from them.
public struct SoftDependencies: Sendable, Equatable, CustomStringConvertible {
    /// Loaded before the module.
    public var pre: [String]
    /// Loaded after the module.
    public var post: [String]

    /// No soft dependencies.
    public static let none = SoftDependencies(pre: [], post: [])

    /// Makes soft dependencies.
    public init(pre: [String], post: [String]) {
        self.pre = pre
        self.post = post
    }

    /// Parses kmod's syntax: `pre: a b post: c` (either part optional, in either order; a part may
    /// appear more than once). `nil` if a name comes before any `pre:` or `post:`, or a name is
    /// malformed.
    public init?(parsing text: String) {
        self.init(pre: [], post: [])
        var into: WritableKeyPath<SoftDependencies, [String]>?
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            switch token {
            case "pre:": into = \.pre
            case "post:": into = \.post
            default:
                guard let into, (try? ModuleName(validating: String(token))) != nil else { return nil }
                self[keyPath: into].append(String(token))
            }
        }
    }

    /// `true` if there are none.
    public var isEmpty: Bool { pre.isEmpty && post.isEmpty }

    /// kmod's syntax: `pre: a b post: c`.
    public var description: String {
        ((pre.isEmpty ? [] : ["pre:"] + pre) + (post.isEmpty ? [] : ["post:"] + post)).joined(separator: " ")
    }
}

extension ModuleMetadata {
    /// Parses a metadata section's bytes.
    ///
    /// - Throws: `abiMismatch` (another ABI version), `invalidFile` (any broken rule of the format),
    ///   each naming `file` and the line.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(ModuleError) -> ModuleMetadata {
        func invalid(_ reason: String) -> ModuleError {
            ModuleError(.invalidFile, file: file, reason: "metadata section: " + reason)
        }
        guard bytes.count <= maximumSectionSize else {
            throw invalid("\(bytes.count) bytes; the limit is \(maximumSectionSize)")
        }
        // One pass over the bytes: lines split at NUL and at their first `=` as bytes (`=` is no
        // UTF-8 continuation byte, so validating key and value apart validates the line), grouped
        // by key for the rules below.
        var fields: [Field] = []
        var byKey: [String: [String]] = [:]
        for line in bytes.split(separator: 0) {
            guard line.count <= maximumStringLength else { throw invalid("a line is longer than \(maximumStringLength) bytes") }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")), equals != line.startIndex else {
                throw invalid("line \(String(reflecting: String(decoding: line, as: UTF8.self))) is not key=value")
            }
            guard let key = String(validating: line[..<equals], as: UTF8.self),
                let value = String(validating: line[(equals + 1)...], as: UTF8.self)
            else { throw invalid("a line is not UTF-8") }
            fields.append(Field(key: key, value: value))
            byKey[key, default: []].append(value)
            guard fields.count <= maximumEntries * 8 else { throw invalid("more than \(maximumEntries * 8) lines; too many") }
        }
        func values(_ key: String) -> [String] { byKey[key] ?? [] }

        func once(_ key: String, required: Bool = true) throws(ModuleError) -> String? {
            let values = values(key)
            guard values.count <= 1 else { throw invalid("says \(key)= \(values.count) times") }
            guard let value = values.first else {
                if required { throw invalid("has no \(key)= line") }
                return nil
            }
            return value
        }
        let abiText = try once("abi")!
        guard let abi = UInt32(abiText) else { throw invalid("abi=\(abiText) is not a number") }
        guard abi == ModuleFileBytes.abiVersion else {
            throw ModuleError(
                .abiMismatch, file: file,
                reason: "its metadata says ABI version \(abi); this host speaks ABI \(ModuleFileBytes.abiVersion)")
        }
        let name = try once("name")!
        do {
            _ = try ModuleName(validating: name)
        } catch {
            throw invalid(error.reason)
        }
        let accounting: ModuleAccounting
        switch try once("accounting", required: false) ?? "counting" {
        case "counting": accounting = .counting
        case "noncounting": accounting = .noncounting
        case let other: throw invalid("accounting=\(other): neither counting nor noncounting")
        }

        func symbols(_ key: String) throws(ModuleError) -> [Symbol] {
            var result: [Symbol] = []
            var seen = Set<String>()
            for value in values(key) {
                let utf8 = value.utf8
                guard let space = utf8.firstIndex(of: UInt8(ascii: " ")), space != utf8.startIndex,
                    utf8.index(after: space) != utf8.endIndex, !utf8[utf8.index(after: space)...].contains(UInt8(ascii: " "))
                else { throw invalid("\(key)=\(value) is not \"SYMBOL SIGNATURE\"") }
                let name = String(value[..<space]), signature = String(value[utf8.index(after: space)...])
                guard seen.insert(name).inserted else { throw invalid("\(key)s \(name) twice") }
                result.append(Symbol(name: name, signature: SymbolSignature(signature)))
            }
            guard result.count <= maximumEntries else { throw invalid("\(result.count) \(key)s; the limit is \(maximumEntries)") }
            return result
        }

        // Parameters: parmtype declares one; parm and parmdefault describe a declared one.
        func split(_ key: String, _ value: String) throws(ModuleError) -> (String, String) {
            guard let colon = value.utf8.firstIndex(of: UInt8(ascii: ":")) else { throw invalid("\(key)=\(value) is not \"NAME:...\"") }
            return (String(value[..<colon]), String(value[value.utf8.index(after: colon)...]))
        }
        var kinds: [(name: String, kind: ModuleParameter.Kind)] = []
        for value in values("parmtype") {
            let (parameter, type) = try split("parmtype", value)
            guard ParameterParser.isParameterName(parameter) else {
                throw invalid("parameter name \(String(reflecting: parameter)) is not [A-Za-z0-9_-]+")
            }
            guard let kind = ModuleParameter.Kind(rawValue: type) else {
                throw invalid("parameter \(parameter) has unknown type \(String(reflecting: type)) (bool, int, string, list)")
            }
            guard !kinds.contains(where: { ParameterParser.canonical($0.name) == ParameterParser.canonical(parameter) }) else {
                throw invalid("declares parameter \(parameter) twice")
            }
            kinds.append((parameter, kind))
        }
        guard kinds.count <= maximumEntries else { throw invalid("\(kinds.count) parameters; the limit is \(maximumEntries)") }
        /// The `parm`/`parmdefault` lines, by the (declared) parameter they describe.
        func described(by key: String) throws(ModuleError) -> [String: String] {
            var result: [String: String] = [:]
            for value in values(key) {
                let (parameter, text) = try split(key, value)
                guard kinds.contains(where: { $0.name == parameter }) else {
                    throw invalid("\(key)=\(value) describes parameter \(parameter), which has no parmtype= line")
                }
                guard result.updateValue(text, forKey: parameter) == nil else { throw invalid("says \(key)= twice for \(parameter)") }
            }
            return result
        }
        let descriptions = try described(by: "parm"), defaults = try described(by: "parmdefault")
        var parameters: [ModuleParameter] = []
        for (parameter, kind) in kinds {
            var defaultValue: ParameterValue?
            if let text = defaults[parameter] {
                switch ParameterParser.convert(text, to: kind) {
                case .success(let value): defaultValue = value
                case .failure(let problem): throw invalid("parameter \(parameter)'s default \(String(reflecting: text)): \(problem)")
                }
            }
            parameters.append(ModuleParameter(parameter, kind, default: defaultValue, description: descriptions[parameter] ?? ""))
        }

        let aliases = values("alias")
        for alias in aliases where alias.isEmpty || alias.contains(where: { $0 == " " || $0 == "\t" }) {
            throw invalid("alias=\(alias): an alias is a pattern without blanks")
        }
        guard aliases.count <= maximumEntries else { throw invalid("\(aliases.count) aliases; the limit is \(maximumEntries)") }
        var softDependencies = SoftDependencies.none
        if let text = try once("softdep", required: false) {
            guard let parsed = SoftDependencies(parsing: text) else {
                throw invalid("softdep=\(text) is not \"pre: NAME... post: NAME...\"")
            }
            softDependencies = parsed
        }
        return ModuleMetadata(
            abiVersion: abi, name: name, version: try once("version")!, description: try once("description")!,
            license: try once("license")!, accounting: accounting, exports: try symbols("export"),
            imports: try symbols("import"), parameters: parameters, aliases: aliases,
            softDependencies: softDependencies, fields: fields)
    }

    /// The section lines that say `metadata` (what `modload seal` writes), in the order a
    /// reader expects them.
    static func lines(
        name: String, version: String, description: String, license: String, accounting: ModuleAccounting,
        exports: [Symbol], imports: [Symbol], parameters: [ModuleParameter], aliases: [String],
        softDependencies: SoftDependencies
    ) -> [String] {
        var lines = [
            "abi=\(ModuleFileBytes.abiVersion)", "name=\(name)", "version=\(version)", "description=\(description)",
            "license=\(license)", "accounting=\(accounting == .counting ? "counting" : "noncounting")",
        ]
        lines += exports.map { "export=\($0.name) \($0.signature)" }
        lines += imports.map { "import=\($0.name) \($0.signature)" }
        for parameter in parameters {
            lines.append("parmtype=\(parameter.name):\(parameter.kind.rawValue)")
            if !parameter.description.isEmpty { lines.append("parm=\(parameter.name):\(parameter.description)") }
            if let value = parameter.defaultValue { lines.append("parmdefault=\(parameter.name):\(value.sectionText)") }
        }
        lines += aliases.map { "alias=\($0)" }
        if !softDependencies.isEmpty { lines.append("softdep=\(softDependencies)") }
        return lines
    }
}

extension ParameterValue {
    /// The value as a parameter string writes it (what parses back to it).
    var sectionText: String {
        switch self {
        case .bool(let value): value ? "y" : "n"
        default: description
        }
    }
}
