import Logging
import Modload
import ModloadControl
import ModloadRepository
import ServiceLifecycle

/// `modload daemon`: one host, with the repository and configuration of a module root, served on
/// a varlink control socket until SIGTERM or SIGINT.
///
/// 1. **Build the host**: the repository (``ModloadRepository/LiveRepository``: it follows depmod's
///    new generations) as its resolver, the signature policy, holder tracking on (so Holders and
///    refusals name who holds a module).
/// 2. **Bind** the control socket (``ControlServer``); a daemon already on it is an error.
/// 3. **Load** the `modules-load.d` list (``HostService``).
/// 4. **Run** the services in one `ServiceGroup` — the host, the metrics endpoint if asked for,
///    the control server — and report ready (`sd_notify READY=1` when `NOTIFY_SOCKET` is set).
/// 5. **Stop** on SIGTERM or SIGINT: the group shuts its services down in reverse order — the
///    control server stops accepting and ends its connections, the metrics endpoint closes, then
///    the host unloads everything in reverse dependency order within the drain deadline.
public enum Daemon {
    /// Runs a daemon with `configuration` until a shutdown signal, then returns.
    ///
    /// - Parameters:
    ///   - productVersion: what `org.varlink.service.GetInfo` reports as the version.
    ///   - environment: where `NOTIFY_SOCKET` is looked up.
    ///   - ready: called once the socket accepts connections and the start list is loaded.
    /// - Throws: ``DaemonError`` if the daemon cannot start (the socket, the configuration).
    public static func run(
        _ configuration: DaemonConfiguration, productVersion: String, environment: [String: String] = [:],
        ready: @escaping @Sendable () -> Void = {}
    ) async throws(DaemonError) {
        let logger = configuration.logger
        // 1. The host.
        let root: ModuleRoot
        do throws(RepositoryError) { root = try ModuleRoot(configuration.rootPath) } catch {
            throw DaemonError(.configuration, reason: "module root: \(error)")
        }
        let modprobe = ModprobeConfiguration(directories: configuration.configurationDirectories)
        for warning in modprobe.warnings { logger.warning("\(warning)") }
        let repository = LiveRepository(root: root, configuration: modprobe)
        if repository.current == nil {
            logger.warning("the module root \(root.path) has no index yet: loads by name fail until modload depmod -b \(root.path) runs")
        }
        // The metrics system before the host: the host makes its metric handles in its init.
        if configuration.metricsAddress != nil { _ = MetricsServer.registry }
        let host: ModuleHost
        do throws(ModuleError) {
            host = try ModuleHost(
                configuration: ModuleHost.Configuration(
                    logger: logger, failedLoadCacheDuration: configuration.failedLoadCacheDuration, tracksReferenceHolders: true,
                    resolver: repository, signaturePolicy: configuration.signaturePolicy))
        } catch {
            throw DaemonError(.configuration, reason: "\(error)")
        }
        let methods = Methods(
            host: host, repository: repository, policy: AccessPolicy(allowedGroup: configuration.allowedGroup), logger: logger,
            productVersion: productVersion)
        // 2. The socket.
        let server = try await ControlServer.bind(configuration, methods: methods)
        // 3. The start list.
        let hostService = HostService(host: host, drainDeadline: configuration.drainDeadline, logger: logger)
        let list = ModulesLoadList(directories: configuration.modulesLoadDirectories)
        for warning in list.warnings { logger.warning("\(warning)") }
        await hostService.loadAtStart(list)
        // 4. Run.
        var services: [any Service] = [hostService]
        if let address = configuration.metricsAddress {
            services.append(try await MetricsServer.bind(address, host: host, logger: logger))
        }
        services.append(server)
        services.append(ReadinessService(environment: environment, socketPath: configuration.socketPath, logger: logger, ready: ready))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // 5. Stop.
        do {
            try await group.run()
        } catch {
            throw DaemonError(.socket, reason: "the daemon stopped: \(error)")
        }
    }
}

/// Reports readiness once the group runs (the socket was bound before), then waits for the end.
private struct ReadinessService: Service {
    let environment: [String: String]
    let socketPath: String
    let logger: Logger
    let ready: @Sendable () -> Void

    func run() async throws {
        SystemdNotify.send("READY=1\nSTATUS=listening on \(socketPath)", environment: environment)
        logger.notice("ready", metadata: ["socket": "\(socketPath)"])
        ready()
        try? await gracefulShutdown()
        SystemdNotify.send("STOPPING=1", environment: environment)
    }
}
