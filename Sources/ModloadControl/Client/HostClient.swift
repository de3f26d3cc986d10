/// A client of `io.modload.Host` on one connection: the methods of the interface as Swift calls.
/// Blocking, like ``ControlConnection``; one per thread.
public final class HostClient {
    /// The connection.
    public let connection: ControlConnection

    /// Connects to the daemon at `socketPath`; `timeout` bounds each call
    /// (``ControlConnection/init(socketPath:timeout:)``).
    ///
    /// - Throws: ``ControlError`` (`noDaemon` names the socket and how to start a daemon).
    public init(socketPath: String, timeout: Duration? = nil) throws(ControlError) {
        connection = try ControlConnection(socketPath: socketPath, timeout: timeout)
    }

    private func call<R: Decodable>(_ method: HostInterface.Method, _ parameters: some Encodable, _ reply: R.Type) throws(ControlError) -> R {
        try connection.call(method.qualifiedName, parameters, returning: R.self)
    }

    /// Every module (`List`).
    public func list() throws(ControlError) -> [HostInterface.Module] {
        try call(.list, HostInterface.NoParameters(), HostInterface.ListReply.self).modules
    }

    /// One module (`Info`).
    public func info(_ name: String) throws(ControlError) -> HostInterface.Module {
        try call(.info, HostInterface.NameParameters(name: name), HostInterface.InfoReply.self).module
    }

    /// The modules a name or alias resolves to (`Resolve`).
    public func resolve(_ nameOrAlias: String) throws(ControlError) -> [String] {
        try call(.resolve, HostInterface.ResolveParameters(nameOrAlias: nameOrAlias), HostInterface.ResolveReply.self).modules
    }

    /// What loading would do (`Plan`).
    public func plan(_ nameOrAlias: String, parameters: String? = nil) throws(ControlError) -> [HostInterface.Step] {
        try call(.plan, HostInterface.PlanParameters(nameOrAlias: nameOrAlias, parameters: parameters), HostInterface.PlanReply.self).steps
    }

    /// Loads a module (`Load`).
    public func load(_ request: HostInterface.LoadParameters) throws(ControlError) -> HostInterface.LoadReply {
        try call(.load, request, HostInterface.LoadReply.self)
    }

    /// Unloads a module (`Unload`); returns the modules unloaded, in order.
    public func unload(_ request: HostInterface.UnloadParameters) throws(ControlError) -> [String] {
        try call(.unload, request, HostInterface.UnloadReply.self).removed
    }

    /// Replaces a live module with a new generation (`Replace`).
    public func replace(_ request: HostInterface.ReplaceParameters) throws(ControlError) -> HostInterface.ReplaceReply {
        try call(.replace, request, HostInterface.ReplaceReply.self)
    }

    /// Reloads the importers of old generations (`Refresh`); returns the modules reloaded.
    public func refresh(_ names: [String], drainTimeoutMs: Int? = nil) throws(ControlError) -> [String] {
        try call(.refresh, HostInterface.RefreshParameters(names: names, drainTimeoutMs: drainTimeoutMs), HostInterface.RefreshReply.self).refreshed
    }

    /// Who holds a module (`Holders`).
    public func holders(_ name: String) throws(ControlError) -> HostInterface.HolderReport {
        try call(.holders, HostInterface.NameParameters(name: name), HostInterface.HoldersReply.self).holders
    }

    /// Counts (`Statistics`).
    public func statistics() throws(ControlError) -> HostInterface.StatisticsReply {
        try call(.statistics, HostInterface.NoParameters(), HostInterface.StatisticsReply.self)
    }

    /// Events as they happen (`Monitor` with `more`): `body` gets each until it returns `false`.
    /// `opened` runs once the daemon has confirmed the subscription (no event is missed after it).
    public func monitor(opened: () -> Void = {}, _ body: (HostInterface.Event) throws -> Bool) throws {
        try connection.stream(HostInterface.Method.monitor.qualifiedName, HostInterface.NoParameters(), returning: HostInterface.MonitorReply.self) {
            guard let event = $0.event else {
                opened()
                return true
            }
            return try body(event)
        }
    }
}
