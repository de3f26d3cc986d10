#if canImport(Glibc)
import Glibc
#endif
import Logging
import Modload
import ModloadControl

/// How a daemon runs. Every field has the default `modload daemon` uses.
public struct DaemonConfiguration: Sendable {
    /// The control socket (default: ``ModloadControl/ControlSocket/path(explicit:environment:uid:)``).
    public var socketPath: String
    /// The module root (a folder depmod indexed).
    public var rootPath: String
    /// The `modprobe.d` folders, most important first.
    public var configurationDirectories: [String]
    /// The `modules-load.d` folders whose modules load at start, most important first.
    public var modulesLoadDirectories: [String]
    /// Which module files may load.
    public var signaturePolicy: SignaturePolicy
    /// The group whose members may change the host (and connect, with the default socket mode).
    public var allowedGroup: UInt32?
    /// The socket's mode; `nil`: 0660 with an ``allowedGroup``, else 0600.
    public var socketMode: mode_t?
    /// How long the shutdown waits, in all, for references to each module to be released before
    /// reporting it as refused. Default 10 s.
    public var drainDeadline: Duration
    /// The largest message a client may send (bytes); a longer one closes its connection.
    public var maximumMessageSize: Int
    /// Connections served at once; one more is closed at accept. Default 4,096.
    public var maximumConnections: Int
    /// `HOST:PORT` for the Prometheus endpoint (`GET /metrics`), or `nil` for none.
    public var metricsAddress: String?
    /// How long the host remembers a failed load, answering later requests for the module with
    /// that failure instead of running its init again; `nil` (the default): only loads running
    /// at the same time share a failure, as the kernel's do.
    public var failedLoadCacheDuration: Duration?
    /// The daemon's log (the host's lifecycle, refusals, connections' protocol errors).
    public var logger: Logger

    /// A configuration; see each property for its meaning.
    public init(
        socketPath: String, rootPath: String, configurationDirectories: [String], modulesLoadDirectories: [String] = [],
        signaturePolicy: SignaturePolicy = .permissive, allowedGroup: UInt32? = nil, socketMode: mode_t? = nil,
        drainDeadline: Duration = .seconds(10), maximumMessageSize: Int = VarlinkFraming.maximumMessageSize,
        maximumConnections: Int = 4096, metricsAddress: String? = nil, failedLoadCacheDuration: Duration? = nil,
        logger: Logger = Logger(label: "modload-daemon")
    ) {
        self.socketPath = socketPath
        self.rootPath = rootPath
        self.configurationDirectories = configurationDirectories
        self.modulesLoadDirectories = modulesLoadDirectories
        self.signaturePolicy = signaturePolicy
        self.allowedGroup = allowedGroup
        self.socketMode = socketMode
        self.drainDeadline = drainDeadline
        self.maximumMessageSize = maximumMessageSize
        self.maximumConnections = maximumConnections
        self.metricsAddress = metricsAddress
        self.failedLoadCacheDuration = failedLoadCacheDuration
        self.logger = logger
    }

    /// The socket mode that applies.
    var effectiveSocketMode: mode_t { socketMode ?? (allowedGroup == nil ? 0o600 : 0o660) }
}
