#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI

/// A module file written in Swift: what it is, what it exports, imports and accepts, and its entry
/// points. Its ``descriptor`` is the C descriptor of `modload.h`, which the module's one exported
/// function returns:
///
/// ```swift
/// import ModloadModule
///
/// let checksum: @convention(c) (UInt32) -> UInt32 = { $0 &* 31 }
///
/// let module = ModuleDescription(
///     name: "hello", version: "1.0", description: "says hello", license: "MIT",
///     exports: [.function("hello_checksum", checksum)],
///     parameters: [.int("times", default: 1, description: "how often to say it")]
/// ) { host in
///     for _ in 0..<(host.int("times") ?? 1) { host.log("hello") }
/// }
///
/// @_cdecl("modload_module_descriptor_v2")
/// public func modloadModuleDescriptor() -> UnsafeRawPointer { module.descriptor }
/// ```
///
/// Build the module as a shared library that contains this library (SwiftPM: a `.dynamic`
/// library product depending on `ModloadModule`; or `swiftc -emit-library`), then run
/// `modload seal` on it: Swift cannot place strings in an ELF section at compile time, so the
/// metadata section hosts read without running the file is written from this description after
/// linking (as the kernel's modpost does for `.modinfo`). Seal before signing. The host maps a
/// Swift module file for good — unloading it *retires* its code rather than unmapping it — so
/// keep a module's state in values its init creates, not in globals that must start fresh.
///
/// One description per module file: the descriptor function must return the same one every time.
public final class ModuleDescription: Sendable {
    /// The module's name: 1–55 bytes of `[A-Za-z0-9_-]`.
    public let name: String
    /// The module's version.
    public let version: String
    /// What it does, in one line.
    public let description: String
    /// Its license.
    public let license: String
    /// How callers account for their use of it.
    public let accounting: Accounting
    /// What it exports.
    public let exports: [Export]
    /// What it imports (bound before init).
    public let imports: [Import]
    /// What it accepts at load time.
    public let parameters: [Parameter]
    /// Other names it is requested by: glob patterns (`pci:v00008086d*`), as kmod matches them.
    public let aliases: [String]
    /// Soft dependencies, kmod's syntax: `"pre: a b post: c"`, or empty for none.
    public let softDependencies: String

    /// How callers account for their use of a module (`enum modload_accounting`).
    public enum Accounting: Sendable {
        /// Callers hold references.
        case counting
        /// Callers call in inside read sections; unload waits a grace period.
        case noncounting
    }

    let entryPoints: EntryPoints

    /// The C descriptor (`const struct modload_descriptor *`), built once. Everything it points
    /// to lives as long as the module file is mapped.
    public var descriptor: UnsafeRawPointer { UnsafeRawPointer(built.descriptor) }

    private let built: Built

    /// Describes a module.
    ///
    /// - Parameters:
    ///   - name: the module's name (letters, digits, `_` and `-`; `-` and `_` are the same).
    ///   - version: its version, free text.
    ///   - description: one line saying what it is.
    ///   - license: its license (`GPL`, `MIT`, …).
    ///   - accounting: counting (callers hold references) or noncounting.
    ///   - exports: the functions and data it exports, with their C signatures.
    ///   - imports: the symbols it needs from other modules, with their C signatures.
    ///   - parameters: the parameters it accepts, with types, defaults and descriptions.
    ///   - aliases: glob patterns it is also found by (`pci:v00008086d*`).
    ///   - softDependencies: modules to load before or after it, kmod's syntax (`pre: a post: b`).
    ///   - initialize: brings the module up; throwing fails the load — with the errno of a
    ///     ``ModuleFailure``, or `EIO` (and a log line) for any other error.
    ///   - cleanup: the step of an unload that may refuse (throw ``ModuleFailure/busy``); `nil`: always accepts.
    ///   - exit: takes the module down; `nil`: nothing to do.
    public init(
        name: String, version: String, description: String, license: String,
        accounting: Accounting = .counting,
        exports: [Export] = [], imports: [Import] = [], parameters: [Parameter] = [],
        aliases: [String] = [], softDependencies: String = "",
        cleanup: (@Sendable (Host) throws -> Void)? = nil,
        exit: (@Sendable (Host) -> Void)? = nil,
        initialize: @escaping @Sendable (Host) throws -> Void
    ) {
        self.name = name
        self.version = version
        self.description = description
        self.license = license
        self.accounting = accounting
        self.exports = exports
        self.imports = imports
        self.parameters = parameters
        self.aliases = aliases
        self.softDependencies = softDependencies
        self.entryPoints = EntryPoints(initialize: initialize, cleanup: cleanup, exit: exit)
        self.built = Built(
            name: name, version: version, description: description, license: license, accounting: accounting,
            exports: exports, imports: imports, parameters: parameters, aliases: aliases,
            softDependencies: softDependencies, hasCleanup: cleanup != nil, hasExit: exit != nil)
        EntryPoints.register(entryPoints)
    }
}

/// The C structures of a descriptor, allocated once and never freed (they must outlive every use
/// of the module file, which is never unmapped).
private final class Built: @unchecked Sendable {  // written once in init, then only read
    let descriptor: UnsafeMutablePointer<modload_descriptor>

    init(
        name: String, version: String, description: String, license: String,
        accounting: ModuleDescription.Accounting, exports: [Export], imports: [Import], parameters: [Parameter],
        aliases: [String], softDependencies: String, hasCleanup: Bool, hasExit: Bool
    ) {
        func text(_ string: String) -> UnsafePointer<CChar> { UnsafePointer(strdup(string)!) }
        func array<Element>(_ items: [Element]) -> UnsafeMutablePointer<Element>? {
            guard !items.isEmpty else { return nil }
            let pointer = UnsafeMutablePointer<Element>.allocate(capacity: items.count)
            pointer.initialize(from: items, count: items.count)
            return pointer
        }
        let cExports = exports.map { modload_export(name: text($0.name), signature: text($0.signature), address: $0.address) }
        let cImports = imports.map { modload_import(name: text($0.name), signature: text($0.signature)) }
        let cParameters = parameters.map {
            modload_param(
                name: text($0.name), type: $0.type.rawValue, reserved: 0, description: text($0.description),
                default_value: $0.defaultValue.map(text))
        }
        descriptor = .allocate(capacity: 1)
        descriptor.initialize(
            to: modload_descriptor(
                abi_version: MODLOAD_ABI_VERSION, size: UInt32(MemoryLayout<modload_descriptor>.size),
                name: text(name), version: text(version), description: text(description), license: text(license),
                accounting: accounting == .counting ? MODLOAD_COUNTING.rawValue : MODLOAD_NONCOUNTING.rawValue,
                reserved: 0,
                init: EntryPoints.initTrampoline,
                exit: hasExit ? EntryPoints.exitTrampoline : nil,
                cleanup: hasCleanup ? EntryPoints.cleanupTrampoline : nil,
                exports: UnsafePointer(array(cExports)), export_count: UInt32(cExports.count),
                import_count: UInt32(cImports.count), imports: UnsafePointer(array(cImports)),
                params: UnsafePointer(array(cParameters)), param_count: UInt32(cParameters.count), reserved2: 0,
                aliases: UnsafePointer(array(aliases.map { Optional(text($0)) })), alias_count: UInt32(aliases.count),
                reserved3: 0, softdep: softDependencies.isEmpty ? nil : text(softDependencies)))
    }
}
