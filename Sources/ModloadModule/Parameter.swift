import CModloadABI

/// A parameter a Swift module file accepts at load time; read it through ``Host/parameter(_:)``.
public struct Parameter: Sendable {
    /// Parameter types (`enum modload_param_type`).
    public enum Kind: UInt32, Sendable {
        /// `y`/`n`, `1`/`0`, `on`/`off`, `true`/`false` (read back as `"Y"`/`"N"`).
        case bool = 0
        /// Decimal, `0x` hexadecimal or `0o` octal, optionally negative.
        case int = 1
        /// Any text.
        case string = 2
        /// Comma-separated items.
        case list = 3
    }

    /// The parameter's name.
    public let name: String
    /// Its type.
    public let type: Kind
    /// What it does.
    public let description: String
    /// Its default, as it would be written after `=`; `nil` for none.
    public let defaultValue: String?

    /// A bool parameter.
    public static func bool(_ name: String, default value: Bool? = nil, description: String = "") -> Parameter {
        Parameter(name: name, type: .bool, description: description, defaultValue: value.map { $0 ? "y" : "n" })
    }

    /// An int parameter.
    public static func int(_ name: String, default value: Int? = nil, description: String = "") -> Parameter {
        Parameter(name: name, type: .int, description: description, defaultValue: value.map(String.init))
    }

    /// A string parameter.
    public static func string(_ name: String, default value: String? = nil, description: String = "") -> Parameter {
        Parameter(name: name, type: .string, description: description, defaultValue: value)
    }

    /// A list parameter.
    public static func list(_ name: String, default value: [String]? = nil, description: String = "") -> Parameter {
        Parameter(name: name, type: .list, description: description, defaultValue: value.map { $0.joined(separator: ",") })
    }
}
