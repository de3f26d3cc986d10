import ArgumentParser
import Foundation
import ModloadControl

/// What every client verb shares: which daemon, and JSON output.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's control socket (default: $\(ControlSocket.environmentVariable), else \(ControlSocket.systemPath) as root, else $XDG_RUNTIME_DIR/modload/\(HostInterface.name)).", valueName: "path"))
    var socket: String?

    @Flag(help: "Print JSON (one object; monitor: one per line; failures: an error object on standard error).")
    var json = false

    /// The socket by the shared rule (``ControlSocket``).
    var socketPath: String { ControlSocket.path(explicit: socket, environment: ProcessInfo.processInfo.environment) }

    /// A client of the daemon, or the failure reported as `tool` reports it (one line: the socket
    /// and how to start a daemon) and exit 1.
    func connect(tool: String) -> HostClient {
        switch Result(catching: { () throws(ControlError) in try HostClient(socketPath: socketPath) }) {
        case .success(let client): return client
        case .failure(let error): fail(tool, error.reason, error)
        }
    }

    /// Reports a failure as kmod's tools do (`tool: ERROR: message`) or as a JSON error object,
    /// and exits 1.
    func fail(_ tool: String, _ message: String, _ error: ControlError? = nil) -> Never {
        report(tool, message, error)
        Foundation.exit(1)
    }

    /// The report of ``fail(_:_:_:)`` without the exit (for a verb that goes on to its next name).
    func report(_ tool: String, _ message: String, _ error: ControlError? = nil) {
        if json {
            let host = error?.hostError
            let body = ClientErrorReport(
                code: host?.code ?? error?.code.rawValue ?? "failed", errno: host?.errno, module: host?.module, file: host?.file,
                state: host?.state, holders: host?.holders, socket: error?.socketPath, reason: message)
            FileHandle.standardError.write(Data(((try? jsonLine(["error": body])) ?? "{\"error\":{}}").utf8 + [10]))
        } else {
            FileHandle.standardError.write(Data("\(tool): ERROR: \(message)\n".utf8))
        }
    }

    /// Prints `value` as one JSON line.
    func printJSON(_ value: some Encodable) {
        print((try? jsonLine(value)) ?? "{}")
    }
}

/// A client verb's failure in JSON.
private struct ClientErrorReport: Encodable {
    let code: String
    let errno: Int?
    let module: String?
    let file: String?
    let state: String?
    let holders: HostInterface.HolderReport?
    let socket: String?
    let reason: String
}
