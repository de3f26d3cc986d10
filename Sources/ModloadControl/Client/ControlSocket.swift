#if canImport(Glibc)
import Glibc
#endif

/// Where the daemon's control socket is: one rule for the daemon and every client.
///
/// 1. `--socket PATH` when given;
/// 2. else `$MODLOAD_SOCKET` when set and not empty;
/// 3. else, as root, `/run/modload/io.modload.Host` (the system daemon);
/// 4. else `$XDG_RUNTIME_DIR/modload/io.modload.Host` (a user's own daemon), and without
///    `XDG_RUNTIME_DIR`, `/run/user/UID/modload/io.modload.Host`.
public enum ControlSocket {
    /// The environment variable that names the socket.
    public static let environmentVariable = "MODLOAD_SOCKET"

    /// The system daemon's socket.
    public static let systemPath = "/run/modload/\(HostInterface.name)"

    /// The socket path by the rules above.
    public static func path(explicit: String?, environment: [String: String], uid: UInt32 = getuid()) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let named = environment[environmentVariable], !named.isEmpty { return named }
        if uid == 0 { return systemPath }
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/user/\(uid)"
        return "\(runtime)/modload/\(HostInterface.name)"
    }

    /// The longest socket path the kernel takes (`sun_path` less its NUL).
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// `path` as a `sockaddr_un`.
    ///
    /// - Throws: ``ControlError`` `invalidPath` if the path is empty or too long.
    public static func address(_ path: String) throws(ControlError) -> sockaddr_un {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumPathLength, !bytes.contains(0) else {
            throw ControlError(
                .invalidPath, socketPath: path,
                reason: "\(path): not a usable socket path (1 to \(maximumPathLength) bytes, no NUL)")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
