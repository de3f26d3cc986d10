import ArgumentParser
import Foundation
import ModloadBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Modload against baselines and the machine's physical limits (release build).",
        subcommands: scenarios
    )

    static let scenarios: [any ParsableCommand.Type] = [
        BurstCommand.self, ParallelCommand.self, RefsCommand.self, LookupCommand.self, QuiescenceCommand.self,
        CycleCommand.self, ReplaceBenchCommand.self, FilesCommand.self, DepmodBenchCommand.self, ModprobeBenchCommand.self, ControlBenchCommand.self,
        LimitsCommand.self, AllCommand.self,
    ]

    /// For `modload bench NAME` with a NAME that is no scenario: the message listing them.
    static func unknownScenario(in arguments: [String]) -> String? {
        guard let at = arguments.firstIndex(of: "bench"), at + 1 < arguments.count else { return nil }
        let name = arguments[at + 1]
        let names = scenarios.map { $0.configuration.commandName ?? "" }
        guard !name.hasPrefix("-"), !names.contains(name) else { return nil }
        return "unknown scenario '\(name)'; the scenarios are \(names.joined(separator: ", "))"
    }
}

/// Options every benchmark shares.
struct BenchOptions: ParsableArguments {
    /// Says on standard error that figures from a debug build mean little.
    static func warnIfDebugBuild() {
        #if DEBUG
        FileHandle.standardError.write(
            Data("modload bench: this is a debug build, its figures are not Modload's; use `swift run -c release modload bench …`\n".utf8))
        #endif
    }

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(help: "Fewer repetitions: a smoke run in seconds.")
    var quick = false

    @Option(help: "The C limits to compare with: 'measure' them in this run, 'none', or a file saved from `modload bench limits --json`.")
    var limits = "measure"

    /// Every benchmark parses these options: the one place to say a debug build's figures mean little.
    func validate() throws { Self.warnIfDebugBuild() }

    /// The C limits, as `--limits` asks: measured now (the quick set, or `full` for two-thread
    /// figures; what cannot be measured is said on standard error), read from a file, or none.
    func measureLimits(full: Bool = false) throws -> Limits? {
        switch limits {
        case "none":
            return nil
        case "measure":
            let measured = Limits.measure(full: full)
            for (figure, reason) in measured.missing.sorted(by: { $0.key < $1.key }) {
                FileHandle.standardError.write(Data("modload bench: C limit \(figure) not measured: \(reason)\n".utf8))
            }
            return measured
        default:
            do {
                return try Limits.load(limits)
            } catch let error as Limits.LimitsFileError {
                throw RuntimeFailure(file: error.path, reason: error.reason)
            }
        }
    }

    /// Prints `report` as one JSON line or as its table.
    func emit<Report: Encodable>(_ report: Report, _ render: (Report) -> String) throws {
        print(json ? try jsonLine(report) : render(report))
    }

    /// Makes sure `path` can be written before a benchmark runs (its figures are not lost to a
    /// path that was never writable).
    static func checkWritable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw RuntimeFailure(file: path, reason: "is a directory, not a file to write")
        }
        let existed = FileManager.default.fileExists(atPath: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RuntimeFailure(file: path, reason: "cannot be written: \(String(cString: strerror(errno)))") }
        close(fd)
        if !existed { unlink(path) }
    }
}

struct QuiescenceCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "quiescence",
        abstract: "Read sections, grace periods, and lookups in the lock-free table vs mutex and rwlock tables."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        let report = await QuiescenceBench.run(.init(quick: options.quick), limits: try options.measureLimits())
        try options.emit(report, QuiescenceBench.render)
    }
}

struct BurstCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "burst",
        abstract: "The 288-CPU boot's burst: 288 + 576 failing requests at once, vs serialized and wait-then-busy loaders."
    )

    @Option(parsing: .unconditional, help: "CPUs (each requests A once and B twice).")
    var cpus = 288

    @Option(name: .customLong("init-ms"), parsing: .unconditional, help: "How long each (failing) init takes, in milliseconds.")
    var initMs = 2.0

    @Option(parsing: .unconditional, help: "Repetitions per loader (medians are reported).")
    var reps = 5

    @Option(help: "Also draw the comparison as an SVG picture into this file.")
    var svg: String?

    @Flag(help: "Measure Modload only (skip the thread-per-request baselines).")
    var noBaselines = false

    @Flag(help: "Also run the burst through a real peer: CPython's importlib (needs python3), 864 threads importing a module whose top level sleeps --init-ms and raises.")
    var peers = false

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func validate() throws {
        guard cpus >= 1, cpus <= 4096 else { throw ValidationError("--cpus must be between 1 and 4096 (got \(cpus))") }
        guard initMs >= 0, initMs <= 1000 else { throw ValidationError("--init-ms must be between 0 and 1000 (got \(initMs))") }
        guard reps >= 1, reps <= 100 else { throw ValidationError("--reps must be between 1 and 100 (got \(reps))") }
    }

    func run() async throws {
        if let svg { try BenchOptions.checkWritable(svg) }
        let limits = try options.measureLimits()
        let report = await BurstBench.run(
            .init(
                cpus: cpus, initDelay: .microseconds(Int64(initMs * 1000)), repetitions: options.quick ? 1 : reps,
                baselines: !noBaselines, peers: peers),
            limits: limits)
        try options.emit(report, BurstBench.render)
        if let svg {
            do {
                try BurstBench.svg(report).write(toFile: svg, atomically: true, encoding: .utf8)
            } catch {
                throw RuntimeFailure(file: svg, reason: "cannot be written: \((error as NSError).localizedFailureReason ?? "the write failed") (the report above stands)")
            }
        }
    }
}

struct ParallelCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "parallel",
        abstract: "64 distinct modules loaded at once (sleeping and CPU-bound inits) vs a global-lock loader."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(await ParallelBench.run(.init(repetitions: options.quick ? 1 : 5)), ParallelBench.render)
    }
}

struct RefsCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "refs",
        abstract: "Acquire + release of a module reference, 1 and 2 threads, vs C's get+put from the limits."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(await RefsBench.run(quick: options.quick, limits: try options.measureLimits(full: true)), RefsBench.render)
    }
}

struct LookupCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Lookups by name over 1,000 and 10,000 modules, quiet and under churn, vs mutex and rwlock tables."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(await LookupBench.run(quick: options.quick), LookupBench.render)
    }
}

struct ReplaceBenchCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "replace",
        abstract: "Live replace: switch latency, and the acquire latency and rate of 2 threads across replaces vs quiet."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(await ReplaceBench.run(quick: options.quick), ReplaceBench.render)
    }
}

struct CycleCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "cycle",
        abstract: "Load + unload of a trivial built-in module."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(await CycleBench.run(quick: options.quick, limits: try options.measureLimits()), CycleBench.render)
    }
}

struct FilesCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Load + unload of a module file (the C example, built for the run) vs a raw dlopen + dlclose of it."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(try await FilesBench.run(quick: options.quick, limits: try options.measureLimits()), FilesBench.render)
    }
}

struct DepmodBenchCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "depmod",
        abstract: "depmod over 1,000 and 10,000 generated module files vs reading their bytes."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(try await DepmodBench.run(quick: options.quick), DepmodBench.render)
    }
}

struct ModprobeBenchCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "modprobe",
        abstract: "A request for 8 independent branches of depth 8 (64 files, 5 ms inits) vs the critical path and a serial loop."
    )

    @Option(name: .customLong("init-ms"), parsing: .unconditional, help: "How long each init sleeps, in milliseconds (0: the files' own cost alone).")
    var initMs = 5

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func validate() throws {
        guard initMs >= 0, initMs <= 1000 else { throw ValidationError("--init-ms must be between 0 and 1000 (got \(initMs))") }
    }

    func run() async throws {
        try options.emit(try await ModprobeBench.run(quick: options.quick, initMs: initMs), ModprobeBench.render)
    }
}

struct ControlBenchCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "A real daemon on its socket: List of 100 modules vs a raw socket ping-pong, 500 clients loading one file, a soak.",
        discussion: "Starts this executable's `modload daemon` in a process of its own over a tree of 101 C fixture modules built with cc."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        // This very executable: the daemon benchmarked is the one being run.
        let modload = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        try options.emit(try await ControlBench.run(quick: options.quick, modload: modload), ControlBench.render)
    }
}

struct AllCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Every scenario, with the C limits measured once in the same run, and one table of every target.",
        discussion: "The files scenario builds the C example module with cc, from Examples/ in the package this binary was built from."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        try options.emit(try await AllBench.run(quick: options.quick, limits: try options.measureLimits(full: true)), AllBench.render)
    }
}

struct LimitsCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract: "The C limits alone: get+put, waking 864 threads, a dlopen cycle, liburcu (save with --json, reuse with --limits FILE)."
    )

    @OptionGroup var options: BenchOptions
    var json: Bool { options.json }

    func run() async throws {
        let measured = Limits.measure(full: true)
        for (figure, reason) in measured.missing.sorted(by: { $0.key < $1.key }) {
            FileHandle.standardError.write(Data("modload bench: C limit \(figure) not measured: \(reason)\n".utf8))
        }
        try options.emit(measured, Limits.render)
    }
}
