/// A parameter a module declares (the kernel's `module_param`): a name, a type, a default and a
/// description. Values are given at load time as a string (`"debug=1 mode=fast"`), parsed with the
/// kernel's rules (``ParameterParser``), and read by the module through ``ModuleContext/parameters``.
public struct ModuleParameter: Sendable, Equatable {
    /// What kind of value the parameter takes.
    public enum Kind: String, Sendable, Equatable {
        /// `y`/`n`, `1`/`0`, `on`/`off`, `true`/`false`; a bare name means true.
        case bool
        /// A decimal, `0x` hexadecimal or `0` (leading zero) octal integer, optionally negative, as
        /// the kernel's `kstrtoint`.
        case int
        /// Any text (double quotes group spaces).
        case string
        /// Comma-separated text items.
        case list
    }

    /// The parameter's name (`-` and `_` are the same when matching).
    public let name: String
    /// Its kind.
    public let kind: Kind
    /// Its value when none is given.
    public let defaultValue: ParameterValue?
    /// What it does, for `modinfo`-style listings.
    public let description: String

    /// Declares a parameter. `defaultValue` must be of the parameter's kind, and the name
    /// `[A-Za-z0-9_-]+`: a load of a module that breaks either rule fails `invalidArgument`
    /// naming the parameter.
    public init(_ name: String, _ kind: Kind, default defaultValue: ParameterValue? = nil, description: String = "") {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.description = description
    }
}

/// A parameter's value.
public enum ParameterValue: Sendable, Equatable, CustomStringConvertible {
    case bool(Bool)
    case int(Int)
    case string(String)
    case list([String])

    /// The kind of this value.
    public var kind: ModuleParameter.Kind {
        switch self {
        case .bool: .bool
        case .int: .int
        case .string: .string
        case .list: .list
        }
    }

    public var description: String {
        switch self {
        case .bool(let value): value ? "Y" : "N"
        case .int(let value): String(value)
        case .string(let value): value
        case .list(let items): items.joined(separator: ",")
        }
    }
}

/// The parameter values of one load: given ones, and defaults for the rest.
public struct ModuleParameters: Sendable, Equatable {
    /// Values by canonical parameter name (`-` written `_`).
    public let values: [String: ParameterValue]

    static let none = ModuleParameters(values: [:])

    /// The values as one line, sorted by name: `delay_ms=0 fail=N stamp=` (what the daemon's List
    /// and Info show). Made once, with the values: listings read it for every module.
    public let text: String

    init(values: [String: ParameterValue]) {
        self.values = values
        var text = ""
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            if !text.isEmpty { text.append(" ") }
            text.append(name)
            text.append("=")
            text.append(value.description)
        }
        self.text = text
    }

    /// The value of `name`, if it has one.
    public subscript(_ name: String) -> ParameterValue? {
        values[ParameterParser.canonical(name)]
    }

    /// A bool parameter's value (`nil` if absent or of another kind).
    public func bool(_ name: String) -> Bool? {
        if case .bool(let value)? = self[name] { value } else { nil }
    }

    /// An int parameter's value.
    public func int(_ name: String) -> Int? {
        if case .int(let value)? = self[name] { value } else { nil }
    }

    /// A string parameter's value.
    public func string(_ name: String) -> String? {
        if case .string(let value)? = self[name] { value } else { nil }
    }

    /// A list parameter's items.
    public func list(_ name: String) -> [String]? {
        if case .list(let items)? = self[name] { items } else { nil }
    }
}
