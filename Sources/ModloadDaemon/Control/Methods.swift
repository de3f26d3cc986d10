import Logging
import Modload
import ModloadControl
import ModloadRepository
import Synchronization

/// What the daemon answers to each call: `org.varlink.service` and `io.modload.Host`, one reply
/// per call (``Connection`` runs the one stream, Monitor).
///
/// 1. **Route** by interface, then method: an unknown one is `InterfaceNotFound` or
///    `MethodNotFound`.
/// 2. **Admit**: a method that changes the host asks the ``AccessPolicy``; a refusal is
///    `PermissionDenied` naming the method and the peer's uid, logged, and nothing runs.
/// 3. **Decode** the parameters: a missing, mistyped or unknown one is `InvalidParameter`
///    naming it, and nothing runs.
/// 4. **Run** it on the host or the repository; a ``Modload/ModuleError`` answers as the
///    interface's error of the same code, with its module, file, state, holders and cycle.
final class Methods: Sendable {
    let host: ModuleHost
    let repository: LiveRepository
    let policy: AccessPolicy
    let logger: Logger
    let productVersion: String
    /// Connections being served now (Statistics reports it; the server admits by it).
    let connections = Atomic<Int>(0)

    init(host: ModuleHost, repository: LiveRepository, policy: AccessPolicy, logger: Logger, productVersion: String) {
        self.host = host
        self.repository = repository
        self.policy = policy
        self.logger = logger
        self.productVersion = productVersion
    }

    /// Whether `call` is the one streaming method, called with `more` (``Connection`` serves it).
    func isMonitorStream(_ call: VarlinkCall) -> Bool {
        call.more && call.method == HostInterface.Method.monitor.qualifiedName
    }

    /// The error reply to a Monitor stream call whose parameters are wrong (it takes none), or
    /// `nil` if the stream may start.
    func refusal(ofMonitor call: VarlinkCall) -> [UInt8]? {
        do throws(VarlinkError) {
            _ = try call.decodeParameters(HostInterface.NoParameters.self)
            return nil
        } catch {
            return VarlinkReply.encode(error)
        }
    }

    /// Whether answering `call` only reads the host's table (no file, no waiting): what
    /// ``Connection`` answers on its event loop.
    func isTableRead(_ call: VarlinkCall) -> Bool {
        switch call.interface {
        case HostInterface.name:
            switch HostInterface.Method(rawValue: call.memberName) {
            case .list, .info, .holders, .statistics, .monitor, nil: true
            case .resolve, .plan, .load, .unload, .replace, .refresh: false
            }
        default: true  // org.varlink.service, and the error for an unknown interface
        }
    }

    /// The reply to `call` from `peer`, NUL-terminated.
    func answer(_ call: VarlinkCall, from peer: PeerCredentials) async -> [UInt8] {
        switch await run(call, from: peer) {
        case .success(let reply): reply
        case .failure(let error): VarlinkReply.encode(error)
        }
    }

    private func run(_ call: VarlinkCall, from peer: PeerCredentials) async -> Result<[UInt8], VarlinkError> {
        // 1. Route.
        switch call.interface {
        case ServiceInterface.name:
            return Result { () throws(VarlinkError) in try service(call) }
        case HostInterface.name:
            guard let method = HostInterface.Method(rawValue: call.memberName) else { return .failure(.methodNotFound(call.method)) }
            // 2. Admit.
            if method.changesHost && !policy.mayChangeHost(peer) {
                logger.warning(
                    "refused \(call.method) to a peer without the right to change the host",
                    metadata: ["peer.uid": "\(peer.uid)", "peer.pid": "\(peer.pid)", "method": "\(call.method)"])
                return .failure(
                    HostInterface.error(
                        HostInterface.ErrorParameters(
                            code: ModuleError.Code.permissionDenied.name, errno: Int(ModuleError.Code.permissionDenied.errno),
                            reason: "\(call.method) changes the host: uid \(peer.uid) may not call it (uid 0, the daemon's uid \(policy.daemonUID)\(policy.allowedGroup.map { " or group \($0)" } ?? "") may)",
                            method: call.method, uid: Int(peer.uid))))
            }
            if call.upgrade { return .failure(.invalidParameter("upgrade")) }
            // 3 and 4.
            return await hostMethod(method, call)
        default:
            return .failure(.interfaceNotFound(call.interface))
        }
    }

    private func service(_ call: VarlinkCall) throws(VarlinkError) -> [UInt8] {
        switch call.memberName {
        case "GetInfo":
            _ = try call.decodeParameters(HostInterface.NoParameters.self)
            return VarlinkReply.encode(
                ServiceInterface.Info(
                    vendor: "Modload", product: "modload daemon", version: productVersion, url: "",
                    interfaces: [ServiceInterface.name, HostInterface.name]))
        case "GetInterfaceDescription":
            let interface = try call.decodeParameters(ServiceInterface.DescriptionParameters.self).interface
            switch interface {
            case ServiceInterface.name: return VarlinkReply.encode(ServiceInterface.Description(description: ServiceInterface.definition))
            case HostInterface.name: return VarlinkReply.encode(ServiceInterface.Description(description: HostInterface.definition))
            default: throw VarlinkError.interfaceNotFound(interface)
            }
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }

    private func hostMethod(_ method: HostInterface.Method, _ call: VarlinkCall) async -> Result<[UInt8], VarlinkError> {
        do {
            switch method {
            case .list:
                _ = try call.decodeParameters(HostInterface.NoParameters.self)
                // A module whose unload has finished but is not yet unlinked is no longer listed.
                let modules = host.modules.compactMap { $0.state == .gone ? nil : HostInterface.Module($0) }
                return .success(VarlinkReply.encode(HostInterface.ListReply(modules: modules)))
            case .info:
                let name = try call.decodeParameters(HostInterface.NameParameters.self).name
                guard let info = host.info(of: name) else {
                    return .failure(VarlinkError(ModuleError(.notFound, module: name, reason: "is not loaded")))
                }
                return .success(VarlinkReply.encode(HostInterface.InfoReply(module: HostInterface.Module(info))))
            case .resolve:
                let name = try call.decodeParameters(HostInterface.ResolveParameters.self).nameOrAlias
                let indexed = try repository.indexed(for: name)
                return .success(VarlinkReply.encode(HostInterface.ResolveReply(modules: indexed.lookup(name).modules.map(\.name))))
            case .plan:
                let request = try call.decodeParameters(HostInterface.PlanParameters.self)
                let steps = try repository.indexed(for: request.nameOrAlias).plan(request.nameOrAlias, parameters: request.parameters ?? "")
                return .success(
                    VarlinkReply.encode(
                        HostInterface.PlanReply(steps: steps.map { HostInterface.Step(module: $0.module, path: $0.path, parameters: $0.parameters) })))
            case .load:
                return .success(VarlinkReply.encode(try await load(try call.decodeParameters(HostInterface.LoadParameters.self))))
            case .unload:
                return .success(VarlinkReply.encode(try await unload(try call.decodeParameters(HostInterface.UnloadParameters.self))))
            case .replace:
                return .success(VarlinkReply.encode(try await replace(try call.decodeParameters(HostInterface.ReplaceParameters.self))))
            case .refresh:
                let request = try call.decodeParameters(HostInterface.RefreshParameters.self)
                let refreshed = try await host.refresh(request.names, drainTimeout: try Self.milliseconds(request.drainTimeoutMs, "drainTimeoutMs"))
                return .success(VarlinkReply.encode(HostInterface.RefreshReply(refreshed: refreshed)))
            case .holders:
                let name = try call.decodeParameters(HostInterface.NameParameters.self).name
                return .success(VarlinkReply.encode(HostInterface.HoldersReply(holders: HostInterface.HolderReport(try host.holders(of: name)))))
            case .statistics:
                _ = try call.decodeParameters(HostInterface.NoParameters.self)
                return .success(VarlinkReply.encode(statistics()))
            case .monitor:
                // Without `more` there is nothing to stream into.
                return .failure(.invalidParameter("more"))
            }
        } catch let error as VarlinkError {
            return .failure(error)
        } catch let error as ModuleError {
            return .failure(VarlinkError(error))
        } catch {
            return .failure(VarlinkError(ModuleError(.invalidArgument, reason: "\(call.method): \(error)")))
        }
    }

    private func load(_ request: HostInterface.LoadParameters) async throws -> HostInterface.LoadReply {
        let parameters = request.parameters ?? ""
        if request.allOrNothing == true { return try await loadSet(request) }
        guard request.names == nil && request.files == nil else {
            throw ModuleError(.invalidArgument, reason: "Load takes names and files only with allOrNothing (a set)")
        }
        let outcome: LoadOutcome
        switch (request.name, request.file) {
        case (let name?, nil):
            if request.firstTime == true, let live = host.info(of: name), live.state == .live || live.state == .coming {
                throw ModuleError(.exists, module: live.name, state: live.state, reason: "is already loaded")
            }
            outcome = try await host.request(name, parameters: parameters)
        case (nil, let file?):
            outcome = try await host.insert(file: try Self.absolute(file), parameters: parameters)
        default:
            throw ModuleError(.invalidArgument, reason: "Load takes exactly one of name (modprobe) and file (insmod)")
        }
        logger.info("loaded", metadata: ["module": "\(outcome.module)", "how": "\(outcome.how.rawValue)"])
        return HostInterface.LoadReply(module: outcome.module, how: outcome.how.rawValue, parameterWarnings: outcome.parameterWarnings)
    }

    /// Load with allOrNothing: every name (with its dependency closure, resolved through the
    /// repository) and every file, as one set.
    private func loadSet(_ request: HostInterface.LoadParameters) async throws -> HostInterface.LoadReply {
        var members: [ModuleSetMember] = []
        if let name = request.name { members.append(.named(name, parameters: request.parameters ?? "")) }
        if let file = request.file { members.append(.file(try Self.absolute(file), parameters: request.parameters ?? "")) }
        members += (request.names ?? []).map { .named($0) }
        members += try (request.files ?? []).map { .file(try Self.absolute($0)) }
        guard !members.isEmpty else { throw ModuleError(.invalidArgument, reason: "Load needs a name, a file, names or files") }
        let outcome = try await host.load(members, mode: .allOrNothing, firstTime: request.firstTime == true)
        logger.info("loaded a set, all or nothing", metadata: ["modules": "\(outcome.members.map(\.module))"])
        let loaded = outcome.members.map { HostInterface.Loaded(module: $0.module, how: $0.how.rawValue, parameterWarnings: $0.parameterWarnings) }
        // The module asked for first: what the name or alias resolves to, else the file's module.
        let resolved = request.name.flatMap { name in (try? repository.indexed(for: name))?.lookup(name).modules.first?.name }
        let fileModule = request.file.flatMap { file in outcome.members.last { $0.file?.path == file }?.module }
        let requested = loaded.last { $0.module == (resolved ?? fileModule)?.replacingOccurrences(of: "-", with: "_") } ?? loaded[0]
        return HostInterface.LoadReply(
            module: requested.module, how: requested.how, parameterWarnings: requested.parameterWarnings, members: loaded)
    }

    /// Replace: the new generation from `file`, or from the repository's file for the name.
    private func replace(_ request: HostInterface.ReplaceParameters) async throws -> HostInterface.ReplaceReply {
        let drain = try Self.milliseconds(request.drainTimeoutMs, "drainTimeoutMs")
        let options = ModuleHost.ReplaceOptions(
            drainTimeout: drain, purge: request.purge == .brutal ? .brutal : .soft,
            refreshDependents: request.refreshDependents == true)
        var parameters = request.parameters ?? ""
        let path: String
        if let file = request.file {
            path = try Self.absolute(file)
        } else {
            let steps = try repository.indexed(for: request.name).plan(request.name, parameters: parameters)
            guard let step = steps.last else {
                throw ModuleError(.notFound, module: request.name, reason: "the repository has no module file for it")
            }
            path = step.path
            parameters = step.parameters
        }
        let outcome = try await host.replace(request.name, withFile: path, parameters: parameters, options: options)
        logger.info("replaced", metadata: ["module": "\(outcome.module)", "generation": "\(outcome.generation)"])
        let previous: String
        var holders: HostInterface.HolderReport?
        switch outcome.previous {
        case .gone: previous = "gone"
        case .revoked: previous = "revoked"
        case .old(let report):
            previous = "old"
            holders = HostInterface.HolderReport(report)
        }
        return HostInterface.ReplaceReply(
            module: outcome.module, generation: outcome.generation, previousGeneration: outcome.previousGeneration,
            previous: previous, holders: holders, refreshed: outcome.refreshed,
            refreshFailure: outcome.refreshFailure.map(HostInterface.Failure.init))
    }

    /// A path the daemon may open: absolute only (it does not share the caller's folder).
    private static func absolute(_ file: String) throws(ModuleError) -> String {
        guard file.hasPrefix("/") else {
            throw ModuleError(.invalidArgument, file: file, reason: "\(file): the daemon takes absolute paths only (it does not share the caller's folder)")
        }
        return file
    }

    /// A duration in milliseconds from a call (default 5,000; negative is invalid).
    private static func milliseconds(_ value: Int?, _ parameter: String) throws(VarlinkError) -> Duration {
        let milliseconds = value ?? 5_000
        guard milliseconds >= 0 else { throw VarlinkError.invalidParameter(parameter) }
        return .milliseconds(milliseconds)
    }

    private func unload(_ request: HostInterface.UnloadParameters) async throws -> HostInterface.UnloadReply {
        let mode: ModuleHost.UnloadMode
        switch request.mode ?? .failFast {
        case .failFast: mode = .failFast
        case .force: mode = .force
        case .drain:
            mode = .drain(timeout: try Self.milliseconds(request.timeoutMs, "timeoutMs"))
        }
        if request.removeUnused == true, let repository = repository.current {
            return HostInterface.UnloadReply(removed: try await repository.remove(request.name, from: host, mode: mode))
        }
        return HostInterface.UnloadReply(removed: [try await host.unload(request.name, mode: mode).module])
    }

    private func statistics() -> HostInterface.StatisticsReply {
        let modules = host.modules
        return HostInterface.StatisticsReply(
            modules: host.statistics().sorted { $0.key < $1.key }.map { HostInterface.ModuleCounts(name: $0.key, $0.value) },
            files: HostInterface.FileCounts(host.fileStatistics), taints: host.taints.description.map(String.init),
            liveModules: modules.filter { $0.state == .live }.count, connections: connections.load(ordering: .relaxed))
    }
}
