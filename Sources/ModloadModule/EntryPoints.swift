#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI

/// The module's Swift entry points, and the C functions the descriptor points at, which call them.
///
/// Each module file contains its own copy of this library, so "the module's entry points" is a
/// per-file global: registered by the file's one ``ModuleDescription``.
final class EntryPoints: Sendable {
    let initialize: @Sendable (Host) throws -> Void
    let cleanup: (@Sendable (Host) throws -> Void)?
    let exit: (@Sendable (Host) -> Void)?

    init(
        initialize: @escaping @Sendable (Host) throws -> Void,
        cleanup: (@Sendable (Host) throws -> Void)?,
        exit: (@Sendable (Host) -> Void)?
    ) {
        self.initialize = initialize
        self.cleanup = cleanup
        self.exit = exit
    }

    /// The registered entry points. Written once, when the file's description is made (inside the
    /// descriptor function, before the host can call any entry point), then only read.
    nonisolated(unsafe) private static var registered: EntryPoints?

    static func register(_ entryPoints: EntryPoints) {
        precondition(registered == nil, "a module file has one ModuleDescription; a second one was made")
        registered = entryPoints
    }

    private static func current() -> EntryPoints {
        guard let registered else { preconditionFailure("an entry point ran before the module's description was made") }
        return registered
    }

    static let initTrampoline: @convention(c) (UnsafePointer<modload_host_api>?, OpaquePointer?) -> Int32 = { api, host in
        call(Host(api: api!, handle: host), "init") { try EntryPoints.current().initialize($0) }
    }

    static let cleanupTrampoline: @convention(c) (UnsafePointer<modload_host_api>?, OpaquePointer?) -> Int32 = { api, host in
        call(Host(api: api!, handle: host), "cleanup") { try EntryPoints.current().cleanup?($0) }
    }

    /// Runs a throwing entry point: 0, or the negative errno of what it threw (a ``ModuleFailure``'s,
    /// or `EIO` — logged — for any other error).
    private static func call(_ host: Host, _ entry: String, _ body: (Host) throws -> Void) -> Int32 {
        do {
            try body(host)
            return 0
        } catch let failure as ModuleFailure {
            return -failure.errno
        } catch {
            host.log("\(entry) failed: \(error)", level: .error)
            return -EIO
        }
    }

    static let exitTrampoline: @convention(c) (UnsafePointer<modload_host_api>?, OpaquePointer?) -> Void = { api, host in
        EntryPoints.current().exit?(Host(api: api!, handle: host))
    }
}
