#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI
import Foundation

/// A module file as read from disk, before anything of it is mapped: its bytes and their version (``FileStamp``).
///
/// Everything that can be checked without running the module is checked on these bytes
/// (``ModuleFile``): the ELF image, the signature, the metadata.
struct ModuleFileBytes {
    /// The path as the caller gave it.
    let path: String
    /// Every byte of the file.
    let bytes: [UInt8]
    /// Which file, in which version, these bytes are.
    let stamp: FileStamp

    /// Larger files are refused (a module is code, not data).
    static let maximumSize = 1 << 30

    /// The descriptor function's name without its version suffix.
    static let descriptorPrefix = "modload_module_descriptor_v"
    /// The one ABI version this host speaks.
    static let abiVersion = MODLOAD_ABI_VERSION

    /// Reads the module file at `path`.
    ///
    /// - Throws: `notFound` if there is no such file, `permissionDenied` if it cannot be read,
    ///   `invalidFile` if it is not a regular file or is too large.
    static func read(_ path: String) throws(ModuleError) -> ModuleFileBytes {
        guard !path.isEmpty else { throw ModuleError(.invalidArgument, reason: "module file path is empty") }
        let (bytes, status) = try contents(of: path, what: "module file", maximumSize: maximumSize, failure: .invalidFile)
        return ModuleFileBytes(path: path, bytes: bytes, stamp: FileStamp(status))
    }

    /// Every byte of the regular file at `path` (a `what`, for the errors), and its status. The
    /// errors say what failed in plain words (`strerror`), with `failure` as the code of a file
    /// that is no regular file, too large, or unreadable for another reason.
    ///
    /// - Throws: `notFound`, `permissionDenied`, or `failure`, naming the file.
    static func contents(
        of path: String, what: String, maximumSize: Int, failure: ModuleError.Code
    ) throws(ModuleError) -> ([UInt8], stat) {
        func ioError(_ code: Int32, _ doing: String) -> ModuleError {
            let text = String(cString: strerror(code))
            switch code {
            case ENOENT, ENOTDIR: return ModuleError(.notFound, file: path, reason: "no such \(what)")
            case EACCES, EPERM: return ModuleError(.permissionDenied, file: path, reason: "\(doing): \(text)")
            default: return ModuleError(failure, file: path, reason: "\(doing): \(text)")
            }
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(errno, "cannot open it") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ioError(errno, "cannot stat it") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ModuleError(failure, file: path, reason: status.st_mode & S_IFMT == S_IFDIR ? "is a directory, not a \(what)" : "is not a regular file")
        }
        let size = Int(status.st_size)
        guard size <= maximumSize else {
            throw ModuleError(failure, file: path, reason: "is \(size) bytes; the limit for a \(what) is \(maximumSize)")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ioError(errno, "cannot read it") }
            guard n > 0 else { throw ModuleError(failure, file: path, reason: "shrank to \(done) bytes while being read") }
            done += n
        }
        // The bytes are one version of the file only if the file did not change while being read.
        var after = stat()
        guard fstat(fd, &after) == 0 else { throw ioError(errno, "cannot stat it") }
        guard FileStamp(after) == FileStamp(status) else {
            throw ModuleError(failure, file: path, reason: "changed while being read; try again once it is written")
        }
        return (bytes, status)
    }

    /// Writes `bytes` over the file at `path` atomically (a new file renamed over it), keeping its
    /// permissions.
    static func replace(_ path: String, with bytes: [UInt8]) throws(ModuleError) {
        let temporary = path + ".modload-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
            if let permissions = attributes[.posixPermissions] {
                try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: temporary)
            }
            guard rename(temporary, path) == 0 else {
                throw ModuleError(.invalidArgument, file: path, reason: "cannot replace it: \(String(cString: strerror(errno)))")
            }
        } catch let error as ModuleError {
            unlink(temporary)
            throw error
        } catch {
            unlink(temporary)
            throw ModuleError(
                .invalidArgument, file: path,
                reason: "cannot write it: \((error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription)")
        }
    }

}
