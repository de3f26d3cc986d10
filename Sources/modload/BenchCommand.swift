import ArgumentParser
import Foundation
import ModloadBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Modload against baselines and the machine's physical limits (release build).",
        subcommands: [QuiescenceCommand.self]
    )
}

/// Options every benchmark shares.
struct BenchOptions: ParsableArguments {
    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(help: "Fewer repetitions: a smoke run in seconds.")
    var quick = false

    @Option(help: "The C limits script, run in the same process for reference figures ('none' to skip).")
    var limits = "../shared/limits/run"

    var limitsScript: String? { limits == "none" ? nil : limits }
}

struct QuiescenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quiescence",
        abstract: "Read sections, grace periods, and lookups in the lock-free table vs mutex and rwlock tables."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        let report = await QuiescenceBench.run(.init(quick: options.quick, limitsScript: options.limitsScript))
        if options.json {
            print(try jsonLine(report))
        } else {
            print(QuiescenceBench.render(report))
        }
    }
}
