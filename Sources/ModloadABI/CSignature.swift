/// `modload.h`'s signature convention, derived from Swift C function types: `RET(ARG,...)` with
/// `void bool i8 i16 i32 i64 u8 u16 u32 u64 isize usize f32 f64 ptr`.
public enum CSignature {
    /// The signature of a `@convention(c)` function type, or `nil` if it is not one or a
    /// parameter or result has no C signature type.
    ///
    /// `(@convention(c) (UInt32, UnsafeRawPointer?, Int) -> UInt32).self` → `"u32(u32,ptr,isize)"`.
    public static func of<Function>(_ type: Function.Type) -> String? {
        let text = Substring(String(reflecting: type))
        let prefix = "@convention(c) ("
        guard text.hasPrefix(prefix) else { return nil }
        // The parameter list ends at the parenthesis that closes the one opening it.
        let open = text.index(text.startIndex, offsetBy: prefix.count)
        var depth = 1
        var close = open
        while close < text.endIndex {
            if text[close] == "(" { depth += 1 }
            if text[close] == ")" { depth -= 1; if depth == 0 { break } }
            close = text.index(after: close)
        }
        let arrow = " -> "
        guard close < text.endIndex, text[text.index(after: close)...].hasPrefix(arrow) else { return nil }
        var parts: [String] = []
        for argument in split(text[open..<close]) {
            guard let part = scalar(argument) else { return nil }
            parts.append(part)
        }
        guard let result = scalar(text[text.index(close, offsetBy: 1 + arrow.count)...]) else { return nil }
        return "\(result)(\(parts.joined(separator: ",")))"
    }

    /// The data signature (`data:TYPE`) a pointer type reads, for checking it against a data
    /// export's `declared` one: a raw pointer reads any data (`declared` itself); a pointer to a C
    /// scalar reads `data:` and that scalar (`UnsafePointer<UInt64>` → `data:u64`). `nil` if
    /// `type` is no pointer, or points at something that is no C scalar.
    public static func ofData<Pointer>(pointer type: Pointer.Type, declared: String) -> String? {
        var text = String(reflecting: type)
        if text.hasPrefix("Swift.Optional<") && text.hasSuffix(">") {
            text = String(text.dropFirst("Swift.Optional<".count).dropLast())
        }
        if text == "Swift.UnsafeRawPointer" || text == "Swift.UnsafeMutableRawPointer" || text == "Swift.OpaquePointer" {
            return declared
        }
        for prefix in ["Swift.UnsafePointer<", "Swift.UnsafeMutablePointer<"] where text.hasPrefix(prefix) && text.hasSuffix(">") {
            return scalar(text.dropFirst(prefix.count).dropLast()).map { "data:" + $0 }
        }
        return nil
    }

    /// Top-level comma-separated types (commas inside `<…>` belong to generic arguments).
    private static func split(_ list: Substring) -> [Substring] {
        guard !list.isEmpty else { return [] }
        var parts: [Substring] = []
        var depth = 0
        var start = list.startIndex
        for index in list.indices {
            switch list[index] {
            case "<": depth += 1
            case ">": depth -= 1
            case "," where depth == 0:
                parts.append(list[start..<index])
                start = list.index(after: index)
            default: break
            }
        }
        parts.append(list[start...])
        return parts.map { $0.drop { $0 == " " } }
    }

    private static let scalars: [String: String] = [
        "()": "void", "Swift.Void": "void", "Swift.Bool": "bool",
        "Swift.Int8": "i8", "Swift.Int16": "i16", "Swift.Int32": "i32", "Swift.Int64": "i64", "Swift.Int": "isize",
        "Swift.UInt8": "u8", "Swift.UInt16": "u16", "Swift.UInt32": "u32", "Swift.UInt64": "u64", "Swift.UInt": "usize",
        "Swift.Float": "f32", "Swift.Double": "f64",
    ]

    private static func scalar(_ type: Substring) -> String? {
        var type = String(type)
        if type.hasPrefix("Swift.Optional<") && type.hasSuffix(">") {
            type = String(type.dropFirst("Swift.Optional<".count).dropLast())
        }
        if let scalar = scalars[type] { return scalar }
        let pointers = ["Swift.UnsafePointer<", "Swift.UnsafeMutablePointer<", "Swift.UnsafeRawPointer", "Swift.UnsafeMutableRawPointer", "Swift.OpaquePointer"]
        return pointers.contains { type.hasPrefix($0) } ? "ptr" : nil
    }
}
