import ArgumentParser
import Foundation
import Modload
import ModloadRepository

/// Where a repository verb finds the module root and its configuration.
struct RepositoryOptions: ParsableArguments {
    @Option(
        name: [.customShort("b"), .customLong("basedir")],
        help: ArgumentHelp(
            "The module root (default: $\(ModuleRoot.environmentVariable), else \(ModuleRoot.defaultPath)).",
            valueName: "dir"))
    var basedir: String?

    @Option(
        name: [.customShort("C"), .customLong("config")],
        help: ArgumentHelp(
            "A modprobe.d directory; repeatable; replaces the defaults (\(ModprobeConfiguration.systemDirectories.joined(separator: ", ")), then the root's modprobe.d).",
            valueName: "dir"))
    var config: [String] = []

    /// The module root.
    func root() throws(RepositoryError) -> ModuleRoot {
        try ModuleRoot(ModuleRoot.path(basedir: basedir, environment: ProcessInfo.processInfo.environment))
    }

    /// The configuration for `root`, its warnings printed to standard error as `tool: WARNING: …`.
    func configuration(for root: ModuleRoot, tool: String) -> ModprobeConfiguration {
        let directories = config.isEmpty ? ModprobeConfiguration.systemDirectories + [root.configurationDirectory] : config
        let configuration = ModprobeConfiguration(directories: directories)
        warn(configuration.warnings, tool: tool)
        return configuration
    }
}

/// Prints each warning as kmod's tools do: `tool: WARNING: file:line: message`.
func warn(_ warnings: [RepositoryWarning], tool: String) {
    for warning in warnings { FileHandle.standardError.write(Data("\(tool): WARNING: \(warning)\n".utf8)) }
}

struct DepmodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depmod",
        abstract: "Index a module root: modules.dep, modules.alias, modules.symbols, modules.softdep and the loader's index.",
        discussion: """
            Reads every module file's metadata (checking each file as a load would; nothing is mapped \
            or run), resolves each import to the module exporting it with the same signature, and \
            publishes the whole index at once (a new generation, then one rename). A file that fails \
            its checks is skipped with a warning. A dependency cycle writes nothing: each ring is \
            printed as kmod prints it, and the exit status is 1.
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Print the text files to standard output instead of writing them.")
    var dryRun = false

    @Flag(name: [.customShort("a"), .customLong("all")], help: "Index every module file of the root (the default; kmod's -a).")
    var all = false

    @Flag(name: [.customShort("e"), .customLong("errsyms")], help: "Name every import no module provides (with its signature).")
    var errsyms = false

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print who provides each import.")
    var verbose = false

    func run() throws {
        let root = try repository.root()
        let report: Depmod.Report
        switch Result(catching: { () throws(RepositoryError) in try Depmod.run(root) }) {
        case .success(let done):
            report = done
        case .failure(let error) where error.code == .cycle:
            // kmod's lines exactly; nothing was written.
            for cycle in error.cycles { FileHandle.standardError.write(Data("depmod: ERROR: Cycle detected: \(cycle.joined(separator: " -> "))\n".utf8)) }
            let modules = Set(error.cycles.flatMap { $0 }).count
            FileHandle.standardError.write(Data("depmod: ERROR: Found \(modules) modules in dependency cycles!\n".utf8))
            Foundation.exit(1)
        case .failure(let error):
            throw error
        }
        warn(report.warnings, tool: "depmod")
        if errsyms { for line in report.unresolved { FileHandle.standardError.write(Data("depmod: WARNING: \(line)\n".utf8)) } }
        if verbose { for line in report.provided { print(line) } }
        if dryRun {
            for (name, contents) in report.index.files() where ModuleIndex.textFiles.contains(name) { print(contents, terminator: "") }
        } else {
            try report.index.write(to: root)
        }
    }
}

struct ModprobeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modprobe",
        abstract: "Show what loading a module by name or alias would do, or the effective configuration.",
        discussion: """
            Looks a name up as kmod does — configuration aliases, module names, symbol:NAME, module \
            aliases — with blacklist applying to aliases only and deny to everything. --show-depends \
            prints one `insmod PATH OPTIONS` line per module, dependencies first, whether loaded or \
            not; --dry-run the same; --show-config the configuration and the index's aliases. \
            Loading itself needs a running host, which this version of the command does not start.
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Flag(name: [.customShort("D"), .customLong("show-depends")], help: "Print the loads, dependencies first; load nothing.")
    var showDepends = false

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Do everything but load (print the loads).")
    var dryRun = false

    @Flag(name: [.customShort("c"), .customLong("show-config")], help: "Print the effective configuration and the index's aliases.")
    var showConfig = false

    @Flag(name: [.customShort("R"), .customLong("show-alias")], help: "Print the modules a name or alias resolves to.")
    var showAlias = false

    @Argument(help: "The module name or alias, then its parameters (name=value …).")
    var arguments: [String] = []

    func validate() throws {
        let modes = [showDepends, dryRun, showConfig, showAlias].filter { $0 }.count
        guard modes == 1 else {
            throw ValidationError(
                modes == 0
                    ? "loading needs a running host, which this version does not start: use --show-depends, --dry-run, --show-config or --show-alias"
                    : "give one of --show-depends, --dry-run, --show-config, --show-alias")
        }
        guard showConfig || !arguments.isEmpty else { throw ValidationError("name the module or alias") }
    }

    func run() throws {
        let root = try repository.root()
        let configuration = repository.configuration(for: root, tool: "modprobe")
        if showConfig {
            print(configuration.text, terminator: "")
            if let index = try? ModuleIndex.load(from: root) {
                print("\n# End of configuration files. Dumping indexes now:\n")
                for entry in index.entries { for pattern in entry.aliases { print("alias \(pattern) \(entry.name)") } }
                for (symbol, module) in index.symbols { print("alias symbol:\(symbol) \(module)") }
            }
            return
        }
        let repository = try ModuleRepository(root: root, configuration: configuration)
        let name = arguments[0]
        if showAlias {
            for entry in repository.lookup(name).modules { print(entry.name) }
            return
        }
        for step in try repository.plan(name, parameters: arguments.dropFirst().joined(separator: " ")) { print(step) }
    }
}
