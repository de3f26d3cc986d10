import Foundation
import ModloadExampleBuilder

/// A module root built for a test: small C module files (``ExampleBuilder/fixtureSource``), each
/// compiled from source into the tree (what `depmod` and the repository read), in a temporary
/// folder removed with the value.
final class ModuleTree: Sendable {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("modload-tree-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Builds module `name` at `path` (relative; default `kernel/<name>.so`) and returns the
    /// absolute path.
    @discardableResult
    func module(
        _ name: String, at path: String? = nil, exports: [String] = [], imports: [String] = [], aliases: [String] = [],
        softdep: String? = nil
    ) async throws -> String {
        let identifier = name.replacingOccurrences(of: "-", with: "_")
        let source = ExampleBuilder.fixtureSource(name: name, exports: exports, imports: imports, aliases: aliases, softdep: softdep)
        let built = try await ExampleBuilder.shared.compile(cSource: source, named: "tree-\(UUID().uuidString)-\(identifier).so")
        let destination = "\(root)/\(path ?? "kernel/\(name).so")"
        try FileManager.default.createDirectory(
            atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.moveItem(atPath: built, toPath: destination)
        return destination
    }

    /// Writes `text` to `path` under the root (creating folders).
    func write(_ text: String, to path: String) throws {
        let destination = "\(root)/\(path)"
        try FileManager.default.createDirectory(
            atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: destination, atomically: true, encoding: .utf8)
    }
}
