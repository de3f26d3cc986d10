import ArgumentParser
import Foundation
import Logging
import Modload
import ModloadRepository

@main
struct ModloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modload",
        abstract: "Load, link, reference-count and unload modules concurrently and safely.",
        version: "modload \(modloadVersion) (module ABI \(ModuleFileInfo.abiVersion))",
        subcommands: [
            BootCommand.self, DaemonCommand.self, InsmodCommand.self, RmmodCommand.self, LsmodCommand.self, ModprobeCommand.self,
            ReplaceCommand.self, RefreshCommand.self, MonitorCommand.self, HoldersCommand.self, StatsCommand.self, ModinfoCommand.self, DepmodCommand.self, SealCommand.self,
            KeygenCommand.self, SignCommand.self, BenchCommand.self,
        ]
    )

    /// Parses, runs, and reports failures as kmod's tools do: a runtime failure is one line on
    /// standard error — what failed, on which module or file, why — and exit status 1 (a JSON
    /// object on standard error under `--json`); a usage error is the parser's message and status
    /// 64.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            do {
                if var command = command as? AsyncParsableCommand {
                    try await command.run()
                } else {
                    try command.run()
                }
            } catch let error as ModuleError {
                report(error, json: (command as? ReportsJSON)?.json ?? false)
                Foundation.exit(1)
            } catch let error as RepositoryError {
                report(error, json: (command as? ReportsJSON)?.json ?? false)
                Foundation.exit(1)
            } catch let error as RuntimeFailure {
                report(ModuleError(.invalidArgument, file: error.file, reason: error.reason), json: (command as? ReportsJSON)?.json ?? false)
                Foundation.exit(1)
            }
        } catch {
            if let scenarios = BenchCommand.unknownScenario(in: arguments) {
                FileHandle.standardError.write(Data("modload bench: \(scenarios)\n".utf8))
                Foundation.exit(64)
            }
            exit(withError: error)
        }
    }

    /// One line, or one JSON object (`{"error": {code, errno, module, file, reason}}`), on
    /// standard error.
    static func report(_ error: ModuleError, json: Bool) {
        report(ErrorReport(code: error.code.name, errno: error.errno, module: error.module, file: error.file, reason: "\(error)"), json: json)
    }

    /// The same for a failure of the repository layer (a root, an index, a cycle).
    static func report(_ error: RepositoryError, json: Bool) {
        let errno = switch error.code {
        case .notFound: ENOENT
        case .io: EIO
        case .invalid, .cycle: EINVAL
        }
        report(ErrorReport(code: error.code.rawValue, errno: errno, module: nil, file: error.file, reason: "\(error)"), json: json)
    }

    private static func report(_ body: ErrorReport, json: Bool) {
        let text = json ? (try? jsonLine(["error": body])) ?? "{\"error\":{}}" : "modload: \(body.reason)"
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Every key always present (`null` when unknown), so a script can rely on the shape.
    private struct ErrorReport: Encodable {
        let code: String
        let errno: Int32
        let module: String?
        let file: String?
        let reason: String

        private enum CodingKeys: String, CodingKey { case code, errno, module, file, reason }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(errno, forKey: .errno)
            try container.encode(module, forKey: .module)
            try container.encode(file, forKey: .file)
            try container.encode(reason, forKey: .reason)
        }
    }
}

/// This build of the command.
let modloadVersion = "0.12.0"

/// A command with a `--json` flag: its failures are JSON too.
protocol ReportsJSON {
    var json: Bool { get }
}

/// A failure of the command's own work (a file it cannot write), reported like a ModuleError.
struct RuntimeFailure: Error {
    let file: String?
    let reason: String
}

/// Options every verb shares.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log lifecycle detail to standard error.")
    var verbose = false

    /// Sends logs to standard error (standard output stays clean for `--json`), and returns the
    /// logger to give a host (the library's default logger is silent).
    @discardableResult
    func bootstrapLogging() -> Logger {
        let level: Logger.Level = verbose ? .debug : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "modload")
    }
}

/// Encodes `value` as one line of sorted-key JSON: what every verb's `--json` prints.
func jsonLine(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
