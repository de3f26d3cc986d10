// modload-varlink-embed DEFINITION OUTPUT: writes OUTPUT, a Swift file declaring
// `HostInterface.definition`, the text of DEFINITION byte for byte (the build plugin
// VarlinkInterfacePlugin runs it).
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: modload-varlink-embed DEFINITION OUTPUT\n".utf8))
    exit(64)
}
guard let data = FileManager.default.contents(atPath: arguments[1]), let text = String(data: data, encoding: .utf8) else {
    FileHandle.standardError.write(Data("modload-varlink-embed: cannot read \(arguments[1]) as UTF-8\n".utf8))
    exit(1)
}
// Each byte outside printable ASCII (and the quote and backslash) as a \u{…} escape, so the
// literal is exact whatever the file holds.
var literal = ""
for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": literal += "\\\""
    case "\\": literal += "\\\\"
    case " "..."~": literal.unicodeScalars.append(scalar)
    default: literal += "\\u{\(String(scalar.value, radix: 16))}"
    }
}
let source = """
    // Generated from \(URL(fileURLWithPath: arguments[1]).lastPathComponent) by modload-varlink-embed; do not edit.
    extension HostInterface {
        /// The interface definition, exactly as `Interface/io.modload.Host.varlink` holds it.
        public static let definition = "\(literal)"
    }

    """
do {
    try Data(source.utf8).write(to: URL(fileURLWithPath: arguments[2]))
} catch {
    FileHandle.standardError.write(Data("modload-varlink-embed: cannot write \(arguments[2])\n".utf8))
    exit(1)
}
