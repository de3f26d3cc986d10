import ArgumentParser
import Foundation
import Logging

@main
struct ModloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modload",
        abstract: "Load, link, reference-count and unload modules concurrently and safely.",
        subcommands: [BootCommand.self, ModinfoCommand.self, SealCommand.self, KeygenCommand.self, SignCommand.self, BenchCommand.self]
    )
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
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
