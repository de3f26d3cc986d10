#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Modload

/// Exit tests (`#expect(processExitsWith:)`) one at a time, with their output in files.
///
/// Why: the parent side of a Swift Testing exit test reads the child's back channel — and each
/// stream it observes — with a *blocking* read inside a task, for the child's whole life. Each
/// such read holds one of the concurrency pool's threads, and the pool has as many as there are
/// cores (2 on the CI machine). Two long exit tests at once held the whole pool: every other test
/// of the process stood still until one child exited — in an in-process run of the repository
/// stress test that showed as 20-second request-slot timeouts with every module's work ready to
/// run and no thread to run it (a `gdb` capture at the stall: both pool threads in `read(2)` under
/// `_IO_file_underflow`). So every exit test goes through ``oneAtATime(_:)`` (at most one pool
/// thread held by exit tests), and none observes its streams: a child that reports writes to
/// files (``redirectOutput(standardOutput:standardError:)``) the parent reads once it has exited.
/// A test's time limit counts its wait for the gate: the tests around an exit test allow for the
/// others before it (5 minutes and more).
enum ChildProcesses {
    private struct Gate {
        var busy = false
        var waiting: [Completion<Void>] = []
    }
    private static let gate = Locked(Gate())

    /// Runs `body` — one exit test — once no other exit test of this process is running.
    @discardableResult
    static func oneAtATime<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        let turn = gate.withLock { g -> Completion<Void>? in
            guard g.busy else {
                g.busy = true
                return nil
            }
            let turn = Completion<Void>()
            g.waiting.append(turn)
            return turn
        }
        if let turn { await turn.value() }
        defer {
            // Hand the turn to the next waiter, or free the gate.
            let next = gate.withLock { g -> Completion<Void>? in
                if g.waiting.isEmpty { g.busy = false }
                return g.waiting.isEmpty ? nil : g.waiting.removeFirst()
            }
            _ = next?.complete(())
        }
        return try await body()
    }

    /// Where a child's standard output and error go (files in a fresh folder), and what they
    /// held once it exited.
    struct Output: Sendable {
        let folder: String
        var standardOutputPath: String { folder + "/stdout" }
        var standardErrorPath: String { folder + "/stderr" }

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-child-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }

        var standardOutput: String { (try? String(contentsOfFile: standardOutputPath, encoding: .utf8)) ?? "" }
        var standardError: String { (try? String(contentsOfFile: standardErrorPath, encoding: .utf8)) ?? "" }

        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// In the child: sends standard output and error to the files at `standardOutput` and
    /// `standardError` (standard error stays unbuffered, so a crash leaves what was written).
    static func redirectOutput(standardOutput: String, standardError: String) {
        for (path, target) in [(standardOutput, STDOUT_FILENO), (standardError, STDERR_FILENO)] {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { continue }
            dup2(fd, target)
            close(fd)
        }
    }
}
