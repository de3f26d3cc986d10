#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A module loaded from a module file: the definition the host's load pipeline runs, so a file
/// gets the same states, merging, references, symbols, parameters and events as a built-in module.
///
/// Its metadata is the file's metadata section; its entry points and export addresses are the
/// descriptor's, checked (`MappedDescriptor`). Entry points run on entry-point threads
/// (`EntryThreads`), exports are ``SymbolAddress`` values with C signatures, and the mapped image
/// is released once the module is gone: unmapped for C code, retired for Swift code
/// (``ImageRelease``).
public final class FileModule: ModuleDefinition, FileBackedDefinition {
    /// The module's name.
    public let name: String
    /// Its version.
    public let version: String
    /// What it does.
    public let description: String
    /// Its license.
    public let license: String
    /// Bytes of the ELF image.
    public let size: Int
    /// How callers account for it.
    public let accounting: ModuleAccounting
    /// Names it is also requested by.
    public let aliases: [String]
    /// Its exports, with their addresses.
    public let exports: [ExportedSymbol]
    /// Its imports.
    public let imports: [ImportedSymbol]
    /// Its parameters.
    public let parameters: [ModuleParameter]
    /// ``TaintFlags/unsignedModule`` if the signature policy let it in unsigned or untrusted.
    public let taints: TaintFlags
    /// What the file is.
    public let file: ModuleFileInfo

    let image: ModuleImage
    private let entryPoints: MappedDescriptor
    private let link: FileModuleLink
    /// The counters of the host that loads it (images mapped, unmapped, retired).
    private let loads: ModuleFileLoads

    /// Who owns the image: nobody yet (the load may never run), the module (a record holds this
    /// definition), or released.
    private let ownership = Atomic<UInt8>(Ownership.unclaimed)
    private enum Ownership {
        static let unclaimed: UInt8 = 0, module: UInt8 = 1, released: UInt8 = 2
    }

    init(file: ModuleFile, image: ModuleImage, descriptor: MappedDescriptor, loads: ModuleFileLoads) {
        let metadata = file.metadata
        name = metadata.name
        version = metadata.version
        description = metadata.description
        license = metadata.license
        size = file.imageEnd
        accounting = metadata.accounting
        aliases = metadata.aliases
        exports = metadata.exports.map { export in
            ExportedSymbol(export.name, signature: export.signature, value: SymbolAddress(descriptor.exports[export.name]!))
        }
        imports = metadata.imports.map { ImportedSymbol($0.name, signature: $0.signature) }
        parameters = metadata.parameters
        taints = file.signature.kind == .trusted ? [] : [.unsignedModule]
        self.file = file.info
        self.image = image
        self.entryPoints = descriptor
        self.loads = loads
        link = FileModuleLink(module: metadata.name)
    }

    var filePath: String { file.path }

    /// Runs the descriptor's init on an entry-point thread.
    public func initialize(_ context: ModuleContext) async throws {
        link.enter(context, scope: LoadScope.current)
        defer { link.leaveInit() }
        let (initialize, link) = (entryPoints.initialize, link)
        let result = await EntryThreads.shared.run { initialize(FileModuleLink.api, link.handle) }
        if result != 0 { throw entryPointError("init", result) }
    }

    /// Runs the descriptor's cleanup, if it has one; a negative errno refuses the unload.
    public func cleanup(_ context: ModuleContext) async throws {
        guard let cleanup = entryPoints.cleanup else { return }
        link.enter(context, scope: nil)
        let link = link
        let result = await EntryThreads.shared.run { cleanup(FileModuleLink.api, link.handle) }
        if result != 0 { throw entryPointError("cleanup", result) }
    }

    /// Runs the descriptor's exit, if it has one, then releases references it left behind.
    public func exit(_ context: ModuleContext) async {
        link.enter(context, scope: nil)
        if let exit = entryPoints.exit {
            let link = link
            await EntryThreads.shared.run { exit(FileModuleLink.api, link.handle) }
        }
        link.releaseLeftoverReferences()
    }

    private func entryPointError(_ entry: String, _ result: Int32) -> ModuleError {
        guard result < 0, result > Int32.min else {
            return ModuleError(.invalidArgument, module: name, reason: "\(entry) returned \(result), not 0 or a negative errno")
        }
        let code = ModuleError.Code.fromErrno(-result)
        return ModuleError(code, module: name, reason: "\(entry) returned -\(-result) (\(String(cString: strerror(-result))))")
    }

    // MARK: The image's owner

    func claim() {
        let claimed = ownership.compareExchange(expected: Ownership.unclaimed, desired: Ownership.module, ordering: .acquiringAndReleasing).exchanged
        precondition(claimed, "module file \(file.path) loaded twice from one definition")
    }

    func release(referencesRemain: Bool) async -> ImageRelease {
        await Quiescence.synchronize()  // no reader can reach the module's code any more
        ownership.store(Ownership.released, ordering: .releasing)
        let release = image.release(keepMapped: referencesRemain ? "references to it outlived the module" : nil)
        loads.count(release)
        return release
    }

    /// Releases the image if the load never made a module of this definition (it found the module
    /// live, joined another load, or failed before admission). Returns what happened, or `nil` if
    /// a module owns the image.
    func releaseImageIfUnclaimed() -> ImageRelease? {
        guard ownership.compareExchange(expected: Ownership.unclaimed, desired: Ownership.released, ordering: .acquiringAndReleasing).exchanged
        else { return nil }
        let release = image.release()
        loads.count(release)
        return release
    }
}
