import ArgumentParser
import Foundation
import Logging
import Modload
import ModloadControl
import ModloadDaemon
import ModloadRepository

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run a module host in the foreground, serving the varlink control socket the other verbs use.",
        discussion: """
            Loads the modules listed in modules-load.d files, then serves io.modload.Host on the \
            socket (List, Info, Resolve, Plan, Load, Unload, Holders, Statistics, Monitor) until \
            SIGTERM or SIGINT: then it stops accepting, unloads every module in reverse dependency \
            order (each draining its references until --drain-timeout), reports what refused, and \
            exits 0. Reading methods answer anyone who can connect; Load and Unload need uid 0, the \
            daemon's uid, or --allow-group. With NOTIFY_SOCKET set it reports READY=1 once the \
            socket accepts (systemd Type=notify).
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Option(help: ArgumentHelp("The control socket (default: $\(ControlSocket.environmentVariable), else \(ControlSocket.systemPath) as root, else $XDG_RUNTIME_DIR/modload/\(HostInterface.name)).", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("modules-load"), help: ArgumentHelp("A modules-load.d folder; repeatable; replaces the defaults (\(ModulesLoadList.systemDirectories.joined(separator: ", ")), then the root's modules-load.d).", valueName: "dir"))
    var modulesLoad: [String] = []

    @Option(help: ArgumentHelp("A folder of trusted public keys (*.pub) for module signatures.", valueName: "dir"))
    var keyring: String?

    @Flag(name: .customLong("enforce-signatures"), help: "Load only module files signed by a key of --keyring.")
    var enforceSignatures = false

    @Option(name: .customLong("allow-group"), help: ArgumentHelp("A group (name or gid) whose members may connect and call Load and Unload; the socket becomes 0660 and that group's.", valueName: "group"))
    var allowGroup: String?

    @Option(name: .customLong("socket-mode"), help: ArgumentHelp("The socket's mode in octal (default 0660 with --allow-group, else 0600). Whoever can connect may call the reading methods.", valueName: "mode"))
    var socketMode: String?

    @Option(name: .customLong("drain-timeout"), help: ArgumentHelp("At shutdown, how long in all the unloads wait for references to be released, in seconds.", valueName: "seconds"))
    var drainTimeout = 10.0

    @Option(name: .customLong("failure-cache"), help: ArgumentHelp("Remember a failed load this long, answering later requests for the module with its failure instead of running its init again (default: only concurrent loads share a failure).", valueName: "seconds"))
    var failureCache: Double?

    @Option(name: .customLong("max-connections"), help: "Connections served at once; one more is closed at accept.")
    var maxConnections = 4096

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://ADDRESS/metrics (PORT alone: 127.0.0.1:PORT).", valueName: "address"))
    var metrics: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel = "notice"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel): give trace, debug, info, notice, warning, error or critical") }
        guard drainTimeout >= 0, drainTimeout.isFinite else { throw ValidationError("--drain-timeout must be a number of seconds, 0 or more") }
        if let failureCache { guard failureCache > 0, failureCache.isFinite else { throw ValidationError("--failure-cache must be a number of seconds above 0") } }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        if let socketMode, mode_t(socketMode, radix: 8).map({ $0 <= 0o777 }) != true {
            throw ValidationError("--socket-mode \(socketMode): give an octal mode such as 0660")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "modload-daemon")
        let environment = ProcessInfo.processInfo.environment
        let root = try repository.root()
        var group: UInt32?
        if let allowGroup {
            guard let gid = AccessPolicy.groupID(allowGroup) else { throw RuntimeFailure(file: nil, reason: "--allow-group \(allowGroup): no such group") }
            group = gid
        }
        var policy = SignaturePolicy.permissive
        if let keyring {
            let keys = try Keyring(directory: keyring)
            policy = enforceSignatures ? .enforce(keys) : SignaturePolicy(mode: .permissive, keyring: keys)
        } else if enforceSignatures {
            throw RuntimeFailure(file: nil, reason: "--enforce-signatures needs --keyring DIR (the keys to trust)")
        }
        let configuration = DaemonConfiguration(
            socketPath: ControlSocket.path(explicit: socket, environment: environment), rootPath: root.path,
            configurationDirectories: repository.config.isEmpty
                ? ModprobeConfiguration.systemDirectories + [root.configurationDirectory] : repository.config,
            modulesLoadDirectories: modulesLoad.isEmpty ? ModulesLoadList.systemDirectories + ["\(root.path)/modules-load.d"] : modulesLoad,
            signaturePolicy: policy, allowedGroup: group, socketMode: socketMode.flatMap { mode_t($0, radix: 8) },
            drainDeadline: .milliseconds(Int64(drainTimeout * 1000)), maximumConnections: maxConnections, metricsAddress: metrics,
            failedLoadCacheDuration: failureCache.map { .milliseconds(Int64($0 * 1000)) }, logger: logger)
        do throws(DaemonError) {
            try await Daemon.run(configuration, productVersion: modloadVersion, environment: environment)
        } catch {
            throw RuntimeFailure(file: nil, reason: "daemon: \(error)")
        }
    }
}
