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
    /// because unmapping it would not be safe. `reason` says why: it contains Swift code (docs/design.md
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
/// Every module file is mapped from a *sealed private copy* of exactly the bytes that were checked
/// (a memory file, ``ImageRegistry/map(_:host:)``): a file changed or swapped on disk between the
/// check and the mapping cannot run instead of what was checked — under the enforce policy too —
/// every version of a file gets its own image, and nothing can change the code after it was
/// checked. (`/proc/self/maps` and debuggers name the copy `memfd:modload:FILE`.) A host loading a
/// file version it already has mapped (a duplicate load, or a retired Swift image loaded again)
/// shares that image; each host maps its own copy (hosts share nothing, not a module's globals).
final class ModuleImage: @unchecked Sendable {  // immutable but for `released`, an atomic
    /// The path the caller gave.
    let source: String
    /// Why it is never unmapped (Swift code, `-z nodelete`), or `nil` if it can be.
    let neverUnmapped: String?
    /// What the module's descriptor function returned (not yet trusted: ``MappedDescriptor``).
    let descriptor: UnsafeRawPointer
    /// Where the image was loaded: its addresses are this plus the ELF's.
    let base: UInt
    /// Bytes of the ELF image.
    let size: Int
    private let handle: UnsafeMutableRawPointer
    private let released = Atomic<Bool>(false)

    fileprivate init(
        source: String, neverUnmapped: String?, descriptor: UnsafeRawPointer, base: UInt, size: Int,
        handle: UnsafeMutableRawPointer
    ) {
        self.source = source
        self.neverUnmapped = neverUnmapped
        self.descriptor = descriptor
        self.base = base
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
        let stamp: FileStamp
        let mappedPath: String
        /// The private copy's memory file: open for as long as the object is mapped, so its
        /// `/proc/self/fd/N` name cannot be reused for another file.
        let memoryFile: Int32
        /// Live ``ModuleImage``s on it.
        var users: Int
        /// Why it is never to be unmapped (kept, and shareable by its host, for good), or `nil`.
        var retired: String?
    }

    private struct Source: Hashable {
        let host: UInt64
        let stamp: FileStamp
    }

    private struct State {
        var entries: [UInt: Entry] = [:]
        /// Which image a host has of a file version (shared by its later loads of it).
        var bySource: [Source: UInt] = [:]
    }
    private let state = Locked(State())

    /// Runs between a file's check and its mapping, for a test that swaps the file in that
    /// window. `nil` outside such tests.
    let beforeMapping = Locked<(@Sendable (String) -> Void)?>(nil)

    /// Maps a checked module file for `host`: shares the host's image of this file version, or
    /// maps a sealed private copy of the checked bytes, then finds its descriptor function.
    ///
    /// - Throws: `invalidFile` (the dynamic linker refused it, or no descriptor function).
    func map(_ file: ModuleFile, host: UInt64) throws(ModuleError) -> ModuleImage {
        let source = Source(host: host, stamp: file.bytes.stamp)
        let neverUnmapped = file.neverUnmapped
        let flags = RTLD_NOW | RTLD_LOCAL | (neverUnmapped != nil ? RTLD_NODELETE : 0)
        beforeMapping.withLock { $0 }?(file.path)

        let handle = try state.withLock { (s) throws(ModuleError) -> UnsafeMutableRawPointer in
            // The host's own image of this version: share it (one more dlopen reference).
            if let key = s.bySource[source], let entry = s.entries[key], let handle = dlopen(entry.mappedPath, flags) {
                if UInt(bitPattern: handle) == key {
                    s.entries[key]!.users += 1
                    return handle
                }
                dlclose(handle)
            }
            // A sealed private copy of exactly the bytes checked.
            let copy = try privateCopy(file)
            let copyPath = "/proc/self/fd/\(copy)"
            guard let handle = dlopen(copyPath, flags) else {
                let error = refused(file)
                close(copy)
                throw error
            }
            let key = UInt(bitPattern: handle)
            s.entries[key] = Entry(
                host: host, stamp: file.bytes.stamp, mappedPath: copyPath, memoryFile: copy, users: 1,
                retired: neverUnmapped)
            s.bySource[source] = key
            return handle
        }
        return try image(file, handle: handle, neverUnmapped: neverUnmapped)
    }

    /// Finds and calls the descriptor function of a freshly mapped object; on failure the object
    /// is released again. The function must be where the checked symbol table says it is.
    private func image(
        _ file: ModuleFile, handle: UnsafeMutableRawPointer, neverUnmapped: String?
    ) throws(ModuleError) -> ModuleImage {
        let symbol = ModuleFileBytes.descriptorPrefix + String(ModuleFileBytes.abiVersion)
        func fail(_ reason: String) -> ModuleError {
            _ = release(handle, of: file.path, keepMapped: nil)
            return ModuleError(.invalidFile, file: file.path, reason: reason)
        }
        guard let function = dlsym(handle, symbol), let offset = file.elf.descriptorFunctions[ModuleFileBytes.abiVersion],
            UInt(bitPattern: function) >= UInt(offset)
        else { throw fail("not a Modload module: it does not export \(symbol)()") }
        let base = UInt(bitPattern: function) - UInt(offset)
        guard let descriptor = unsafeBitCast(function, to: (@convention(c) () -> UnsafeRawPointer?).self)() else {
            throw fail("\(symbol)() returned NULL")
        }
        return ModuleImage(
            source: file.path, neverUnmapped: neverUnmapped, descriptor: descriptor, base: base, size: file.imageEnd,
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
            if s.bySource[Source(host: entry.host, stamp: entry.stamp)] == key {
                s.bySource[Source(host: entry.host, stamp: entry.stamp)] = nil
            }
            // Did the dynamic linker drop it? (Code outside Modload may hold it open.)
            if let still = dlopen(entry.mappedPath, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) {
                dlclose(still)
                let reason = "something else in the process still has the file open"
                entry.retired = reason
                return .retired(reason: reason)
            }
            s.entries[key] = nil
            close(entry.memoryFile)
            return .unmapped
        }
    }

    /// How many objects `host` has mapped now, counting retired ones.
    func objects(of host: UInt64) -> Int {
        state.withLock { $0.entries.values.filter { $0.host == host }.count }
    }

    /// A sealed memory file holding the checked ELF image.
    private func privateCopy(_ file: ModuleFile) throws(ModuleError) -> Int32 {
        // Named after the file (its last 200 bytes of path): /proc/self/maps and debuggers show
        // `/memfd:modload:PATH (deleted)`.
        let name = "modload:" + String(decoding: Array(file.path.utf8).suffix(200), as: UTF8.self)
        let fd = ml_memfd_create(name)
        guard fd >= 0 else {
            throw ModuleError(
                .invalidFile, file: file.path,
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
            throw ModuleError(.invalidFile, file: file.path, reason: "cannot make a private copy to map: \(reason)")
        }
        return fd
    }

    private func refused(_ file: ModuleFile) -> ModuleError {
        let message = dlerror().map { String(cString: $0) } ?? "unknown error"
        return ModuleError(.invalidFile, file: file.path, reason: "the dynamic linker refused it: \(message)")
    }
}
