/// Parses a module's parameter string with the kernel's rules (`kernel/params.c`, DESIGN §8):
///
/// - space-separated `name[=value]`; double quotes group spaces (`name="a b"`, `"name=a b"`);
/// - `-` and `_` are the same in names;
/// - a bare `--` ends parsing (the rest is ignored);
/// - a missing value is an error, except for bools (a bare name means true);
/// - unknown names are warned about and ignored;
/// - parsing goes on after an error, and every error is reported — each naming its parameter.
public enum ParameterParser {
    /// What parsing produced.
    public struct Result: Sendable, Equatable {
        /// Every declared parameter's value: given, or its default.
        public var parameters: ModuleParameters
        /// One entry per malformed parameter, each naming it. Non-empty means: do not load.
        public var errors: [String]
        /// Unknown parameters (ignored), one entry each.
        public var warnings: [String]
    }

    /// Parses `text` against the declared `specification`.
    public static func parse(_ text: String, specification: [ModuleParameter]) -> Result {
        var byName: [String: ModuleParameter] = [:]
        for parameter in specification { byName[canonical(parameter.name)] = parameter }
        var values: [String: ParameterValue] = [:]
        for parameter in specification {
            if let value = parameter.defaultValue { values[canonical(parameter.name)] = value }
        }
        var errors: [String] = []
        var warnings: [String] = []
        for (name, value) in tokens(text) {
            let key = canonical(name)
            guard let parameter = byName[key] else {
                warnings.append("unknown parameter '\(name)' ignored")
                continue
            }
            switch convert(value, to: parameter.kind) {
            case .success(let converted): values[key] = converted
            case .failure(let problem): errors.append("parameter '\(name)': \(problem)")
            }
        }
        return Result(parameters: ModuleParameters(values: values), errors: errors, warnings: warnings)
    }

    /// `-` written as `_`.
    static func canonical(_ name: String) -> String {
        name.contains("-") ? String(name.map { $0 == "-" ? "_" : $0 }) : name
    }

    /// Splits into `(name, value?)` pairs, as the kernel's `next_arg` does.
    static func tokens(_ text: String) -> [(name: String, value: String?)] {
        var result: [(String, String?)] = []
        var rest = Substring(text)
        while true {
            rest = rest.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" })
            guard !rest.isEmpty else { break }
            // One argument: up to the first blank outside double quotes.
            var inQuote = false
            var end = rest.startIndex
            var equals: String.Index?
            while end < rest.endIndex {
                let character = rest[end]
                if character == "\"" { inQuote.toggle() }
                if !inQuote && (character == " " || character == "\t" || character == "\n") { break }
                if equals == nil && character == "=" { equals = end }
                end = rest.index(after: end)
            }
            var argument = rest[rest.startIndex..<end]
            rest = rest[end...]
            if argument == "--" { break }
            // A quote around the whole argument ("name=a b") is dropped like one around the value.
            if argument.first == "\"" {
                argument = argument.dropFirst()
                if argument.last == "\"" { argument = argument.dropLast() }
                equals = argument.firstIndex(of: "=")
            }
            guard let equals else {
                result.append((String(argument), nil))
                continue
            }
            let name = String(argument[argument.startIndex..<equals])
            var value = argument[argument.index(after: equals)...]
            if value.first == "\"" {
                value = value.dropFirst()
                if value.last == "\"" { value = value.dropLast() }
            }
            result.append((name, String(value)))
        }
        return result
    }

    private static func convert(_ value: String?, to kind: ModuleParameter.Kind) -> Swift.Result<ParameterValue, Problem> {
        guard let value else {
            return kind == .bool ? .success(.bool(true)) : .failure(Problem("needs a value (\(kind.rawValue))"))
        }
        switch kind {
        case .bool:
            switch value.lowercased() {
            case "y", "yes", "1", "on", "true": return .success(.bool(true))
            case "n", "no", "0", "off", "false": return .success(.bool(false))
            default: return .failure(Problem("'\(value)' is not a bool (y/n, 1/0, on/off, true/false)"))
            }
        case .int:
            guard let number = integer(value) else { return .failure(Problem("'\(value)' is not an integer")) }
            return .success(.int(number))
        case .string:
            return .success(.string(value))
        case .list:
            return .success(.list(value.isEmpty ? [] : value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        }
    }

    private static func integer(_ text: String) -> Int? {
        var digits = Substring(text)
        var negative = false
        if digits.first == "-" || digits.first == "+" {
            negative = digits.first == "-"
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.hasPrefix("0o") {
            radix = 8
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty, let magnitude = Int(digits, radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
