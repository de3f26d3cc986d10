#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type of Modload's API.
///
/// An error carries a ``Code`` (what kind of failure, with an errno for tools), the module it is
/// about, the module file it came from (for loads of files), the state that module was in when
/// the operation was refused, who held it (for refusals caused by holders), a human reason, and
/// for ``Code/initFailed`` the error the module's init threw. Its `description` puts all of that in one line:
///
///     acpi_cpufreq (going): init failed: no such device: intel_pstate is the active cpufreq driver
public struct ModuleError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Codes compare by name; each has the errno a tool should exit
    /// with or print.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, lower-camel-case identifier (`"wouldBlock"`), as used in JSON output.
        public let name: String
        /// The matching `errno` value, as the kernel would return it.
        public let errno: Int32

        /// Makes a code. Use the predefined ones unless a module needs its own.
        public init(name: String, errno: Int32) {
            self.name = name
            self.errno = errno
        }

        /// A module of that name is already live (or a merged insert's winner succeeded).
        public static let exists = Code(name: "exists", errno: EEXIST)
        /// The module is in a state that forbids the operation (loading, going, merged load failed).
        public static let busy = Code(name: "busy", errno: EBUSY)
        /// No module of that name is known.
        public static let notFound = Code(name: "notFound", errno: ENOENT)
        /// Unloading would have to wait for holders (references or dependents).
        public static let wouldBlock = Code(name: "wouldBlock", errno: EWOULDBLOCK)
        /// A deadline passed.
        public static let timedOut = Code(name: "timedOut", errno: ETIMEDOUT)
        /// The waiting task was cancelled; shared work it was waiting for goes on.
        public static let cancelled = Code(name: "cancelled", errno: ECANCELED)
        /// A name, parameter or option is malformed; nothing was changed.
        public static let invalidArgument = Code(name: "invalidArgument", errno: EINVAL)
        /// The module's init threw; ``ModuleError/underlying`` holds what it threw.
        public static let initFailed = Code(name: "initFailed", errno: EIO)
        /// The operation was refused by policy (for example an observer vetoed a load).
        public static let permissionDenied = Code(name: "permissionDenied", errno: EPERM)
        /// The hardware or resource a module drives is absent — what a module's init throws when
        /// it has nothing to do (the kernel's `-ENODEV`).
        public static let noDevice = Code(name: "noDevice", errno: ENODEV)
        /// Loads wait on each other in a ring; the error names every module in it.
        public static let deadlock = Code(name: "deadlock", errno: EDEADLK)
        /// A module exports a symbol another module already exports (the later loader fails).
        public static let duplicateSymbol = Code(name: "duplicateSymbol", errno: ENOEXEC)
        /// An import's expected signature differs from the export's.
        public static let symbolMismatch = Code(name: "symbolMismatch", errno: EINVAL)
        /// A request needs a resolver and the host has none (the kernel's disabled modprobe).
        public static let autoloadDisabled = Code(name: "autoloadDisabled", errno: ENOENT)
        /// A module file is not one: not ELF, not a shared object for this machine, truncated,
        /// no descriptor, or a descriptor that breaks the ABI's rules (the kernel's `-ENOEXEC`).
        public static let invalidFile = Code(name: "invalidFile", errno: ENOEXEC)
        /// A module file was built for an ABI version this host does not speak.
        public static let abiMismatch = Code(name: "abiMismatch", errno: ENOEXEC)
        /// A module file's signature is malformed, of an unknown kind, or does not verify
        /// (the kernel's `-EBADMSG`). Rejected under every policy.
        public static let badSignature = Code(name: "badSignature", errno: EBADMSG)
        /// The signature policy refuses the file: unsigned, or signed by a key the host does not
        /// trust, under ``SignaturePolicy/Mode/enforce`` (the kernel's `-EKEYREJECTED`).
        public static let keyRejected = Code(name: "keyRejected", errno: EKEYREJECTED)
        /// A replace found an old generation of the module still draining (Erlang's
        /// `not_purged`): a third generation waits until it is gone, or purges it brutally.
        public static let notPurged = Code(name: "notPurged", errno: EBUSY)

        /// The code a module's entry point means by returning `-errno` (the predefined code with
        /// that errno where there is one, else a code named after the errno).
        public static func fromErrno(_ errno: Int32) -> Code {
            let known: [Code] = [
                .exists, .busy, .notFound, .wouldBlock, .timedOut, .cancelled, .invalidArgument,
                .initFailed, .permissionDenied, .noDevice, .deadlock, .badSignature, .keyRejected,
            ]
            return known.first { $0.errno == errno } ?? Code(name: "errno\(errno)", errno: errno)
        }

        public var description: String { name }
    }

    /// The fields, in one shared box: one error often answers hundreds of merged callers, and
    /// copying it should cost one retain, not one per string. Copy-on-write on mutation.
    private final class Storage: @unchecked Sendable {  // immutable once shared (see `mutate`)
        var code: Code
        var module: String?
        var file: String?
        var state: ModuleState?
        var holders: HoldersReport?
        var reason: String
        var underlying: (any Error)?
        var underlyingIsInReason = false
        var cycle: [String]?
        var dependencyPath: [String] = []
        var memberErrors: [ModuleError] = []
        var rolledBack: [String] = []

        init(
            code: Code, module: String?, file: String?, state: ModuleState?, holders: HoldersReport?, reason: String,
            underlying: (any Error)?
        ) {
            self.code = code
            self.module = module
            self.file = file
            self.state = state
            self.holders = holders
            self.reason = reason
            self.underlying = underlying
        }

        func copy() -> Storage {
            let copy = Storage(
                code: code, module: module, file: file, state: state, holders: holders, reason: reason,
                underlying: underlying)
            copy.underlyingIsInReason = underlyingIsInReason
            copy.cycle = cycle
            copy.dependencyPath = dependencyPath
            copy.memberErrors = memberErrors
            copy.rolledBack = rolledBack
            return copy
        }
    }
    private var storage: Storage

    private mutating func mutate(_ body: (Storage) -> Void) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        body(storage)
    }

    /// What kind of failure this is.
    public var code: Code {
        get { storage.code }
        set { mutate { $0.code = newValue } }
    }
    /// The module the failure is about, in canonical form (`-` written as `_`), if any.
    public var module: String? {
        get { storage.module }
        set { mutate { $0.module = newValue } }
    }
    /// The module file the failure is about (as the caller named it), for loads of files.
    public var file: String? {
        get { storage.file }
        set { mutate { $0.file = newValue } }
    }
    /// The state the module was in when the operation failed, if it existed.
    public var state: ModuleState? {
        get { storage.state }
        set { mutate { $0.state = newValue } }
    }
    /// Who held the module, for refusals caused by holders.
    public var holders: HoldersReport? {
        get { storage.holders }
        set { mutate { $0.holders = newValue } }
    }
    /// Why, in words.
    public var reason: String {
        get { storage.reason }
        set { mutate { $0.reason = newValue } }
    }
    /// What caused this failure, if another error did: for ``Code/initFailed`` the error the
    /// module's init threw; for a failed dependency, that dependency's error; for a refused
    /// cleanup, the error it refused with.
    public var underlying: (any Error)? {
        get { storage.underlying }
        set { mutate { $0.underlying = newValue } }
    }
    /// For ``Code/deadlock``: the modules in the ring, in wait order, the first repeated at the
    /// end (`["a", "b", "a"]`: a waits for b, which waits for a).
    public var cycle: [String]? {
        get { storage.cycle }
        set { mutate { $0.cycle = newValue } }
    }

    /// For an all-or-nothing set that failed to prepare: every member's error, in the order found
    /// (this error is the first of them, with a reason that counts them all). Empty otherwise.
    public var memberErrors: [ModuleError] {
        get { storage.memberErrors }
        set { mutate { $0.memberErrors = newValue } }
    }
    /// For an all-or-nothing set whose commit failed: the members that were up and were taken
    /// down again, in the order their exits ran. Empty otherwise.
    public var rolledBack: [String] {
        get { storage.rolledBack }
        set { mutate { $0.rolledBack = newValue } }
    }

    /// `true` when ``reason`` already says what ``underlying`` says (the description then does not
    /// repeat it).
    var underlyingIsInReason: Bool {
        get { storage.underlyingIsInReason }
        set { mutate { $0.underlyingIsInReason = newValue } }
    }
    /// For a cycle reached through dependencies: the modules from this one to the one whose wait
    /// closed the ring.
    var dependencyPath: [String] {
        get { storage.dependencyPath }
        set { mutate { $0.dependencyPath = newValue } }
    }

    /// Makes an error. `reason` should say what happened in a few words, without the module name
    /// (the description adds it).
    public init(
        _ code: Code,
        module: String? = nil,
        file: String? = nil,
        state: ModuleState? = nil,
        holders: HoldersReport? = nil,
        reason: String,
        underlying: (any Error)? = nil
    ) {
        storage = Storage(
            code: code, module: module, file: file, state: state, holders: holders, reason: reason,
            underlying: underlying)
    }

    /// The errno a tool should report. For ``Code/initFailed`` this is the errno of the error init
    /// threw when that error is a `ModuleError` (as the kernel passes init's return value through).
    public var errno: Int32 {
        if code == .initFailed, let inner = underlying as? ModuleError { return inner.errno }
        return code.errno
    }

    /// A ring of waits: "dependency cycle: a → b → a (each waits for the next one's load)", told
    /// from `module` when it is in the ring.
    static func ring(_ ring: [String], module: String) -> ModuleError {
        var error = ModuleError(.deadlock, module: module, reason: "")
        error.setCycle(ring, path: [module])
        return error
    }

    /// What `importer` fails with when the load of its dependency `provider` failed with `error`
    /// (`reason` says how it depended on it). A cycle is said once — from the importer if it is in
    /// the ring, else with the path that led into it — not once per module on the way; any other
    /// failure keeps its cause beneath.
    static func dependency(
        _ importer: String, failedOn provider: String, reason: String, _ error: ModuleError
    ) -> ModuleError {
        guard let ring = error.cycle else {
            return ModuleError(error.code, module: importer, reason: reason, underlying: error)
        }
        let below = error.dependencyPath.first == importer ? Array(error.dependencyPath.dropFirst()) : error.dependencyPath
        var wrapped = ModuleError(.deadlock, module: importer, reason: "", underlying: error)
        wrapped.underlyingIsInReason = true
        wrapped.setCycle(ring, path: [importer] + (below.isEmpty ? [provider] : below))
        return wrapped
    }

    /// Sets the cycle and the reason that tells it: the ring from `path.first` if it is a member,
    /// else the ring and the part of `path` leading into it.
    private mutating func setCycle(_ ring: [String], path: [String]) {
        var ring = ring
        var path = path
        let members = Array(ring.dropLast())  // the first is repeated at the end
        if let start = path.first, let at = members.firstIndex(of: start) {
            ring = Array(members[at...] + members[..<at]) + [start]
            path = [start]
        } else if let entry = path.firstIndex(where: members.contains) {
            path = Array(path[...entry])
        }
        cycle = ring
        dependencyPath = path
        reason = "dependency cycle: \(ring.joined(separator: " → ")) (each waits for the next one's load)"
        if path.count > 1 { reason += "; reached through \(path.joined(separator: " → "))" }
    }

    public var description: String {
        var text = reason
        if let module {
            text = "\(module)\(state.map { " (\($0))" } ?? "")\(file.map { " [\($0)]" } ?? ""): " + text
        } else if let file {
            text = "\(file): " + text
        }
        if let underlying, !underlyingIsInReason { text += ": \(underlying)" }
        if let holders, !holders.isEmpty { text += "; \(holders.summary)" }
        return text
    }
}
