import ArgumentParser
import Foundation
import ModloadBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Modload against baselines and the machine's physical limits (release build).",
        subcommands: [
            BurstCommand.self, ParallelCommand.self, RefsCommand.self, LookupCommand.self, QuiescenceCommand.self,
            CycleCommand.self, FilesCommand.self, AllCommand.self,
        ]
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

    /// Runs the limits script (the quick set, or `full` for two-thread figures), if any.
    func measureLimits(full: Bool = false) -> Limits? {
        limitsScript.flatMap { Limits.measure(script: $0, full: full) }
    }

    /// Prints `report` as one JSON line or as its table.
    func emit<Report: Encodable>(_ report: Report, _ render: (Report) -> String) throws {
        print(json ? try jsonLine(report) : render(report))
    }
}

struct QuiescenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quiescence",
        abstract: "Read sections, grace periods, and lookups in the lock-free table vs mutex and rwlock tables."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        let report = await QuiescenceBench.run(.init(quick: options.quick), limits: options.measureLimits())
        try options.emit(report, QuiescenceBench.render)
    }
}

struct BurstCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burst",
        abstract: "Seed 002's boot burst: 288 + 576 failing requests at once, vs serialized and wait-then-busy loaders."
    )

    @Option(help: "CPUs (each requests A once and B twice).")
    var cpus = 288

    @Option(name: .customLong("init-ms"), help: "How long each (failing) init takes, in milliseconds.")
    var initMs = 2.0

    @Option(help: "Repetitions per loader (medians are reported).")
    var reps = 5

    @Option(help: "Also draw the comparison as an SVG picture into this file.")
    var svg: String?

    @Flag(help: "Measure Modload only (skip the thread-per-request baselines).")
    var noBaselines = false

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard cpus >= 1, cpus <= 4096 else { throw ValidationError("--cpus must be between 1 and 4096") }
        guard initMs >= 0, initMs <= 1000 else { throw ValidationError("--init-ms must be between 0 and 1000") }
        guard reps >= 1, reps <= 100 else { throw ValidationError("--reps must be between 1 and 100") }
    }

    func run() async throws {
        let limits = options.measureLimits()
        let report = await BurstBench.run(
            .init(
                cpus: cpus, initDelay: .microseconds(Int64(initMs * 1000)), repetitions: options.quick ? 1 : reps,
                baselines: !noBaselines),
            limits: limits)
        if let svg { try BurstBench.svg(report).write(toFile: svg, atomically: true, encoding: .utf8) }
        try options.emit(report, BurstBench.render)
    }
}

struct ParallelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parallel",
        abstract: "64 distinct modules loaded at once (sleeping and CPU-bound inits) vs a global-lock loader."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.emit(await ParallelBench.run(.init(repetitions: options.quick ? 1 : 5)), ParallelBench.render)
    }
}

struct RefsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refs",
        abstract: "Acquire + release of a module reference, 1 and 2 threads, vs C's get+put from the limits."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.emit(await RefsBench.run(quick: options.quick, limits: options.measureLimits(full: true)), RefsBench.render)
    }
}

struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Lookups by name over 1,000 and 10,000 modules, quiet and under churn, vs mutex and rwlock tables."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.emit(await LookupBench.run(quick: options.quick), LookupBench.render)
    }
}

struct CycleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cycle",
        abstract: "Load + unload of a trivial built-in module."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.emit(await CycleBench.run(quick: options.quick, limits: options.measureLimits()), CycleBench.render)
    }
}

struct FilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Load + unload of a module file (the C example, built for the run) vs a raw dlopen + dlclose of it."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.emit(try await FilesBench.run(quick: options.quick, limits: options.measureLimits()), FilesBench.render)
    }
}

struct AllCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Every scenario, with the C limits measured once in the same run, and one table of every target.",
        discussion: "The files scenario builds the C example module with cc, from Examples/ in the package this binary was built from."
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        try options.emit(try await AllBench.run(quick: options.quick, limitsScript: options.limitsScript), AllBench.render)
    }
}
