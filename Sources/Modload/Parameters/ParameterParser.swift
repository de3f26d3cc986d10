/// Parses a module's parameter string with the kernel's rules (`kernel/params.c`, docs/design.md §8):
///
/// - blank-separated `name[=value]` (blanks as C's `isspace`); double quotes group blanks
///   (`name="a b"`, `"name=a b"`);
/// - `-` and `_` are the same in names;
/// - a bare `--` ends parsing (what follows is ignored, with a warning);
/// - a missing value is an error, except for bools (a bare name means true);
/// - integers as `kstrtoint` with base 0 (`0x` hexadecimal, a leading `0` octal), bools as
///   `kstrtobool` (by first letter: `y`/`t`/`e`/`1` true, `n`/`f`/`d`/`0` false, `on`/`off`);
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
        if text.isEmpty && specification.isEmpty {
            return Result(parameters: .none, errors: [], warnings: [])
        }
        var errors = problems(in: specification)
        var warnings: [String] = []
        var byName: [String: ModuleParameter] = [:]
        for parameter in specification { byName[canonical(parameter.name)] = parameter }
        var values: [String: ParameterValue] = [:]
        for parameter in specification where parameter.defaultValue?.kind == parameter.kind {
            values[canonical(parameter.name)] = parameter.defaultValue
        }
        let (arguments, ignored) = tokens(text)
        for (name, value) in arguments {
            let key = canonical(name)
            guard let parameter = byName[key] else {
                warnings.append("unknown parameter '\(name)' (ignored)")
                continue
            }
            switch convert(value, to: parameter.kind) {
            case .success(let converted): values[key] = converted
            case .failure(let problem): errors.append("parameter '\(name)': \(problem)")
            }
        }
        if let ignored { warnings.append("parameters '\(ignored)' after '--' (ignored)") }
        return Result(parameters: ModuleParameters(values: values), errors: errors, warnings: warnings)
    }

    /// What is wrong with a module's declared parameters (the module's own mistake, reported as
    /// a bad parameter so the load fails cleanly): a name that is not `[A-Za-z0-9_-]+`, a name
    /// declared twice, a default of another kind.
    static func problems(in specification: [ModuleParameter]) -> [String] {
        var problems: [String] = []
        var seen = Set<String>()
        for parameter in specification {
            let name = parameter.name
            if !isParameterName(name) {
                problems.append("declared parameter \(String(reflecting: name)) is not a name ([A-Za-z0-9_-]+)")
            } else if !seen.insert(canonical(name)).inserted {
                problems.append("parameter '\(name)' is declared twice")
            }
            if let value = parameter.defaultValue, value.kind != parameter.kind {
                problems.append(
                    "parameter '\(name)' is declared \(parameter.kind.rawValue) with a \(value.kind.rawValue) default")
            }
        }
        return problems
    }

    /// `[A-Za-z0-9_-]+`.
    static func isParameterName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0)
                    || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0)
            }
    }

    /// `-` written as `_`.
    static func canonical(_ name: String) -> String {
        // (bytes: with Foundation in the module, `contains("-")` would be NSString's search)
        name.utf8.contains(UInt8(ascii: "-")) ? String(name.map { $0 == "-" ? "_" : $0 }) : name
    }

    /// Splits into `(name, value?)` pairs as the kernel's `next_arg` does, byte by byte; also
    /// returns what followed a `--`, if anything did.
    static func tokens(_ text: String) -> (arguments: [(name: String, value: String?)], ignored: String?) {
        let bytes = Array(text.utf8)
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0d).contains(byte) }  // isspace
        func string(_ slice: ArraySlice<UInt8>) -> String { String(decoding: slice, as: UTF8.self) }
        var result: [(String, String?)] = []
        var index = 0
        while true {
            while index < bytes.count && isBlank(bytes[index]) { index += 1 }
            guard index < bytes.count else { return (result, nil) }
            // One argument: up to the first blank outside double quotes; `=` splits at its first.
            var start = index
            var inQuote = false
            var equals: Int?
            while index < bytes.count && (inQuote || !isBlank(bytes[index])) {
                if bytes[index] == UInt8(ascii: "\"") { inQuote.toggle() }
                if equals == nil && bytes[index] == UInt8(ascii: "=") { equals = index }
                index += 1
            }
            var end = index
            // A quote around the whole argument ("name=a b") is dropped like one around a value.
            if bytes[start] == UInt8(ascii: "\"") {
                start += 1
                if end > start && bytes[end - 1] == UInt8(ascii: "\"") { end -= 1 }
                if let at = equals, at < start { equals = nil }
                if let at = equals, at >= end { equals = nil }
            }
            guard let equals else {
                let name = string(bytes[start..<end])
                if name == "--" {
                    let rest = string(bytes[index...]).trimmingBlanks()
                    return (result, rest.isEmpty ? nil : rest)
                }
                result.append((name, nil))
                continue
            }
            var valueStart = equals + 1
            var valueEnd = end
            if valueStart < valueEnd && bytes[valueStart] == UInt8(ascii: "\"") {
                valueStart += 1
                if valueEnd > valueStart && bytes[valueEnd - 1] == UInt8(ascii: "\"") { valueEnd -= 1 }
            }
            result.append((string(bytes[start..<equals]), string(bytes[valueStart..<valueEnd])))
        }
    }

    static func convert(_ value: String?, to kind: ModuleParameter.Kind) -> Swift.Result<ParameterValue, Problem> {
        guard let value else {
            return kind == .bool ? .success(.bool(true)) : .failure(Problem("needs a value (\(kind.rawValue))"))
        }
        switch kind {
        case .bool:
            // kstrtobool: the first letter decides; "on"/"off" by the second.
            let letters = Array(value.lowercased().utf8)
            switch letters.first {
            case UInt8(ascii: "y"), UInt8(ascii: "t"), UInt8(ascii: "e"), UInt8(ascii: "1"): return .success(.bool(true))
            case UInt8(ascii: "n"), UInt8(ascii: "f"), UInt8(ascii: "d"), UInt8(ascii: "0"): return .success(.bool(false))
            case UInt8(ascii: "o") where letters.count > 1 && letters[1] == UInt8(ascii: "n"): return .success(.bool(true))
            case UInt8(ascii: "o") where letters.count > 1 && letters[1] == UInt8(ascii: "f"): return .success(.bool(false))
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

    /// `kstrtoint` with base 0: an optional sign, then `0x` hexadecimal, a leading `0` octal, or
    /// decimal; nothing else (no second sign, no blanks).
    private static func integer(_ text: String) -> Int? {
        var digits = Substring(text)
        var sign = ""
        if digits.first == "-" || digits.first == "+" {
            if digits.first == "-" { sign = "-" }
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.count > 1 && digits.first == "0" {
            radix = 8
            digits = digits.dropFirst()
        }
        guard let first = digits.first, first != "-" && first != "+" else { return nil }
        return Int(sign + digits, radix: radix)
    }

    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

extension String {
    /// Without leading and trailing blanks (`isspace`).
    fileprivate func trimmingBlanks() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0.isNewline || $0 == "\t" }
        var trimmed = Substring(self)
        while let first = trimmed.first, blank(first) { trimmed = trimmed.dropFirst() }
        while let last = trimmed.last, blank(last) { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}
