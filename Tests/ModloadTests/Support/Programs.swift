import Foundation

/// Running a program this package built, as a user runs it: in a process of its own, output
/// captured in files (so a chatty program can never fill a pipe and hang the test).
enum Programs {
    /// What one run did.
    struct Run {
        let status: Int32
        /// `true` if the program ended by a signal (a crash, or a trap on an uncaught error).
        let crashed: Bool
        let standardOutput: String
        let standardError: String
    }

    /// The executable `name` SwiftPM built beside this test bundle.
    static func built(_ name: String) -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        return bundle.appendingPathComponent(name).path
    }

    /// Runs `executable arguments…` in `directory` (default: this process's) and waits for it
    /// without blocking a pool thread.
    static func run(_ executable: String, _ arguments: [String], in directory: String? = nil) async throws -> Run {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("modload-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outputURL = scratch.appendingPathComponent("stdout")
        let errorURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        let error = try FileHandle(forWritingTo: errorURL)
        defer {
            try? output.close()
            try? error.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = output
        process.standardError = error
        let (status, reason): (Int32, Process.TerminationReason) = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: ($0.terminationStatus, $0.terminationReason)) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return Run(
            status: status, crashed: reason == .uncaughtSignal,
            standardOutput: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
    }
}
