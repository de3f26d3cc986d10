/// The interface `io.modload.Host`: its methods and the Codable types of their parameters and
/// replies, one for one with `Interface/io.modload.Host.varlink` (``definition``, embedded from that
/// file at build time, is what the daemon describes itself with).
public enum HostInterface {
    /// The interface's qualified name.
    public static let name = "io.modload.Host"

    /// The methods, by their names in the definition.
    public enum Method: String, Sendable, CaseIterable {
        case list = "List"
        case info = "Info"
        case resolve = "Resolve"
        case plan = "Plan"
        case load = "Load"
        case unload = "Unload"
        case holders = "Holders"
        case statistics = "Statistics"
        case monitor = "Monitor"

        /// The qualified name, `io.modload.Host.Method`.
        public var qualifiedName: String { "\(HostInterface.name).\(rawValue)" }

        /// Whether the method changes the host (and so needs a privileged peer).
        public var changesHost: Bool { self == .load || self == .unload }
    }

    /// A module in the host, as lsmod and modinfo show it.
    public struct Module: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public var description: String
        public var license: String
        /// `unformed`, `coming`, `live`, `going` or `gone`.
        public var state: String
        public var unloading: Bool
        public var size: Int
        public var refcount: Int
        public var usedBy: [String]
        public var uses: [String]
        public var parameters: String
        public var parameterWarnings: [String]
        public var taints: [String]
        public var file: String?
        public var loadedAsDependency: Bool

        /// A module record.
        public init(
            name: String, version: String, description: String, license: String, state: String, unloading: Bool, size: Int,
            refcount: Int, usedBy: [String], uses: [String], parameters: String, parameterWarnings: [String], taints: [String],
            file: String?, loadedAsDependency: Bool
        ) {
            self.name = name
            self.version = version
            self.description = description
            self.license = license
            self.state = state
            self.unloading = unloading
            self.size = size
            self.refcount = refcount
            self.usedBy = usedBy
            self.uses = uses
            self.parameters = parameters
            self.parameterWarnings = parameterWarnings
            self.taints = taints
            self.file = file
            self.loadedAsDependency = loadedAsDependency
        }
    }

    /// Why a module cannot be unloaded.
    public struct HolderReport: Codable, Sendable, Equatable {
        public var module: String
        public var state: String
        public var dependents: [String]
        public var references: Int
        public var referenceHolders: [String: Int]

        /// A report.
        public init(module: String, state: String, dependents: [String], references: Int, referenceHolders: [String: Int]) {
            self.module = module
            self.state = state
            self.dependents = dependents
            self.references = references
            self.referenceHolders = referenceHolders
        }
    }

    /// One load of a plan.
    public struct Step: Codable, Sendable, Equatable {
        public var module: String
        public var path: String
        public var parameters: String

        /// A step.
        public init(module: String, path: String, parameters: String) {
            self.module = module
            self.path = path
            self.parameters = parameters
        }
    }

    /// A failure inside an event.
    public struct Failure: Codable, Sendable, Equatable {
        public var code: String
        public var errno: Int
        public var reason: String
        public var module: String?
        public var file: String?

        /// A failure.
        public init(code: String, errno: Int, reason: String, module: String?, file: String?) {
            self.code = code
            self.errno = errno
            self.reason = reason
            self.module = module
            self.file = file
        }
    }

    /// Something that happened to a module.
    public struct Event: Codable, Sendable, Equatable {
        /// `coming`, `live`, `going`, `gone`, `loadFailed`, `mergedJoin` or `unloadRefused`.
        public var kind: String
        public var module: String
        public var error: Failure?

        /// An event.
        public init(kind: String, module: String, error: Failure?) {
            self.kind = kind
            self.module = module
            self.error = error
        }
    }

    /// A module's counts.
    public struct ModuleCounts: Codable, Sendable, Equatable {
        public var name: String
        public var attempts: Int
        public var mergedJoiners: Int
        public var cachedFailures: Int
        public var initCalls: Int
        public var loads: Int
        public var unloads: Int
        public var failures: [String: Int]
        public var initMs: Double

        /// Counts.
        public init(
            name: String, attempts: Int, mergedJoiners: Int, cachedFailures: Int, initCalls: Int, loads: Int, unloads: Int,
            failures: [String: Int], initMs: Double
        ) {
            self.name = name
            self.attempts = attempts
            self.mergedJoiners = mergedJoiners
            self.cachedFailures = cachedFailures
            self.initCalls = initCalls
            self.loads = loads
            self.unloads = unloads
            self.failures = failures
            self.initMs = initMs
        }
    }

    /// The module-file pipeline's counts.
    public struct FileCounts: Codable, Sendable, Equatable {
        public var attempts: Int
        public var mergedJoiners: Int
        public var failures: Int
        public var mapped: Int
        public var unmapped: Int
        public var retired: Int

        /// Counts.
        public init(attempts: Int, mergedJoiners: Int, failures: Int, mapped: Int, unmapped: Int, retired: Int) {
            self.attempts = attempts
            self.mergedJoiners = mergedJoiners
            self.failures = failures
            self.mapped = mapped
            self.unmapped = unmapped
            self.retired = retired
        }
    }

    // MARK: Parameters and replies, by method

    /// No parameters (List, Statistics, Monitor).
    public struct NoParameters: Codable, Sendable, Equatable {
        /// None.
        public init() {}
    }

    /// Info and Holders: a module name.
    public struct NameParameters: Codable, Sendable, Equatable {
        public var name: String
        /// A name.
        public init(name: String) { self.name = name }
    }

    /// Resolve: a name or alias.
    public struct ResolveParameters: Codable, Sendable, Equatable {
        public var nameOrAlias: String
        /// A name or alias.
        public init(nameOrAlias: String) { self.nameOrAlias = nameOrAlias }
    }

    /// Plan: a name or alias, and the caller's parameters.
    public struct PlanParameters: Codable, Sendable, Equatable {
        public var nameOrAlias: String
        public var parameters: String?
        /// A plan request.
        public init(nameOrAlias: String, parameters: String? = nil) {
            self.nameOrAlias = nameOrAlias
            self.parameters = parameters
        }
    }

    /// Load: a name or alias, or a file; parameters; first-time.
    public struct LoadParameters: Codable, Sendable, Equatable {
        public var name: String?
        public var file: String?
        public var parameters: String?
        public var firstTime: Bool?
        /// A load request.
        public init(name: String? = nil, file: String? = nil, parameters: String? = nil, firstTime: Bool? = nil) {
            self.name = name
            self.file = file
            self.parameters = parameters
            self.firstTime = firstTime
        }
    }

    /// Unload: a name, a mode, a drain timeout, whether unused dependencies go too.
    public struct UnloadParameters: Codable, Sendable, Equatable {
        /// How an unload treats holders.
        public enum Mode: String, Codable, Sendable {
            case failFast, force, drain
        }
        public var name: String
        public var mode: Mode?
        public var timeoutMs: Int?
        public var removeUnused: Bool?
        /// An unload request.
        public init(name: String, mode: Mode? = nil, timeoutMs: Int? = nil, removeUnused: Bool? = nil) {
            self.name = name
            self.mode = mode
            self.timeoutMs = timeoutMs
            self.removeUnused = removeUnused
        }
    }

    /// List's reply.
    public struct ListReply: Codable, Sendable, Equatable {
        public var modules: [Module]
        /// A listing.
        public init(modules: [Module]) { self.modules = modules }
    }

    /// Info's reply.
    public struct InfoReply: Codable, Sendable, Equatable {
        public var module: Module
        /// A module.
        public init(module: Module) { self.module = module }
    }

    /// Resolve's reply.
    public struct ResolveReply: Codable, Sendable, Equatable {
        public var modules: [String]
        /// Names.
        public init(modules: [String]) { self.modules = modules }
    }

    /// Plan's reply.
    public struct PlanReply: Codable, Sendable, Equatable {
        public var steps: [Step]
        /// Steps.
        public init(steps: [Step]) { self.steps = steps }
    }

    /// Load's reply.
    public struct LoadReply: Codable, Sendable, Equatable {
        public var module: String
        /// `loaded`, `joined` or `alreadyLive`.
        public var how: String
        public var parameterWarnings: [String]
        /// A load's outcome.
        public init(module: String, how: String, parameterWarnings: [String]) {
            self.module = module
            self.how = how
            self.parameterWarnings = parameterWarnings
        }
    }

    /// Unload's reply.
    public struct UnloadReply: Codable, Sendable, Equatable {
        public var removed: [String]
        /// The modules unloaded, in order.
        public init(removed: [String]) { self.removed = removed }
    }

    /// Holders' reply.
    public struct HoldersReply: Codable, Sendable, Equatable {
        public var holders: HolderReport
        /// A report.
        public init(holders: HolderReport) { self.holders = holders }
    }

    /// Statistics' reply.
    public struct StatisticsReply: Codable, Sendable, Equatable {
        public var modules: [ModuleCounts]
        public var files: FileCounts
        public var taints: [String]
        public var liveModules: Int
        public var connections: Int
        /// Counts.
        public init(modules: [ModuleCounts], files: FileCounts, taints: [String], liveModules: Int, connections: Int) {
            self.modules = modules
            self.files = files
            self.taints = taints
            self.liveModules = liveModules
            self.connections = connections
        }
    }

    /// One of Monitor's replies: none in the first (the stream is open), an event in each later one.
    public struct MonitorReply: Codable, Sendable, Equatable {
        public var event: Event?
        /// A reply.
        public init(event: Event?) { self.event = event }
    }

    // MARK: Errors

    /// The parameters every `io.modload.Host` error carries.
    public struct ErrorParameters: Codable, Sendable, Equatable {
        /// Modload's ModuleError code, e.g. `wouldBlock`.
        public var code: String
        public var errno: Int
        /// In plain words: what failed, on which module or file, in what state, who holds it.
        public var reason: String
        public var module: String?
        public var file: String?
        public var state: String?
        public var holders: HolderReport?
        public var cycle: [String]?
        /// PermissionDenied for a peer: the method refused.
        public var method: String?
        /// PermissionDenied for a peer: the peer's uid.
        public var uid: Int?

        /// An error's parameters.
        public init(
            code: String, errno: Int, reason: String, module: String? = nil, file: String? = nil, state: String? = nil,
            holders: HolderReport? = nil, cycle: [String]? = nil, method: String? = nil, uid: Int? = nil
        ) {
            self.code = code
            self.errno = errno
            self.reason = reason
            self.module = module
            self.file = file
            self.state = state
            self.holders = holders
            self.cycle = cycle
            self.method = method
            self.uid = uid
        }
    }

    /// The error codes that have an error of their own; every other code answers as `Failed`.
    public static let namedErrorCodes: Set<String> = [
        "exists", "busy", "notFound", "wouldBlock", "timedOut", "cancelled", "invalidArgument", "initFailed",
        "permissionDenied", "noDevice", "deadlock", "duplicateSymbol", "symbolMismatch", "autoloadDisabled",
        "invalidFile", "abiMismatch", "badSignature", "keyRejected",
    ]

    /// The qualified error name for a ModuleError code: `notFound` → `io.modload.Host.NotFound`.
    public static func errorName(forCode code: String) -> String {
        guard namedErrorCodes.contains(code), let first = code.first else { return "\(name).Failed" }
        return "\(name).\(first.uppercased())\(code.dropFirst())"
    }

    /// An `io.modload.Host` error.
    public static func error(_ parameters: ErrorParameters) -> VarlinkError {
        VarlinkError(name: errorName(forCode: parameters.code), parameters: parameters)
    }
}
