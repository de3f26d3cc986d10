#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI
import Synchronization

/// What a module file is, as loading found it: its path, descriptor, signature and code.
public struct ModuleFileInfo: Sendable, Equatable {
    /// The path as given.
    public let path: String
    /// What the descriptor says.
    public let descriptor: ModuleFileDescriptor
    /// What the signature says (and whether the host's keyring trusts it).
    public let signature: SignatureStatus
    /// `true` if the file contains Swift code (it needs the Swift runtime, or has Swift metadata).
    public let containsSwift: Bool
    /// Why unloading it will retire its code rather than unmap it, or `nil` if it will be unmapped.
    public let neverUnmapped: String?
    /// Bytes of its ELF image.
    public let size: Int

    /// Reads, validates and maps the module file at `path` for `host` (0: no host) and reads its
    /// descriptor — everything a load does before the pipeline. On a bad descriptor the image is
    /// released again.
    static func open(_ path: String, policy: SignaturePolicy, host: UInt64) throws(ModuleError) -> (ModuleImage, ModuleFileInfo) {
        let validated = try ValidatedModuleFile.read(path, policy: policy)
        let image = try ImageRegistry.shared.map(validated, host: host)
        do {
            let descriptor = try ModuleFileDescriptor.read(image.descriptor.pointee, file: path)
            return (
                image,
                ModuleFileInfo(
                    path: path, descriptor: descriptor, signature: validated.signature,
                    containsSwift: validated.elf.containsSwift, neverUnmapped: image.neverUnmapped, size: image.size)
            )
        } catch {
            _ = image.release()
            throw error
        }
    }
}

/// A module loaded from a module file: the definition the host's load pipeline runs, so a file
/// gets the same states, merging, references, symbols, parameters and events as a built-in module.
///
/// Its entry points run on entry-point threads (``EntryThreads``), its exports are
/// ``SymbolAddress`` values with C signatures, and its mapped image is released by the host once
/// the module is gone: unmapped for C code, retired for Swift code (``ImageRelease``).
public final class FileModule: ModuleDefinition {
    /// The descriptor's name.
    public let name: String
    /// The descriptor's version.
    public let version: String
    /// The descriptor's description.
    public let description: String
    /// The descriptor's license.
    public let license: String
    /// Bytes of the ELF image.
    public let size: Int
    /// The descriptor's accounting.
    public let accounting: ModuleAccounting
    /// The descriptor's exports, with their addresses.
    public let exports: [ExportedSymbol]
    /// The descriptor's imports.
    public let imports: [ImportedSymbol]
    /// The descriptor's parameters.
    public let parameters: [ModuleParameter]
    /// ``TaintFlags/unsignedModule`` if the signature policy let it in unsigned or untrusted.
    public let taints: TaintFlags
    /// What the file is.
    public let file: ModuleFileInfo

    let image: ModuleImage
    let link: FileModuleLink

    /// Who owns the image: nobody yet (the load may never run), the module (a record holds this
    /// definition), or released.
    private let ownership = Atomic<UInt8>(Ownership.unclaimed)
    private enum Ownership {
        static let unclaimed: UInt8 = 0, module: UInt8 = 1, released: UInt8 = 2
    }

    init(image: ModuleImage, file: ModuleFileInfo) {
        let descriptor = file.descriptor
        let addresses = image.descriptor.pointee.exports
        name = descriptor.name
        version = descriptor.version
        description = descriptor.description
        license = descriptor.license
        size = file.size
        accounting = descriptor.accounting
        exports = descriptor.exports.enumerated().map { index, export in
            ExportedSymbol(export.name, signature: export.signature, value: SymbolAddress(addresses![index].address!))
        }
        imports = descriptor.imports.map { ImportedSymbol($0.name, signature: $0.signature) }
        parameters = descriptor.parameters
        taints = file.signature.kind == .trusted ? [] : [.unsignedModule]
        self.file = file
        self.image = image
        link = FileModuleLink(module: descriptor.name)
    }

    /// The address of one of its exports — how a caller of a noncounting module file reaches its
    /// functions inside ``ModuleHost/withModule(_:_:)``.
    public func address(ofExport symbol: String) -> SymbolAddress? {
        exports.first { $0.name == symbol }?.value as? SymbolAddress
    }

    /// Runs the descriptor's init on an entry-point thread.
    public func initialize(_ context: ModuleContext) async throws {
        link.enter(context, scope: LoadScope.current)
        defer { link.leaveInit() }
        let (image, link) = (image, link)
        let result = await EntryThreads.shared.run {
            image.descriptor.pointee.`init`!(FileModuleLink.api, link.handle)
        }
        if result != 0 { throw entryPointError("init", result) }
    }

    /// Runs the descriptor's cleanup, if it has one; a negative errno refuses the unload.
    public func cleanup(_ context: ModuleContext) async throws {
        guard image.descriptor.pointee.cleanup != nil else { return }
        link.enter(context, scope: nil)
        let (image, link) = (image, link)
        let result = await EntryThreads.shared.run { image.descriptor.pointee.cleanup!(FileModuleLink.api, link.handle) }
        if result != 0 { throw entryPointError("cleanup", result) }
    }

    /// Runs the descriptor's exit, if it has one, then releases references it left behind.
    public func exit(_ context: ModuleContext) async {
        link.enter(context, scope: nil)
        if image.descriptor.pointee.exit != nil {
            let (image, link) = (image, link)
            await EntryThreads.shared.run { image.descriptor.pointee.exit!(FileModuleLink.api, link.handle) }
        }
        link.releaseLeftoverReferences()
    }

    private func entryPointError(_ entry: String, _ result: Int32) -> ModuleError {
        guard result < 0 else {
            return ModuleError(.invalidArgument, module: name, reason: "\(entry) returned \(result), not 0 or a negative errno")
        }
        let code = ModuleError.Code.fromErrno(-result)
        return ModuleError(code, module: name, reason: "\(entry) returned -\(-result) (\(String(cString: strerror(-result))))")
    }

    // MARK: The image's owner

    /// A record now holds this definition: the host releases the image when the module is gone.
    func claimForModule() {
        let claimed = ownership.compareExchange(expected: Ownership.unclaimed, desired: Ownership.module, ordering: .acquiringAndReleasing).exchanged
        precondition(claimed, "module file \(file.path) loaded twice from one definition")
    }

    /// The module is gone and a grace period has passed (no reader can reach the image): releases
    /// it, keeping it mapped if references outlived the module.
    func releaseImage(referencesRemain: Bool) -> ImageRelease {
        ownership.store(Ownership.released, ordering: .releasing)
        return image.release(keepMapped: referencesRemain ? "references to it outlived the module" : nil)
    }

    /// Releases the image if the load never made a module of this definition (it found the module
    /// live, joined another load, or failed before admission). Returns what happened, or `nil` if
    /// a module owns the image.
    func releaseImageIfUnclaimed() -> ImageRelease? {
        guard ownership.compareExchange(expected: Ownership.unclaimed, desired: Ownership.released, ordering: .acquiringAndReleasing).exchanged
        else { return nil }
        return image.release()
    }
}
