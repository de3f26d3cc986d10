#if canImport(Glibc)
import Glibc
#endif
import ModloadControl

/// The control socket's file: made ready before the bind, and given its mode and group after.
///
/// 1. **The folder**: created (0755) with its parents if missing.
/// 2. **What is there already**: nothing is fine; a socket nobody accepts on is a stale one from a
///    daemon that died, and is removed; a socket a daemon accepts on is an error (two daemons on
///    one socket would split the clients); anything that is not a socket is an error and is left
///    alone.
/// 3. **After the bind**: mode 0660 with a group (its members may connect), 0600 without, or the
///    mode given; the group set when one is given.
enum SocketFile {
    /// Steps 1 and 2.
    static func prepare(_ path: String) throws(DaemonError) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        if !folder.isEmpty { try makeFolders(folder) }
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw DaemonError(.socket, reason: "cannot inspect \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw DaemonError(.socket, reason: "\(path) exists and is not a socket; not replacing it")
        }
        switch Result(catching: { () throws(ControlError) in try ControlConnection(socketPath: path) }) {
        case .success(let connection):
            connection.close()
            throw DaemonError(.socket, reason: "a modload daemon is already listening on \(path)")
        case .failure(let error) where error.code == .noDaemon:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw DaemonError(.socket, reason: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
            }
        case .failure(let error):
            throw DaemonError(.socket, reason: "\(path) exists and cannot be checked: \(error.reason)")
        }
    }

    /// Step 3.
    static func restrict(_ path: String, mode: mode_t, group: UInt32?) throws(DaemonError) {
        if let group, chown(path, uid_t.max, group) != 0 {
            throw DaemonError(.socket, reason: "cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, mode) == 0 else {
            throw DaemonError(.socket, reason: "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func makeFolders(_ folder: String) throws(DaemonError) {
        var status = stat()
        if stat(folder, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else { throw DaemonError(.socket, reason: "\(folder) is not a folder") }
            return
        }
        if let parent = folder.lastIndex(of: "/").map({ String(folder[..<$0]) }), !parent.isEmpty { try makeFolders(parent) }
        guard mkdir(folder, 0o755) == 0 || errno == EEXIST else {
            throw DaemonError(.socket, reason: "cannot create \(folder): \(String(cString: strerror(errno)))")
        }
    }
}
