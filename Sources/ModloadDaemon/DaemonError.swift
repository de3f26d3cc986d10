/// The daemon could not start or serve.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public enum Code: String, Sendable, Equatable {
        /// The control socket (its folder, a daemon already on it, its bind or mode).
        case socket
        /// The configuration (a group that does not exist, a keyring that cannot be read …).
        case configuration
        /// The metrics endpoint.
        case metrics
    }

    /// What failed.
    public let code: Code
    /// In plain words, naming the file or value.
    public let reason: String

    /// An error of `code`.
    public init(_ code: Code, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}
