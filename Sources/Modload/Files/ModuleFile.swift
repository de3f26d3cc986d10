#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Opening a module file: the one path every use of a file takes — a load, `modload modinfo`,
/// `depmod`, `modload sign` and `modload seal` — each step working on what the one before checked
/// (the kernel's `finit_module`: read once, check, then map what was checked).
///
/// 1. **Read** the file's bytes, once (``ModuleFileBytes``).
/// 2. **Split off** the signature trailer, once (``SignatureTrailer/split(_:file:)``).
/// 3. **The ELF image** and everything the dynamic linker follows (``ElfImage``, ``ElfDynamic``),
///    and the descriptor function of this ABI version.
/// 4. **The signature** under the policy (``SignaturePolicy``).
/// 5. **The metadata section** (``ModuleMetadata``), and — for a file with Swift code — the Swift
///    toolchain that built it, which must be the host's.
///
/// Nothing of the file has run. `modinfo` and `depmod` stop here (``ModuleFileInfo/inspect(_:keyring:)``).
/// A load goes on (``map(for:)``):
///
/// 6. **Map** exactly the bytes checked (``ImageRegistry``: a sealed private copy), which runs the
///    file's ELF constructors;
/// 7. **Read the descriptor** without trusting it, and check it agrees with the metadata
///    (``MappedDescriptor``).
struct ModuleFile {
    /// The file as read.
    let bytes: ModuleFileBytes
    /// Where the ELF image ends (a signature trailer may follow).
    let imageEnd: Int
    let elf: ElfImage
    let signature: SignatureStatus
    /// What the metadata section says.
    let metadata: ModuleMetadata

    var path: String { bytes.path }

    /// Why unloading it will retire its code rather than unmap it, or `nil` if it will be unmapped.
    var neverUnmapped: String? {
        elf.containsSwift ? "it contains Swift code" : elf.isNodelete ? "it was linked -z nodelete" : nil
    }

    /// Steps 1–5 for the file at `path`.
    ///
    /// - Throws: `notFound`, `permissionDenied`, `invalidFile`, `abiMismatch`, `badSignature`,
    ///   `keyRejected` — each naming the file.
    static func check(_ path: String, policy: SignaturePolicy) throws(ModuleError) -> ModuleFile {
        // 1. Read.
        let file = try ModuleFileBytes.read(path)
        // `withUnsafeBytes` rethrows untyped errors: carry the typed one out in a Result.
        return try file.bytes.withUnsafeBytes { all in
            Result { () throws(ModuleError) -> ModuleFile in
                // 2. The trailer's shape (a file that is not a module still says so, signed or not).
                let (imageEnd, trailer) = try SignatureTrailer.split(all, file: path)
                let image = UnsafeRawBufferPointer(rebasing: all[..<imageEnd])
                // 3. The ELF image.
                let elf = try ModuleFile.image(image, file: path)
                // 4. The signature.
                let signature = try policy.check(all, trailer: trailer, file: path)
                // 5. The metadata.
                guard let section = elf.section(named: ModuleMetadata.sectionName) else {
                    throw ModuleError(
                        .invalidFile, file: path,
                        reason: "has no metadata section (\(ModuleMetadata.sectionName)): declare a C module with the "
                            + "MODLOAD_* macros of modload.h; run `modload seal` on a Swift module after linking it")
                }
                let metadata = try ModuleMetadata.parse(UnsafeRawBufferPointer(rebasing: image[section.range]), file: path)
                if elf.containsSwift { try SwiftToolchain.check(elf, file: path) }
                return ModuleFile(bytes: file, imageEnd: imageEnd, elf: elf, signature: signature, metadata: metadata)
            }
        }.get()
    }

    /// Step 3: the image as a module of this host's ABI version.
    ///
    /// - Throws: `invalidFile` (not a module image for this machine, or bytes after the image),
    ///   `abiMismatch` (built only for other ABI versions).
    static func image(_ image: UnsafeRawBufferPointer, file: String) throws(ModuleError) -> ElfImage {
        let elf: ElfImage
        do {
            elf = try ElfImage.validate(image, descriptorPrefix: ModuleFileBytes.descriptorPrefix)
        } catch {
            throw ModuleError(.invalidFile, file: file, reason: error.reason)
        }
        guard elf.extent == image.count else {
            throw ModuleError(
                .invalidFile, file: file,
                reason: "has \(image.count - elf.extent) bytes after its ELF image that are not a signature")
        }
        let version = ModuleFileBytes.abiVersion
        guard elf.descriptorFunctions[version] != nil else {
            if elf.descriptorVersions.isEmpty {
                throw ModuleError(
                    .invalidFile, file: file,
                    reason: "not a Modload module: it does not export \(ModuleFileBytes.descriptorPrefix)\(version)()")
            }
            throw ModuleError(
                .abiMismatch, file: file,
                reason: "was built for Modload module ABI \(elf.descriptorVersions.map(String.init).joined(separator: ", ")); "
                    + "this host speaks ABI \(version)")
        }
        return elf
    }

    /// Steps 6–7, for `host` (0: no host — `modload seal`): maps the checked bytes and reads the
    /// descriptor, checked against the metadata (or not, when `agreeing` is `false`: sealing a
    /// file that has no metadata yet). On any failure the image is released again.
    func map(for host: UInt64, agreeing: Bool = true) throws(ModuleError) -> (ModuleImage, MappedDescriptor) {
        let image = try ImageRegistry.shared.map(self, host: host)
        do {
            let descriptor = try MappedDescriptor.read(
                image.descriptor, base: image.base, image: elf, agreeingWith: agreeing ? metadata : nil, file: path)
            return (image, descriptor)
        } catch {
            _ = image.release()
            throw error
        }
    }

    /// What the file is, for callers (``ModuleFileInfo``).
    var info: ModuleFileInfo {
        ModuleFileInfo(
            path: path, metadata: metadata, signature: signature, containsSwift: elf.containsSwift,
            neverUnmapped: neverUnmapped, size: imageEnd, compilers: elf.compilers)
    }
}

/// What a module file is, as opening it found it: its path, metadata, signature and code.
public struct ModuleFileInfo: Sendable, Equatable {
    /// The module-file ABI version this host speaks (`modload.h`).
    public static let abiVersion: UInt32 = ModuleFileBytes.abiVersion

    /// The path as given.
    public let path: String
    /// What its metadata section says.
    public let metadata: ModuleMetadata
    /// What the signature says (and whether the keyring it was checked against trusts it).
    public let signature: SignatureStatus
    /// `true` if the file contains Swift code (it needs the Swift runtime, or has Swift metadata).
    public let containsSwift: Bool
    /// Why unloading it will retire its code rather than unmap it, or `nil` if it will be unmapped.
    public let neverUnmapped: String?
    /// Bytes of its ELF image.
    public let size: Int
    /// The compilers that built it, as they recorded themselves (the ELF `.comment` section).
    public let compilers: [String]

    /// Reads what a module file is — metadata, signature, code — without loading it anywhere and
    /// without mapping or running any of it (`modload modinfo`, `depmod`): steps 1–5 of
    /// `ModuleFile`, under a permissive policy.
    ///
    /// - Parameters:
    ///   - path: the module file.
    ///   - keyring: keys to report the signature as trusted against.
    /// - Throws: the file errors of ``ModuleHost/insert(file:parameters:)``.
    public static func inspect(_ path: String, keyring: Keyring = Keyring()) throws(ModuleError) -> ModuleFileInfo {
        try ModuleFile.check(path, policy: SignaturePolicy(mode: .permissive, keyring: keyring)).info
    }
}

extension ModuleMetadata {
    /// The metadata of the module file at `path`, read for indexing (`depmod`), and the version of
    /// the file it was read from: steps 1, 2 and 5 of the module-file pipeline alone — the bytes
    /// read once (refused if the file changed while being read), the signature trailer split off, the
    /// metadata section found through the ELF header and section table (bounds-checked) and
    /// parsed. The rest of the image is *not* checked here: a load checks all of it and refuses a
    /// file that fails, naming it. Nothing is mapped or run.
    ///
    /// - Throws: `notFound`, `permissionDenied`, `invalidFile` (not an ELF file, no metadata
    ///   section, a malformed one, a file that changed while being read), `abiMismatch` — each
    ///   naming the file.
    public static func read(file path: String) throws(ModuleError) -> (metadata: ModuleMetadata, stamp: FileStamp) {
        let file = try ModuleFileBytes.read(path)
        let metadata = try file.bytes.withUnsafeBytes { all in
            Result { () throws(ModuleError) -> ModuleMetadata in
                let (imageEnd, _) = try SignatureTrailer.split(all, file: path)
                let image = UnsafeRawBufferPointer(rebasing: all[..<imageEnd])
                let section: Range<Int>?
                do throws(ElfImage.Invalid) {
                    section = try ElfImage.section(named: sectionName, in: image)
                } catch {
                    throw ModuleError(.invalidFile, file: path, reason: error.reason)
                }
                guard let section else {
                    throw ModuleError(.invalidFile, file: path, reason: "has no metadata section (\(sectionName))")
                }
                return try parse(UnsafeRawBufferPointer(rebasing: image[section]), file: path)
            }
        }.get()
        return (metadata, file.stamp)
    }
}

/// Which Swift toolchain built a file, as the compiler recorded itself in `.comment` (Swift has no
/// stable ABI on Linux: a module built by another toolchain would bring a second runtime, or call
/// this one wrongly).
enum SwiftToolchain {
    /// The compiler line of a Swift toolchain: its LLVM names the swiftlang repository and commit.
    static func line(in compilers: [String]) -> String? {
        compilers.first { $0.contains("swiftlang") || $0.hasPrefix("Swift version") }
    }

    /// The toolchain that built this process's executable, if it says.
    static let host: String? = line(in: ElfImage.compilers(ofFileAt: "/proc/self/exe"))

    /// Refuses a Swift file built by another toolchain than the host's (`abiMismatch`, naming both).
    static func check(_ elf: ElfImage, file: String) throws(ModuleError) {
        guard let host else { return }  // the host's own build does not say: nothing to compare with
        guard let module = line(in: elf.compilers) else {
            throw ModuleError(
                .abiMismatch, file: file,
                reason: "contains Swift code but records no Swift toolchain (.comment); this host was built by \(host)")
        }
        guard module == host else {
            throw ModuleError(
                .abiMismatch, file: file, reason: "was built by Swift toolchain \(module); this host was built by \(host)")
        }
    }
}
