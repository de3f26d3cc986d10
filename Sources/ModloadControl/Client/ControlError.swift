/// A client's call did not get an answer from the daemon, or got an error.
public struct ControlError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Equatable {
        /// No daemon listens on the socket (no file, or nobody accepting).
        case noDaemon
        /// The socket exists but this user may not connect to it.
        case accessDenied
        /// The socket path cannot be used.
        case invalidPath
        /// The connection failed or closed before the answer.
        case connectionLost
        /// The daemon sent something that is not a varlink reply.
        case protocolViolation
        /// The daemon answered with a varlink error (``ControlError/remote``).
        case remote
    }

    /// What went wrong.
    public let code: Code
    /// The socket the client used.
    public let socketPath: String
    /// In plain words.
    public let reason: String
    /// The daemon's error, for ``Code/remote``.
    public let remote: VarlinkError?

    /// An error of `code`.
    public init(_ code: Code, socketPath: String, reason: String, remote: VarlinkError? = nil) {
        self.code = code
        self.socketPath = socketPath
        self.reason = reason
        self.remote = remote
    }

    /// The daemon's `io.modload.Host` error parameters, for a remote error of that interface.
    public var hostError: HostInterface.ErrorParameters? {
        remote.flatMap { $0.name.hasPrefix(HostInterface.name + ".") ? $0.decodeParameters(HostInterface.ErrorParameters.self) : nil }
    }

    public var description: String { reason }
}
