#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI

/// The host, as a Swift module file sees it: the `modload_host_api` functions, for the entry point
/// running. Valid during that entry point (and on threads it waits for).
public struct Host: @unchecked Sendable {  // two pointers the host keeps valid while the module is loaded
    let api: UnsafePointer<modload_host_api>
    let handle: OpaquePointer?

    /// Log levels (syslog's).
    public enum LogLevel: Int32, Sendable {
        /// Something failed.
        case error = 3
        /// Something is wrong but the module goes on.
        case warning = 4
        /// Worth noting.
        case notice = 5
        /// What happened.
        case info = 6
        /// Detail for debugging.
        case debug = 7
    }

    /// Writes to the host's log, labelled with the module's name.
    public func log(_ message: String, level: LogLevel = .info) {
        api.pointee.log(handle, level.rawValue, message)
    }

    /// The address bound to the import `name`, as the C function type `Function` — `nil` if the
    /// module did not import it.
    public func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
        precondition(
            MemoryLayout<Function>.size == MemoryLayout<UnsafeRawPointer>.size,
            "\(Function.self) is not a C function pointer type (@convention(c))")
        guard let address = api.pointee.symbol(handle, name) else { return nil }
        return unsafeBitCast(address, to: Function.self)
    }

    /// The raw address bound to the import `name` (for data imports).
    public func address(of name: String) -> UnsafeRawPointer? {
        api.pointee.symbol(handle, name)
    }

    /// Makes sure the module `nameOrAlias` is live (blocks until it is).
    ///
    /// - Throws: ``ModuleFailure`` with the host's errno: `ENOENT` unknown (or no resolver),
    ///   `EDEADLK` a dependency cycle, or the requested module's failure.
    public func request(_ nameOrAlias: String) throws(ModuleFailure) {
        let result = api.pointee.request(handle, nameOrAlias)
        if result != 0 { throw ModuleFailure(errno: -result) }
    }

    /// Takes a counted reference on the live module `name`, or `nil` if it is not loaded or is
    /// going away. Release it before the module's exit returns.
    public func acquire(_ name: String) -> Reference? {
        api.pointee.acquire(handle, name).map { Reference(pointer: $0) }
    }

    /// Releases a reference taken with ``acquire(_:)``.
    public func release(_ reference: Reference) {
        api.pointee.release(handle, reference.pointer)
    }

    /// The value of this load's parameter `name` as text, or `nil` if it has none.
    public func parameter(_ name: String) -> String? {
        api.pointee.parameter(handle, name).map { String(cString: $0) }
    }

    /// An int parameter's value.
    public func int(_ name: String) -> Int? { parameter(name).flatMap { Int($0) } }

    /// A bool parameter's value.
    public func bool(_ name: String) -> Bool? { parameter(name).map { $0 == "Y" } }

    /// A list parameter's items.
    public func list(_ name: String) -> [String]? {
        parameter(name).map { $0.isEmpty ? [] : $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }
}

/// A counted reference a module holds on another module.
public struct Reference: @unchecked Sendable {  // an opaque token the host hands out
    let pointer: OpaquePointer
}

/// Why an entry point fails: an errno, which the host reports (the kernel's `-ENODEV` and friends).
public struct ModuleFailure: Error, Sendable, Equatable {
    /// The errno (positive).
    public let errno: Int32

    /// A failure with errno `errno` (positive).
    public init(errno: Int32) { self.errno = errno }

    /// Nothing for the module to drive (`ENODEV`).
    public static let noDevice = ModuleFailure(errno: ENODEV)
    /// Still in use (`EBUSY`): refuse an unload.
    public static let busy = ModuleFailure(errno: EBUSY)
    /// A bad parameter (`EINVAL`).
    public static let invalidArgument = ModuleFailure(errno: EINVAL)
    /// Out of memory (`ENOMEM`).
    public static let outOfMemory = ModuleFailure(errno: ENOMEM)
}
