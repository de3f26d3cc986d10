import Foundation
import Testing
import ModloadExampleBuilder
@testable import Modload

/// A private folder for one test's module files: copies of the built examples (so no two tests
/// load the same file, and a test can change its copies), removed when the test is done with it.
final class ModuleFolder: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "modload-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A copy of a built example, named `name` (default `lib<example>.so`).
    func copy(_ example: ExampleBuilder.Example, as name: String? = nil, defines: [String] = []) async throws -> String {
        let destination = "\(path)/\(name ?? "lib\(example.rawValue).so")"
        try await ExampleBuilder.shared.copy(example, to: destination, defines: defines)
        return destination
    }

    /// Writes `bytes` as a file in the folder.
    func write(_ bytes: [UInt8], as name: String) throws -> String {
        let destination = "\(path)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: destination))
        return destination
    }

    /// The bytes of a file.
    static func bytes(of path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A `/proc` file's text (their size reads as 0, so they are read until the end).
func procFile(_ path: String) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? handle.close() }
    return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
}

/// What `/proc/self/maps` says about a module file: the lines mapping the private copy a host
/// made of it (`/memfd:modload:PATH`).
func mappings(of path: String) -> [String] {
    procFile("/proc/self/maps").split(separator: "\n").filter { $0.contains("/memfd:modload:\(path) ") }.map(String.init)
}

typealias Crc32c = @convention(c) (UInt32, UnsafeRawPointer?, UInt) -> UInt32
typealias Counter32 = @convention(c) () -> UInt32
typealias Counter64 = @convention(c) () -> UInt64

extension Data {
    /// Appends to the file at `path`, creating it (for debugging logs).
    func append(to path: String) throws {
        if let handle = FileHandle(forWritingAtPath: path) {
            defer { try? handle.close() }
            handle.seekToEndOfFile()
            handle.write(self)
        } else {
            try write(to: URL(fileURLWithPath: path))
        }
    }
}
