import ArgumentParser
import Foundation
import Modload
import ModloadControl
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
        abstract: "Load (or with -r unload) a module by name or alias in the running daemon, with its dependencies; or show what that would do.",
        discussion: """
            Looks a name up as kmod does — configuration aliases, module names, symbol:NAME, module \
            aliases — with blacklist applying to aliases only and deny to everything. Loading and \
            -r go to the running daemon (its module root and configuration). The dry-run forms \
            read the module root here and need no daemon: --show-depends prints one `insmod PATH \
            OPTIONS` line per module, dependencies first, whether loaded or not; --dry-run the \
            same; --show-config the configuration and the index's aliases; --show-alias the \
            modules a name resolves to.
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @OptionGroup var client: ClientOptions

    @Flag(name: [.customShort("D"), .customLong("show-depends")], help: "Print the loads, dependencies first; load nothing.")
    var showDepends = false

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Do everything but load (print the loads).")
    var dryRun = false

    @Flag(name: [.customShort("c"), .customLong("show-config")], help: "Print the effective configuration and the index's aliases.")
    var showConfig = false

    @Flag(name: [.customShort("R"), .customLong("show-alias")], help: "Print the modules a name or alias resolves to.")
    var showAlias = false

    @Flag(name: [.customShort("r"), .customLong("remove")], help: "Unload the named modules, then their dependencies nothing else uses.")
    var remove = false

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Say nothing about a module that is not found (still exit 1).")
    var quiet = false

    @Flag(name: .customLong("first-time"), help: "Fail if the module is already loaded (or, with -r, not loaded).")
    var firstTime = false

    @Flag(name: .customLong("all-or-nothing"), help: "Every argument is a module name or alias: load them all, with their dependencies, as one set — every one live, or none.")
    var allOrNothing = false

    @Argument(help: "The module name or alias, then its parameters (name=value …); with -r, module names.")
    var arguments: [String] = []

    func validate() throws {
        let modes = [showDepends, dryRun, showConfig, showAlias, remove].filter { $0 }.count
        guard modes <= 1 else { throw ValidationError("give at most one of --show-depends, --dry-run, --show-config, --show-alias, --remove") }
        guard showConfig || !arguments.isEmpty else { throw ValidationError("name the module or alias") }
        guard !allOrNothing || modes == 0 else { throw ValidationError("--all-or-nothing loads; it goes with no other mode") }
        if allOrNothing, let parameter = arguments.first(where: { $0.contains("=") }) {
            throw ValidationError("--all-or-nothing takes module names only (\(parameter) looks like a parameter; give options in modprobe.d)")
        }
    }

    func run() throws {
        if remove { return removeModules() }
        if allOrNothing { return loadSet() }
        if !(showDepends || dryRun || showConfig || showAlias) { return loadModule() }
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

    /// Load by name through the daemon: kmod's messages and exit status.
    private func loadModule() {
        let name = arguments[0]
        let host = client.connect(tool: "modprobe")
        let request = HostInterface.LoadParameters(
            name: name, parameters: arguments.dropFirst().joined(separator: " "), firstTime: firstTime ? true : nil)
        switch Result(catching: { () throws(ControlError) in try host.load(request) }) {
        case .success(let reply):
            if client.json { client.printJSON(reply) }
            for warning in reply.parameterWarnings { FileHandle.standardError.write(Data("modprobe: WARNING: \(warning)\n".utf8)) }
        case .failure(let error):
            switch error.hostError?.code {
            case "notFound" where quiet: Foundation.exit(1)
            case "notFound": fatal("Module \(name) not found (\(error.reason))", error)
            case "exists": client.fail("modprobe", "could not insert '\(name)': Module already in kernel", error)
            default: client.fail("modprobe", "could not insert '\(name)': \(error.reason)", error)
            }
        }
    }

    /// `modprobe --all-or-nothing a b …`: one set through the daemon; on failure, every member's
    /// error, or the failing member and those rolled back.
    private func loadSet() {
        let host = client.connect(tool: "modprobe")
        let request = HostInterface.LoadParameters(
            name: arguments[0], names: arguments.count > 1 ? Array(arguments.dropFirst()) : nil,
            firstTime: firstTime ? true : nil, allOrNothing: true)
        switch Result(catching: { () throws(ControlError) in try host.load(request) }) {
        case .success(let reply):
            if client.json { client.printJSON(reply) }
            for member in reply.members {
                for warning in member.parameterWarnings { FileHandle.standardError.write(Data("modprobe: WARNING: \(member.module): \(warning)\n".utf8)) }
            }
        case .failure(let error):
            if !client.json, let members = error.hostError?.memberErrors {
                for member in members { FileHandle.standardError.write(Data("modprobe: ERROR: \(member.reason)\n".utf8)) }
            }
            client.fail("modprobe", "could not insert the set \(arguments.joined(separator: " ")): nothing was loaded: \(error.reason)", error)
        }
    }

    /// `modprobe -r`: each name, then the dependencies nothing else uses.
    private func removeModules() {
        let host = client.connect(tool: "modprobe")
        var removed: [String] = []
        var failed = false
        for name in arguments {
            switch Result(catching: { () throws(ControlError) in
                try host.unload(HostInterface.UnloadParameters(name: name, removeUnused: true))
            }) {
            case .success(let gone): removed += gone
            case .failure(let error):
                failed = true
                switch error.hostError?.code {
                case "notFound" where quiet: continue
                case "notFound": report("Module \(name) is not in kernel.", error)
                case "wouldBlock": report("Module \(name) is in use. (\(error.reason))", error)
                default: report("could not remove '\(name)': \(error.reason)", error)
                }
            }
        }
        if client.json { client.printJSON(HostInterface.UnloadReply(removed: removed)) }
        if failed { Foundation.exit(1) }
    }

    private func report(_ message: String, _ error: ControlError) {
        if client.json { client.report("modprobe", message, error) } else { FileHandle.standardError.write(Data("modprobe: FATAL: \(message)\n".utf8)) }
    }

    private func fatal(_ message: String, _ error: ControlError) -> Never {
        report(message, error)
        Foundation.exit(1)
    }
}
