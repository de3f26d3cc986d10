#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI
import CModloadLinux
import Synchronization

/// What became of a module file's code when its module was gone (``ModuleHost/UnloadOutcome/image``).
public enum ImageRelease: Sendable, Equatable, CustomStringConvertible {
    /// The file was closed and the dynamic linker dropped it: its pages are unmapped.
    case unmapped
    /// Its code stays mapped for good — exit ran, references drained, the table entry is gone —
    /// because unmapping it would not be safe. `reason` says why: it contains Swift code (DESIGN
    /// §11), it was linked `-z nodelete`, a forced unload left references into it, or something
    /// else in the process still has it open.
    case retired(reason: String)
    /// Another load of the same file in this host still uses the mapping; it is unmapped when that
    /// load lets go of it.
    case shared

    public var description: String {
        switch self {
        case .unmapped: "unmapped"
        case .retired(let reason): "retired (\(reason))"
        case .shared: "still mapped by another load of the same file"
        }
    }
}

/// A module file mapped into the process: one `dlopen` reference on it, closed once with
/// ``release(keepMapped:)``.
///
/// How a file is mapped (``ImageRegistry/map(_:host:)``):
/// - **C code** is mapped from its own path, so the dynamic linker, debuggers and
///   `/proc/self/maps` name it, and can be unmapped for real.
/// - **Swift code** (or a file linked `-z nodelete`) can never be unmapped, so it is mapped from a
///   *sealed private copy* of the bytes that were validated (a memory file): every version of a
///   file gets its own image, an updated module really runs new code, and nothing can change the
///   code after it was checked.
/// - A C file whose path or inode is already mapped — an older version of it, or the same file
///   loaded by another host (hosts share nothing, not even a module's globals) — is mapped from a
///   private copy too, because the dynamic linker would hand back the image it already has.
/// - A host loading a file version it already has mapped (a duplicate load, or a retired Swift
///   image loaded again) shares that image.
final class ModuleImage: @unchecked Sendable {  // immutable but for `released`, an atomic
    /// The path the caller gave.
    let source: String
    /// Why it is never unmapped (Swift code, `-z nodelete`), or `nil` if it can be.
    let neverUnmapped: String?
    /// The descriptor the module's descriptor function returned.
    let descriptor: UnsafePointer<modload_descriptor>
    /// Bytes of the ELF image.
    let size: Int
    private let handle: UnsafeMutableRawPointer
    private let released = Atomic<Bool>(false)

    fileprivate init(
        source: String, neverUnmapped: String?, descriptor: UnsafePointer<modload_descriptor>, size: Int,
        handle: UnsafeMutableRawPointer
    ) {
        self.source = source
        self.neverUnmapped = neverUnmapped
        self.descriptor = descriptor
        self.size = size
        self.handle = handle
    }

    /// Lets go of the image: closes it, unless it must stay mapped — `keepMapped` says why
    /// (references a forced unload left behind). The caller guarantees that no module code runs
    /// and no reader can reach the image any more (exit returned, a grace period passed).
    func release(keepMapped: String? = nil) -> ImageRelease {
        let first = released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        precondition(first, "module image \(source) released twice")
        return ImageRegistry.shared.release(handle, of: source, keepMapped: keepMapped)
    }
}

/// The module images of the process, by dynamic-linker object (the dynamic linker's namespace is
/// per process, so this is too). See ``ModuleImage`` for the mapping rules.
///
/// Lock rule: `state` is held across each decision *and* the `dlopen`/`dlclose` that carries it
/// out, so a load can never share an object another thread is closing. It costs no parallelism —
/// the dynamic linker serialises `dlopen` and `dlclose` with its own lock anyway — but it means
/// module constructors and destructors (which those calls run) must not map module files. The
/// descriptor function and every entry point run outside it.
final class ImageRegistry: Sendable {
    static let shared = ImageRegistry()

    /// One mapped object.
    private struct Entry {
        let host: UInt64
        let identity: FileIdentity
        let mappedPath: String
        /// The private copy's memory file: open for as long as the object is mapped, so its
        /// `/proc/self/fd/N` name cannot be reused for another file.
        let memoryFile: Int32?
        /// Live ``ModuleImage``s on it.
        var users: Int
        /// Why it is never to be unmapped (kept, and shareable by its host, for good), or `nil`.
        var retired: String?
    }

    private struct Source: Hashable {
        let host: UInt64
        let identity: FileIdentity
    }

    private struct State {
        var entries: [UInt: Entry] = [:]
        /// Which image a host has of a file version (shared by its later loads of it).
        var bySource: [Source: UInt] = [:]
        /// Objects mapped from their own path: by the path, and by the file.
        var byPath: [String: UInt] = [:]
        var byFile: [FileIdentity.FileKey: UInt] = [:]

        mutating func forget(_ key: UInt, _ entry: Entry) {
            if bySource[Source(host: entry.host, identity: entry.identity)] == key {
                bySource[Source(host: entry.host, identity: entry.identity)] = nil
            }
            if byPath[entry.mappedPath] == key { byPath[entry.mappedPath] = nil }
            if entry.memoryFile == nil, byFile[entry.identity.file] == key { byFile[entry.identity.file] = nil }
        }
    }
    private let state = Locked(State())

    /// Maps a validated module file for `host`: shares the host's image of this file version, or
    /// maps the file (from its path when that is safe, else from a sealed private copy), then
    /// finds its descriptor function.
    ///
    /// - Throws: `invalidFile` (the dynamic linker refused it, or no descriptor function),
    ///   `abiMismatch`.
    func map(_ file: ValidatedModuleFile, host: UInt64) throws(ModuleError) -> ModuleImage {
        let source = Source(host: host, identity: file.bytes.identity)
        let neverUnmapped =
            file.elf.containsSwift ? "it contains Swift code" : file.elf.isNodelete ? "it was linked -z nodelete" : nil
        let flags = RTLD_NOW | RTLD_LOCAL | (neverUnmapped != nil ? RTLD_NODELETE : 0)
        let path = absolute(file.bytes.path)

        let handle = try state.withLock { (s) throws(ModuleError) -> UnsafeMutableRawPointer in
            // The host's own image of this version: share it (one more dlopen reference).
            if let key = s.bySource[source], let entry = s.entries[key], let handle = dlopen(entry.mappedPath, flags) {
                if UInt(bitPattern: handle) == key {
                    s.entries[key]!.users += 1
                    return handle
                }
                dlclose(handle)
            }
            // C code whose path and file are not mapped yet: map it in place — if the file is
            // still the version validated, and the object is no one else's.
            if neverUnmapped == nil, s.byPath[path] == nil, s.byFile[file.bytes.identity.file] == nil {
                guard let handle = dlopen(path, flags) else { throw refused(file) }
                let key = UInt(bitPattern: handle)
                if s.entries[key] == nil, FileIdentity.of(path) == file.bytes.identity {
                    s.entries[key] = Entry(
                        host: host, identity: file.bytes.identity, mappedPath: path, memoryFile: nil, users: 1, retired: nil)
                    s.bySource[source] = key
                    s.byPath[path] = key
                    s.byFile[file.bytes.identity.file] = key
                    return handle
                }
                dlclose(handle)
            }
            // Otherwise: a sealed private copy of exactly the bytes validated.
            let copy = try privateCopy(file)
            let copyPath = "/proc/self/fd/\(copy)"
            guard let handle = dlopen(copyPath, flags) else {
                let error = refused(file)
                close(copy)
                throw error
            }
            let key = UInt(bitPattern: handle)
            s.entries[key] = Entry(
                host: host, identity: file.bytes.identity, mappedPath: copyPath, memoryFile: copy, users: 1,
                retired: neverUnmapped)
            s.bySource[source] = key
            return handle
        }
        return try image(file, handle: handle, neverUnmapped: neverUnmapped)
    }

    /// Finds and calls the descriptor function of a freshly mapped object; on failure the object
    /// is released again.
    private func image(
        _ file: ValidatedModuleFile, handle: UnsafeMutableRawPointer, neverUnmapped: String?
    ) throws(ModuleError) -> ModuleImage {
        let symbol = ModuleFileBytes.descriptorPrefix + String(ModuleFileBytes.abiVersion)
        let function = dlsym(handle, symbol)
        guard let function, let descriptor = unsafeBitCast(function, to: modload_descriptor_fn.self)() else {
            _ = release(handle, of: file.bytes.path, keepMapped: nil)
            throw ModuleError(
                .invalidFile, file: file.bytes.path,
                reason: function == nil
                    ? "not a Modload module: it does not export \(symbol)()" : "\(symbol)() returned NULL")
        }
        return ModuleImage(
            source: file.bytes.path, neverUnmapped: neverUnmapped, descriptor: descriptor, size: file.imageEnd,
            handle: handle)
    }

    /// Drops one `dlopen` reference on the object `handle` (mapped from the file `source`):
    /// closes the object when no image of it is left, unless it is retired or `keepMapped`.
    fileprivate func release(_ handle: UnsafeMutableRawPointer, of source: String, keepMapped: String?) -> ImageRelease {
        let key = UInt(bitPattern: handle)
        return state.withLock { s in
            guard var entry = s.entries[key] else { preconditionFailure("module image \(source) is not registered") }
            entry.users -= 1
            defer { if s.entries[key] != nil { s.entries[key] = entry } }
            // Objects that stay mapped keep this image's dlopen reference for good.
            if let keepMapped {
                entry.retired = entry.retired ?? keepMapped
                return .retired(reason: keepMapped)
            }
            if let reason = entry.retired { return .retired(reason: reason) }
            dlclose(handle)
            guard entry.users == 0 else { return .shared }  // another load of this host still uses it
            s.forget(key, entry)
            // Did the dynamic linker drop it? (Code outside Modload may hold it open.)
            if let still = dlopen(entry.mappedPath, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) {
                dlclose(still)
                let reason = "something else in the process still has the file open"
                entry.retired = reason
                return .retired(reason: reason)
            }
            s.entries[key] = nil
            if let memoryFile = entry.memoryFile { close(memoryFile) }
            return .unmapped
        }
    }

    /// How many objects `host` has mapped now, counting retired ones.
    func objects(of host: UInt64) -> Int {
        state.withLock { $0.entries.values.filter { $0.host == host }.count }
    }

    /// The path made absolute (not resolving links): the name the dynamic linker will know it by.
    private func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
    }

    /// A sealed memory file holding the validated ELF image.
    private func privateCopy(_ file: ValidatedModuleFile) throws(ModuleError) -> Int32 {
        let name = "modload:" + (file.bytes.path.split(separator: "/").last.map(String.init) ?? "module")
        let fd = ml_memfd_create(name)
        guard fd >= 0 else {
            throw ModuleError(
                .invalidFile, file: file.bytes.path,
                reason: "cannot make a private copy to map (memfd_create: \(String(cString: strerror(errno))))")
        }
        let written = file.bytes.bytes.withUnsafeBytes { bytes -> Bool in
            var done = 0
            while done < file.imageEnd {
                let n = write(fd, bytes.baseAddress! + done, file.imageEnd - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        guard written, ml_seal_contents(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ModuleError(.invalidFile, file: file.bytes.path, reason: "cannot make a private copy to map: \(reason)")
        }
        return fd
    }

    private func refused(_ file: ValidatedModuleFile) -> ModuleError {
        let message = dlerror().map { String(cString: $0) } ?? "unknown error"
        return ModuleError(.invalidFile, file: file.bytes.path, reason: "the dynamic linker refused it: \(message)")
    }
}

/// A module file whose bytes passed every check that needs no mapping: ELF structure, descriptor
/// symbol and ABI version, signature under the host's policy.
struct ValidatedModuleFile {
    let bytes: ModuleFileBytes
    /// Where the ELF image ends (a signature trailer may follow).
    let imageEnd: Int
    let elf: ElfImage
    let signature: SignatureStatus

    /// Reads and checks the file at `path` under `policy`.
    static func read(_ path: String, policy: SignaturePolicy) throws(ModuleError) -> ValidatedModuleFile {
        let file = try ModuleFileBytes.read(path)
        // `withUnsafeBytes` rethrows untyped errors: carry the typed one out in a Result.
        return try file.bytes.withUnsafeBytes { all in
            Result { () throws(ModuleError) -> ValidatedModuleFile in
                // The trailer's shape, then the ELF image (a file that is not a module says so,
                // signed or not), then the signature itself and the policy.
                var imageEnd = all.count
                if SignatureTrailer.isPresent(in: all) {
                    do throws(SignatureTrailer.Malformed) {
                        imageEnd = try SignatureTrailer.parse(all).imageEnd
                    } catch {
                        throw ModuleError(.badSignature, file: path, reason: error.reason)
                    }
                }
                let elf = try ModuleFileBytes.validateImage(UnsafeRawBufferPointer(rebasing: all[..<imageEnd]), file: path)
                let (_, signature) = try policy.check(all, file: path)
                return ValidatedModuleFile(bytes: file, imageEnd: imageEnd, elf: elf, signature: signature)
            }
        }.get()
    }
}
