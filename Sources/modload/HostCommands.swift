import ArgumentParser
import Foundation
import ModloadControl

// The verbs that talk to a running daemon (kmod's insmod, rmmod, lsmod; udevadm monitor), each a
// thin client of its control socket (ModloadControl.HostClient).

struct InsmodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "insmod",
        abstract: "Load a module file into the running daemon's host (no dependency resolution; see modprobe).",
        discussion: "Prints nothing on success; a module of that name already loaded is an error, as in kmod.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The module file.")
    var file: String

    @Argument(help: "Parameters, name=value …")
    var parameters: [String] = []

    func run() throws {
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        let host = client.connect(tool: "insmod")
        switch Result(catching: { () throws(ControlError) in
            try host.load(HostInterface.LoadParameters(file: path, parameters: parameters.joined(separator: " ")))
        }) {
        case .success(let reply):
            if client.json { client.printJSON(reply) }
            for warning in reply.parameterWarnings { FileHandle.standardError.write(Data("insmod: WARNING: \(warning)\n".utf8)) }
        case .failure(let error):
            client.fail("insmod", "could not insert module \(file): \(error.reason)", error)
        }
    }
}

struct RmmodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rmmod",
        abstract: "Unload modules from the running daemon's host.",
        discussion: """
            Refuses a module that other modules use or that references are held on, naming them \
            (see holders). -w waits for the references to be released, up to SECONDS; -f unloads \
            despite references (not despite using modules) and taints the host.
            """)

    @OptionGroup var client: ClientOptions

    @Flag(name: .shortAndLong, help: "Unload even if references are held (taints the host).")
    var force = false

    @Option(name: [.customShort("w"), .customLong("wait")], help: ArgumentHelp("Wait up to SECONDS for references to be released.", valueName: "seconds"))
    var wait: Double?

    @Argument(help: "The modules.")
    var names: [String]

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name the modules to unload") }
        guard !(force && wait != nil) else { throw ValidationError("give -f or -w, not both") }
        if let wait, !(wait >= 0 && wait.isFinite) { throw ValidationError("-w takes a number of seconds, 0 or more") }
    }

    func run() throws {
        let host = client.connect(tool: "rmmod")
        let mode: HostInterface.UnloadParameters.Mode = force ? .force : wait == nil ? .failFast : .drain
        var failed = false
        var removed: [String] = []
        for name in names {
            switch Result(catching: { () throws(ControlError) in
                try host.unload(HostInterface.UnloadParameters(name: name, mode: mode, timeoutMs: wait.map { Int($0 * 1000) }))
            }) {
            case .success(let gone): removed += gone
            case .failure(let error):
                failed = true
                client.report("rmmod", rmmodMessage(name, error), error)
            }
        }
        if client.json { client.printJSON(HostInterface.UnloadReply(removed: removed)) }
        if failed { throw ExitCode(1) }
    }

    /// kmod's words where kmod has them, with the holders.
    private func rmmodMessage(_ name: String, _ error: ControlError) -> String {
        guard let host = error.hostError else { return "could not remove module \(name): \(error.reason)" }
        switch host.code {
        case "notFound": return "Module \(name) is not currently loaded"
        case "wouldBlock" where !(host.holders?.dependents.isEmpty ?? true):
            return "Module \(name) is in use by: \(host.holders!.dependents.joined(separator: " "))"
        case "wouldBlock": return "Module \(name) is in use (\(error.reason))"
        default: return "could not remove module \(name): \(error.reason)"
        }
    }
}

struct LsmodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsmod", abstract: "List the running daemon's modules, as kmod's lsmod does.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let host = client.connect(tool: "lsmod")
        switch Result(catching: { () throws(ControlError) in try host.list() }) {
        case .success(let modules):
            if client.json { return client.printJSON(HostInterface.ListReply(modules: modules)) }
            print(Self.render(modules), terminator: "")
        case .failure(let error):
            client.fail("lsmod", error.reason, error)
        }
    }

    /// kmod's columns exactly: `%-19s %8lu  %d` and the users joined by commas. While a name is
    /// listed twice (a replace: the current generation and the old one draining), each of its
    /// lines ends with its generation.
    static func render(_ modules: [HostInterface.Module]) -> String {
        var text = "Module                  Size  Used by\n"
        let counts = Dictionary(modules.map { ($0.name, 1) }, uniquingKeysWith: +)
        for module in modules {
            let size = "\(module.size)"
            text += module.name.padding(toLength: max(19, module.name.count), withPad: " ", startingAt: 0) + " "
            text += String(repeating: " ", count: max(0, 8 - size.count)) + size + "  \(module.refcount)"
            if !module.usedBy.isEmpty { text += " " + module.usedBy.joined(separator: ",") }
            if counts[module.name, default: 0] > 1 || module.state == "old" {
                text += module.state == "old" ? " [old, generation \(module.generation)]" : " [generation \(module.generation)]"
            }
            text += "\n"
        }
        return text
    }
}

struct HoldersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holders", abstract: "Say why a module cannot be unloaded: the modules using it and the references held on it.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The module.")
    var name: String

    func run() throws {
        let host = client.connect(tool: "holders")
        switch Result(catching: { () throws(ControlError) in try host.holders(name) }) {
        case .success(let report):
            if client.json { return client.printJSON(HostInterface.HoldersReply(holders: report)) }
            let others = report.references - report.dependents.count
            if report.dependents.isEmpty && others <= 0 {
                print("\(report.module) (\(report.state)): nothing holds it; rmmod \(report.module) would unload it")
                return
            }
            print("\(report.module) (\(report.state)):")
            if !report.dependents.isEmpty { print("  used by modules: \(report.dependents.joined(separator: ", "))") }
            if others > 0 {
                let named = report.referenceHolders.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
                print("  references held: \(others)\(named.isEmpty ? "" : " (\(named.joined(separator: ", ")))")")
            }
        case .failure(let error):
            client.fail("holders", error.reason, error)
        }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Print the running daemon's counts: per module, of module files, and of the daemon.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let host = client.connect(tool: "stats")
        switch Result(catching: { () throws(ControlError) in try host.statistics() }) {
        case .success(let stats):
            if client.json { return client.printJSON(stats) }
            print("live modules: \(stats.liveModules)   connections: \(stats.connections)   taints: \(stats.taints.isEmpty ? "none" : stats.taints.joined())")
            let f = stats.files
            print("module files: \(f.attempts) loads, \(f.mergedJoiners) merged, \(f.failures) failed, \(f.mapped) mapped, \(f.unmapped) unmapped, \(f.retired) retired")
            print("Module                  Attempts  Merged  Inits  Loads  Unloads  Init ms  Failures")
            for m in stats.modules {
                let failures = m.failures.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ",")
                let columns = [(m.attempts, 8), (m.mergedJoiners, 6), (m.initCalls, 5), (m.loads, 5), (m.unloads, 7)].map { value, width in
                    String(repeating: " ", count: max(0, width - "\(value)".count)) + "\(value)"
                }
                let initMs = String(format: "%.2f", m.initMs)
                print(m.name.padding(toLength: max(22, m.name.count), withPad: " ", startingAt: 0) + "  " + columns.joined(separator: "  ")
                    + "  " + String(repeating: " ", count: max(0, 7 - initMs.count)) + initMs + "  " + failures)
            }
        case .failure(let error):
            client.fail("stats", error.reason, error)
        }
    }
}

struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Print the running daemon's module events as they happen, one line each (like udevadm monitor).",
        discussion: "Runs until interrupted, or until --count events have been printed. --json prints one object per line.")

    @OptionGroup var client: ClientOptions

    @Option(name: [.customShort("n"), .customLong("count")], help: "Exit after this many events.")
    var count: Int?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let host = client.connect(tool: "monitor")
        let start = ContinuousClock.now
        var printed = 0
        var newestGeneration: [String: Int] = [:]
        do {
            try host.monitor(opened: {
                if !client.json { print("monitor will print the received events for:\nMODLOAD - the module host on \(client.socketPath)\n") }
                fflush(nil)
            }) { event in
                let elapsed = start.duration(to: .now).components
                let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
                if client.json {
                    client.printJSON(
                        MonitorLine(time: seconds, kind: event.kind, module: event.module, generation: event.generation, error: event.error))
                } else {
                    let kind = event.kind.padding(toLength: 13, withPad: " ", startingAt: 0)
                    // An old generation's events say which (`gone svc (generation 1)`): the newest
                    // generation seen of a name needs no number.
                    var generation = ""
                    if let number = event.generation {
                        let newest = max(newestGeneration[event.module] ?? 0, number)
                        newestGeneration[event.module] = newest
                        if number < newest || event.kind == "old" { generation = " (generation \(number))" }
                    }
                    print(
                        String(format: "MODLOAD[%.6f] ", seconds) + kind + " " + event.module + generation
                            + (event.error.map { ": \($0.reason)" } ?? ""))
                }
                fflush(nil)  // a line as it happens, into a pipe too
                printed += 1
                return count.map { printed < $0 } ?? true
            }
        } catch let error as ControlError {
            client.fail("monitor", error.reason, error)
        }
    }

    private struct MonitorLine: Encodable {
        let time: Double
        let kind: String
        let module: String
        let generation: Int?
        let error: HostInterface.Failure?
    }
}
