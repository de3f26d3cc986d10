#if canImport(Glibc)
import Glibc
#endif

/// Who may change the host through the control socket.
///
/// Rules, checked per call from the peer's credentials (``PeerCredentials``):
/// 1. Methods that only read (List, Info, Resolve, Plan, Holders, Statistics, Monitor, and
///    `org.varlink.service`) answer anyone who can connect — the socket file's mode and group
///    decide who that is.
/// 2. Methods that change the host (Load, Unload) need uid 0, the daemon's own uid, or membership
///    (primary or supplementary, looked up from the user database) in the group given with
///    `--allow-group`.
/// 3. Anything else is refused with `io.modload.Host.PermissionDenied`, naming the method and the
///    peer's uid; the refusal is logged and nothing changes.
public struct AccessPolicy: Sendable, Equatable {
    /// The daemon's own uid.
    public let daemonUID: UInt32
    /// The group whose members may change the host, if any.
    public let allowedGroup: UInt32?

    /// A policy for a daemon running as `daemonUID`, with `allowedGroup`'s members admitted.
    public init(daemonUID: UInt32 = getuid(), allowedGroup: UInt32? = nil) {
        self.daemonUID = daemonUID
        self.allowedGroup = allowedGroup
    }

    /// Whether `peer` may call methods that change the host.
    public func mayChangeHost(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        guard let group = allowedGroup else { return false }
        if peer.gid == group { return true }
        return Self.supplementaryGroups(of: peer.uid, primary: peer.gid).contains(group)
    }

    /// The groups the user database gives `uid` (none if it has no entry).
    static func supplementaryGroups(of uid: UInt32, primary: UInt32) -> [UInt32] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [] }
        }
        return Array(groups.prefix(Int(count)))
    }

    /// The gid of `group`, a group name or a number.
    ///
    /// - Returns: `nil` if there is no such group.
    public static func groupID(_ group: String) -> UInt32? {
        if let number = UInt32(group) { return number }
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(group, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}
