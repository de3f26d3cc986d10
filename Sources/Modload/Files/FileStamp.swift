#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which file, in which version: device and inode, size, and modification and change times.
///
/// Two reads with equal stamps read the same bytes: any write changes the change time, which no
/// one can set back (`touch` sets the modification time, not the change time). A host merges
/// loads of one stamp; an index records the stamp of every file it read, and a loader refuses a
/// file whose stamp is no longer the one indexed.
public struct FileStamp: Sendable, Hashable, CustomStringConvertible {
    /// The device and inode.
    public let device: UInt64, inode: UInt64
    /// Its size in bytes.
    public let size: Int64
    /// Its modification and status-change times, in nanoseconds since the epoch.
    public let modified: Int64, changed: Int64

    /// A stamp of these values.
    public init(device: UInt64, inode: UInt64, size: Int64, modified: Int64, changed: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
        self.changed = changed
    }

    init(_ status: stat) {
        self.init(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
            modified: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec),
            changed: Int64(status.st_ctim.tv_sec) * 1_000_000_000 + Int64(status.st_ctim.tv_nsec))
    }

    /// The stamp of the file now at `path` (following links), or `nil` if it cannot be stat'ed.
    public static func of(_ path: String) -> FileStamp? {
        var status = stat()
        return stat(path, &status) == 0 ? FileStamp(status) : nil
    }

    /// `size N, modified T ns, changed T ns, inode I`.
    public var description: String { "size \(size), modified \(modified) ns, changed \(changed) ns, inode \(inode)" }

}
