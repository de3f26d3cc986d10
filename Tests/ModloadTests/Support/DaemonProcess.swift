import Foundation
import ModloadControl
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `modload daemon` in a process of its own, on a socket in a temporary folder, as a user
/// starts one: its log in a file (never a pipe that could fill), ready once its socket answers.
final class DaemonProcess: @unchecked Sendable {  // the process handle is used from one test at a time
    let folder: String
    let socket: String
    let logFile: String
    private let process = Process()
    private let exited = ExitLatch()

    /// Starts `modload daemon --socket … -b root --log-level info extra…` (on `path`, or a socket in
    /// a folder of its own) and waits until its
    /// socket answers GetInfo (at most 60 s; a daemon that exits first fails with its log).
    init(root: String, socket path: String? = nil, _ extra: [String] = []) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-daemon-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        socket = path ?? "\(folder)/io.modload.Host"
        logFile = "\(folder)/daemon.log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        defer { try? log.close() }
        process.executableURL = URL(fileURLWithPath: Programs.built("modload"))
        process.arguments = ["daemon", "--socket", socket, "-b", root, "--log-level", "info", "-C", "\(root)/modprobe.d", "--modules-load", "\(root)/modules-load.d"] + extra
        process.standardOutput = log
        process.standardError = log
        let latch = exited
        process.terminationHandler = { latch.open($0.terminationStatus) }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if latch.status != nil { throw DaemonFailed(log: self.log, reason: "the daemon exited before its socket answered") }
            if let client = try? ControlConnection(socketPath: socket, timeout: .seconds(10)),
                (try? client.call("org.varlink.service.GetInfo", HostInterface.NoParameters(), returning: ServiceInterface.Info.self)) != nil
            {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw DaemonFailed(log: self.log, reason: "the daemon's socket did not answer within 60 s")
    }

    deinit {
        if exited.status == nil { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The daemon's process id.
    var pid: Int32 { process.processIdentifier }

    /// Its log so far.
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// A client with a bound on every call (a lost answer fails the call, never hangs the test).
    func client(timeout: Duration = .seconds(60)) throws -> HostClient {
        try HostClient(socketPath: socket, timeout: timeout)
    }

    /// `modload VERB --socket SOCKET args…` as a user runs it.
    func verb(_ verb: String, _ arguments: [String] = []) async throws -> Programs.Run {
        try await Programs.run(Programs.built("modload"), [verb, "--socket", socket] + arguments)
    }

    /// Sends `signal` and waits (at most 60 s) for the daemon to exit; returns its status. A
    /// sanitizer's report in the daemon's log (CI runs the suites under TSan and ASan, and the
    /// daemon is built with them) fails the test.
    func stop(_ signal: Int32 = SIGTERM, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int32 {
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let status = exited.status {
                for report in ["ThreadSanitizer", "AddressSanitizer"] where log.contains(report) {
                    Issue.record("the daemon's log has a \(report) report:\n\(log)", sourceLocation: sourceLocation)
                }
                return status
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGKILL)
        throw DaemonFailed(log: log, reason: "the daemon did not exit within 60 s of signal \(signal)")
    }

    /// Whether it is still running.
    var isRunning: Bool { exited.status == nil && kill(process.processIdentifier, 0) == 0 }
}

/// The daemon did not start or stop as it should; the message carries its log.
struct DaemonFailed: Error, CustomStringConvertible {
    let log: String
    let reason: String
    var description: String { "\(reason); its log:\n\(log)" }
}

/// Set once, when the process exits.
private final class ExitLatch: Sendable {
    private let value = Mutex<Int32?>(nil)
    var status: Int32? { value.withLock { $0 } }
    func open(_ status: Int32) { value.withLock { $0 = status } }
}
