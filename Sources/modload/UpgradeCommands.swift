import ArgumentParser
import Foundation
import ModloadControl

/// `modload replace`: a live upgrade of one module in the running daemon.
struct ReplaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replace",
        abstract: "Replace a live module with a new generation in the running daemon while its callers keep working.",
        discussion: """
            The new generation comes from FILE, or — without one — from the module file the \
            daemon's repository has for the name now (install the new file, run depmod, then \
            replace). It is checked, loaded and initialised while the current one serves; if it \
            fails, the current one stays. Then new references and calls go to it, and the old \
            generation drains: it goes once its holders let go (up to --drain-timeout), or stays \
            old and is named with its holders. Modules bound to the old generation keep it until \
            they are refreshed (--refresh, or modload refresh).
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: ArgumentHelp("How long the old generation may drain.", valueName: "seconds"))
    var drainTimeout: Double = 5

    @Flag(help: "When the drain times out, revoke the references still held and take the old generation down (a replace while an old one drains purges it first).")
    var brutal = false

    @Flag(help: "Reload the modules bound to the old generation, so they bind to the new one.")
    var refresh = false

    @Argument(help: "The module to replace.")
    var name: String

    @Argument(help: "The new generation's module file (absolute or relative to here), then its parameters (name=value …).")
    var arguments: [String] = []

    func validate() throws {
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must not be negative") }
    }

    func run() throws {
        let host = client.connect(tool: "replace")
        // A first argument with `=` is a parameter: the file then comes from the repository.
        let file = arguments.first.flatMap { $0.contains("=") ? nil : URL(fileURLWithPath: $0).standardizedFileURL.path }
        let parameters = arguments.dropFirst(file == nil ? 0 : 1).joined(separator: " ")
        let request = HostInterface.ReplaceParameters(
            name: name, file: file, parameters: parameters.isEmpty ? nil : parameters,
            drainTimeoutMs: Int(drainTimeout * 1000), purge: brutal ? .brutal : nil, refreshDependents: refresh ? true : nil)
        switch Result(catching: { () throws(ControlError) in try host.replace(request) }) {
        case .success(let reply):
            if client.json { return client.printJSON(reply) }
            print("\(reply.module): generation \(reply.generation) is live (replaced generation \(reply.previousGeneration))")
            if !reply.refreshed.isEmpty { print("refreshed onto it: \(reply.refreshed.joined(separator: ", "))") }
            switch reply.previous {
            case "gone": print("generation \(reply.previousGeneration) drained and is gone")
            case "revoked": print("generation \(reply.previousGeneration) was purged with references held (host tainted)")
            default:
                let holders = reply.holders.map { Self.describe($0) } ?? "its holders"
                print("generation \(reply.previousGeneration) is still old, held by \(holders); it goes when they let go")
            }
            if let failure = reply.refreshFailure { FileHandle.standardError.write(Data("replace: WARNING: refresh stopped: \(failure.reason)\n".utf8)) }
        case .failure(let error):
            client.fail("replace", "could not replace '\(name)': \(error.reason)", error)
        }
    }

    /// "the modules a, b and 2 references (worker: 1)".
    static func describe(_ holders: HostInterface.HolderReport) -> String {
        var parts: [String] = []
        if !holders.dependents.isEmpty { parts.append("modules bound to it: \(holders.dependents.joined(separator: ", "))") }
        let others = holders.references - holders.dependents.count
        if others > 0 {
            let labels = holders.referenceHolders.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            parts.append("\(others) reference\(others == 1 ? "" : "s")" + (labels.isEmpty ? "" : " (\(labels.joined(separator: ", ")))"))
        }
        return parts.isEmpty ? "nobody" : parts.joined(separator: "; ")
    }
}

/// `modload refresh`: rebind the importers of old generations.
struct RefreshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh",
        abstract: "Reload the modules bound to the old generations of replaced modules, so they bind to the current ones.")

    @OptionGroup var client: ClientOptions

    @Option(help: ArgumentHelp("How long each reloaded module's unload may drain.", valueName: "seconds"))
    var drainTimeout: Double = 5

    @Argument(help: "The replaced modules.")
    var names: [String]

    func validate() throws {
        guard drainTimeout >= 0 else { throw ValidationError("--drain-timeout must not be negative") }
        guard !names.isEmpty else { throw ValidationError("name the replaced modules") }
    }

    func run() throws {
        let host = client.connect(tool: "refresh")
        switch Result(catching: { () throws(ControlError) in try host.refresh(names, drainTimeoutMs: Int(drainTimeout * 1000)) }) {
        case .success(let refreshed):
            if client.json { return client.printJSON(HostInterface.RefreshReply(refreshed: refreshed)) }
            print(refreshed.isEmpty ? "nothing to refresh" : "refreshed: \(refreshed.joined(separator: ", "))")
        case .failure(let error):
            client.fail("refresh", error.reason, error)
        }
    }
}
