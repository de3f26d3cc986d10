// modload-readme-extract README KIND OUTPUT: writes the Swift code blocks of README.md as one Swift
// file, for the README tour targets (built by the ReadmeTour plugin on every build, so the README
// cannot drift from the code).
//
// KIND `program`: every ```swift block that does not import ModloadModule, in order — the API
// tour, compiled as the top-level code of an executable (`main.swift`) and run by ReadmeTourTests.
// KIND `module`: the blocks that import ModloadModule (a module author's code), compiled as a
// library. A block fenced with more than the language (```swift Package.swift, a manifest
// fragment) is neither: it is not code a program can hold. Each block is preceded by a
// `#sourceLocation` naming its README line, so a compile error points at README.md, not at the
// generated file.
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 4, ["program", "module"].contains(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: modload-readme-extract README program|module OUTPUT\n".utf8))
    exit(64)
}
let (readme, kind, output) = (arguments[1], arguments[2], arguments[3])
guard let text = try? String(contentsOfFile: readme, encoding: .utf8) else {
    FileHandle.standardError.write(Data("modload-readme-extract: cannot read \(readme)\n".utf8))
    exit(1)
}

struct Block {
    let firstLine: Int
    let lines: [String]
    var isModuleAuthorCode: Bool { lines.contains { $0.hasPrefix("import ModloadModule") } }
}

var blocks: [Block] = []
var current: (start: Int, lines: [String])?
for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    if var block = current {
        if trimmed == "```" {
            blocks.append(Block(firstLine: block.start, lines: block.lines))
            current = nil
        } else {
            block.lines.append(String(line))
            current = block
        }
    } else if trimmed == "```swift" {
        current = (index + 2, [])
    }
}
if current != nil {
    FileHandle.standardError.write(Data("\(readme): a ```swift block is never closed\n".utf8))
    exit(1)
}

let chosen = blocks.filter { $0.isModuleAuthorCode == (kind == "module") }
guard !chosen.isEmpty else {
    FileHandle.standardError.write(Data("\(readme): no ```swift blocks of kind \(kind)\n".utf8))
    exit(1)
}
var source = "// Generated from README.md by modload-readme-extract; edit the README, not this file.\n"
for block in chosen {
    source += "#sourceLocation(file: \"\(readme)\", line: \(block.firstLine))\n"
    source += block.lines.joined(separator: "\n") + "\n"
}
source += "#sourceLocation()\n"
do {
    // Written only when changed, so an unrelated README edit does not relink the tour.
    if (try? String(contentsOfFile: output, encoding: .utf8)) != source {
        try source.write(toFile: output, atomically: true, encoding: .utf8)
    }
} catch {
    FileHandle.standardError.write(Data("modload-readme-extract: cannot write \(output)\n".utf8))
    exit(1)
}
