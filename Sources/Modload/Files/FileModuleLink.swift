#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI
import Logging

/// What a module file's `modload_host *` points at: one per load, the module's way back into the
/// host (`struct modload_host_api` in `modload.h`).
///
/// Lock rule: `state` is a leaf lock, held only to read or edit the fields; never across a host
/// call (a request may wait for a whole load).
final class FileModuleLink: Sendable {
    /// The host functions every module file gets.
    nonisolated(unsafe) static let api: UnsafePointer<modload_host_api> = {
        let table = UnsafeMutablePointer<modload_host_api>.allocate(capacity: 1)
        table.initialize(
            to: modload_host_api(
                abi_version: MODLOAD_ABI_VERSION,
                size: UInt32(MemoryLayout<modload_host_api>.size),
                log: { host, level, message in
                    guard let message else { return }
                    FileModuleLink.from(host).log(level: level, String(cString: message))
                },
                symbol: { host, name in
                    guard let name else { return nil }
                    return FileModuleLink.from(host).symbol(String(cString: name))
                },
                request: { host, name in
                    guard let name else { return -EINVAL }
                    return FileModuleLink.from(host).request(String(cString: name))
                },
                acquire: { host, name in
                    guard let name else { return nil }
                    return FileModuleLink.from(host).acquire(String(cString: name))
                },
                release: { host, reference in
                    guard let reference else { return }
                    FileModuleLink.from(host).release(reference)
                },
                parameter: { host, name in
                    guard let name else { return nil }
                    return FileModuleLink.from(host).parameter(String(cString: name))
                }))
        return UnsafePointer(table)
    }()

    /// The module's name (labels its references and log lines).
    let module: String

    /// A reference the module holds through `acquire`. Dropped once, by whoever removes it from
    /// `references` (under the lock): `release`, or the cleanup after exit.
    private final class HeldReference: @unchecked Sendable {
        var reference: ModuleReference?
        init(_ reference: consuming ModuleReference) { self.reference = .some(reference) }
    }

    private struct State {
        /// The context of the entry point running (or last run): imports, parameters, host.
        var context: ModuleContext?
        /// The load the init works for, while init runs (requests it makes are its waits).
        var scope: LoadScope?
        /// Parameter values as C strings, made when the context arrives; freed with the link.
        var parameterStrings: [String: UnsafeMutablePointer<CChar>] = [:]
        /// References taken through `acquire` and not released yet.
        var references: [UInt: HeldReference] = [:]
    }
    private let state = Locked(State())

    init(module: String) {
        self.module = module
    }

    deinit {
        state.withLock { s in
            for string in s.parameterStrings.values { free(string) }
        }
    }

    /// The `modload_host *` handed to the module: this link, unretained (the definition keeps it).
    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ host: OpaquePointer?) -> FileModuleLink {
        Unmanaged<FileModuleLink>.fromOpaque(UnsafeRawPointer(host!)).takeUnretainedValue()
    }

    /// An entry point is about to run with `context`; `scope` is the load an init works for.
    func enter(_ context: ModuleContext, scope: LoadScope?) {
        state.withLock { s in
            if s.context == nil {
                for (name, value) in context.parameters.values { s.parameterStrings[name] = strdup(value.description) }
            }
            s.context = context
            s.scope = scope
        }
    }

    /// Init returned: requests no longer count as its waits.
    func leaveInit() { state.withLock { $0.scope = nil } }

    // MARK: Host functions

    private func log(level: Int32, _ message: String) {
        guard let logger = state.withLock({ $0.context?.logger }) else { return }
        let mapped: Logger.Level =
            switch level {
            case ...3: .error
            case 4: .warning
            case 5: .notice
            case 6: .info
            default: .debug
            }
        logger.log(level: mapped, "\(message)")
    }

    private func symbol(_ name: String) -> UnsafeRawPointer? {
        state.withLock { $0.context?.imports.address(of: name)?.pointer }
    }

    private func parameter(_ name: String) -> UnsafePointer<CChar>? {
        state.withLock { $0.parameterStrings[ParameterParser.canonical(name)].map { UnsafePointer($0) } }
    }

    /// Blocks this (entry-point) thread until the request is answered.
    private func request(_ name: String) -> Int32 {
        let (host, scope) = state.withLock { ($0.context?.host, $0.scope) }
        guard let host else { return -ENOENT }
        return runBlocking {
            // Made from init, the request is part of the load's work: its waits are the load's.
            await LoadScope.$current.withValue(scope?.forCurrentTask()) {
                do throws(ModuleError) {
                    try await host.request(name)
                    return 0
                } catch {
                    return -error.errno
                }
            }
        }
    }

    private func acquire(_ name: String) -> OpaquePointer? {
        guard let host = state.withLock({ $0.context?.host }),
            let reference = try? host.acquire(name, holder: module)
        else { return nil }
        let held = HeldReference(reference)
        let raw = Unmanaged.passRetained(held).toOpaque()
        state.withLock { $0.references[UInt(bitPattern: raw)] = held }
        return OpaquePointer(raw)
    }

    private func release(_ reference: OpaquePointer) {
        let key = UInt(bitPattern: UnsafeRawPointer(reference))
        guard let held = state.withLock({ $0.references.removeValue(forKey: key) }) else {
            state.withLock { $0.context?.logger }?.error("released a reference it does not hold; ignored")
            return
        }
        Unmanaged.passUnretained(held).release()
        held.reference = nil
    }

    /// After exit: references the module forgot to release are released now.
    func releaseLeftoverReferences() {
        let (left, logger) = state.withLock { s in
            defer { s.references = [:] }
            return (Array(s.references.values), s.context?.logger)
        }
        guard !left.isEmpty else { return }
        logger?.warning("exit returned holding \(left.count) reference(s); released now")
        for held in left {
            Unmanaged.passUnretained(held).release()
            held.reference = nil
        }
    }
}
