#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI

/// A module file as read from disk, before anything of it is mapped: its bytes and its identity.
///
/// Everything that can be checked without running the module is checked on these bytes: the ELF
/// structure (``ElfImage``), the descriptor symbol's ABI version, and the signature.
struct ModuleFileBytes {
    /// The path as the caller gave it.
    let path: String
    /// Every byte of the file.
    let bytes: [UInt8]
    /// Which file, in which version, these bytes are.
    let identity: FileIdentity

    /// Larger files are refused (a module is code, not data).
    static let maximumSize = 1 << 30

    /// The descriptor function's name without its version suffix.
    static let descriptorPrefix = "modload_module_descriptor_v"
    /// The one ABI version this host speaks.
    static let abiVersion = MODLOAD_ABI_VERSION

    /// Reads the file at `path`.
    ///
    /// - Throws: `notFound` if there is no such file, `permissionDenied` if it cannot be read,
    ///   `invalidFile` if it is not a regular file or is too large.
    static func read(_ path: String) throws(ModuleError) -> ModuleFileBytes {
        guard !path.isEmpty else { throw ModuleError(.invalidArgument, reason: "module file path is empty") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(errno, path, "cannot open it") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ioError(errno, path, "cannot stat it") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ModuleError(.invalidFile, file: path, reason: "is not a regular file")
        }
        let size = Int(status.st_size)
        guard size <= maximumSize else {
            throw ModuleError(.invalidFile, file: path, reason: "is \(size) bytes; the limit for a module file is \(maximumSize)")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, size - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ioError(errno, path, "cannot read it") }
            guard n > 0 else {
                throw ModuleError(.invalidFile, file: path, reason: "shrank to \(done) bytes while being read")
            }
            done += n
        }
        return ModuleFileBytes(path: path, bytes: bytes, identity: FileIdentity(status))
    }

    /// Checks the ELF image (the file without its signature trailer) as a module of this host's
    /// ABI version.
    ///
    /// - Throws: `invalidFile` (not a module image for this machine, or bytes after the image),
    ///   `abiMismatch` (built only for other ABI versions).
    static func validateImage(_ image: UnsafeRawBufferPointer, file: String) throws(ModuleError) -> ElfImage {
        let elf: ElfImage
        do {
            elf = try ElfImage.validate(image, descriptorPrefix: descriptorPrefix, abiVersion: abiVersion)
        } catch {
            throw ModuleError(.invalidFile, file: file, reason: error.reason)
        }
        if let versions = elf.descriptorVersions, !versions.contains(abiVersion) {
            throw ModuleError(
                .abiMismatch, file: file,
                reason: "was built for Modload module ABI \(versions.map(String.init).joined(separator: ", ")); "
                    + "this host speaks ABI \(abiVersion)")
        }
        guard elf.extent == image.count else {
            throw ModuleError(
                .invalidFile, file: file,
                reason: "has \(image.count - elf.extent) bytes after its ELF image that are not a signature")
        }
        return elf
    }

    private static func ioError(_ code: Int32, _ path: String, _ what: String) -> ModuleError {
        let text = String(cString: strerror(code))
        switch code {
        case ENOENT, ENOTDIR: return ModuleError(.notFound, file: path, reason: "no such module file")
        case EACCES, EPERM: return ModuleError(.permissionDenied, file: path, reason: "\(what): \(text)")
        default: return ModuleError(.invalidFile, file: path, reason: "\(what): \(text)")
        }
    }
}

/// Which file, in which version: device and inode, size, and modification and change times. Two
/// reads with equal identities read the same bytes (a write changes the change time).
struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modified: Int64
    let changed: Int64

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        changed = Int64(status.st_ctim.tv_sec) * 1_000_000_000 + Int64(status.st_ctim.tv_nsec)
    }

    /// The identity of the file now at `path`, or `nil` if it cannot be stat'ed.
    static func of(_ path: String) -> FileIdentity? {
        var status = stat()
        return stat(path, &status) == 0 ? FileIdentity(status) : nil
    }

    /// The same file (whatever its version): what the dynamic linker matches loaded objects by.
    var file: FileKey { FileKey(device: device, inode: inode) }

    struct FileKey: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64
    }
}
