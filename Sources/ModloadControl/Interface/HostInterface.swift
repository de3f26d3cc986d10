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
        case replace = "Replace"
        case refresh = "Refresh"
        case holders = "Holders"
        case statistics = "Statistics"
        case monitor = "Monitor"

        /// The qualified name, `io.modload.Host.Method`.
        public var qualifiedName: String { "\(HostInterface.name).\(rawValue)" }

        /// Whether the method changes the host (and so needs a privileged peer).
        public var changesHost: Bool { self == .load || self == .unload || self == .replace || self == .refresh }
    }

    /// A module in the host, as lsmod and modinfo show it.
    public struct Module: Codable, Sendable, Equatable {
        /// The module's canonical name (`-` written as `_`).
        public var name: String
        /// Which load of the name it is (during a replace, the current and the old one are listed).
        public var generation: Int
        /// The version the module declares.
        public var version: String
        /// What the module says it is.
        public var description: String
        /// The license the module declares.
        public var license: String
        /// `unformed`, `coming`, `live`, `going`, `gone` or `old` (replaced, draining).
        public var state: String
        /// An unload has been decided and is draining or running.
        public var unloading: Bool
        /// Its size in bytes (the mapped image for a module file).
        public var size: Int
        /// References held on it, the modules using it included (lsmod's count).
        public var refcount: Int
        /// The modules that import from it.
        public var usedBy: [String]
        /// The modules it imports from.
        public var uses: [String]
        /// Its parameters, `name=value` separated by spaces.
        public var parameters: String
        /// Parameters it was given and ignored, each with why.
        public var parameterWarnings: [String]
        /// Its taint letters (`E`: unsigned, `R`: forced unload).
        public var taints: [String]
        /// The module file it was loaded from, if any.
        public var file: String?
        /// Every load of it so far was for a dependency (modprobe -r may remove it).
        public var loadedAsDependency: Bool

        /// A module record.
        public init(
            name: String, generation: Int = 1, version: String, description: String, license: String, state: String,
            unloading: Bool, size: Int, refcount: Int, usedBy: [String], uses: [String], parameters: String,
            parameterWarnings: [String], taints: [String], file: String?, loadedAsDependency: Bool
        ) {
            self.name = name
            self.generation = generation
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
        /// The module.
        public var module: String
        /// Its state.
        public var state: String
        /// The modules using it (they block every unload).
        public var dependents: [String]
        /// References held on it.
        public var references: Int
        /// Who holds those references, where holders are tracked.
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
        /// The module's name.
        public var module: String
        /// The module file.
        public var path: String
        /// The options it would be loaded with.
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
        /// Modload's ModuleError code, e.g. `noDevice`.
        public var code: String
        /// The code's errno.
        public var errno: Int
        /// In plain words.
        public var reason: String
        /// The module, if the failure is about one.
        public var module: String?
        /// The module file, if the failure is about one.
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
        /// `requested`, `coming`, `live`, `going`, `gone`, `loadFailed`, `mergedJoin`,
        /// `unloadRefused` or `old`.
        public var kind: String
        /// The module it happened to.
        public var module: String
        /// For transitions: which generation of the module.
        public var generation: Int?
        /// Why, for `loadFailed` and `unloadRefused`.
        public var error: Failure?

        /// An event.
        public init(kind: String, module: String, generation: Int? = nil, error: Failure?) {
            self.kind = kind
            self.module = module
            self.generation = generation
            self.error = error
        }
    }

    /// A module a Load made sure of.
    public struct Loaded: Codable, Sendable, Equatable {
        /// The module.
        public var module: String
        /// `loaded`, `joined` or `alreadyLive`.
        public var how: String
        /// Parameters ignored, each with why.
        public var parameterWarnings: [String]

        /// A loaded module.
        public init(module: String, how: String, parameterWarnings: [String]) {
            self.module = module
            self.how = how
            self.parameterWarnings = parameterWarnings
        }
    }

    /// A module's counts.
    public struct ModuleCounts: Codable, Sendable, Equatable {
        /// The module's canonical name (`-` written as `_`).
        public var name: String
        /// Loads and requests of it.
        public var attempts: Int
        /// Callers merged into a running load.
        public var mergedJoiners: Int
        /// Callers answered from a recent failure.
        public var cachedFailures: Int
        /// Times its init ran.
        public var initCalls: Int
        /// Loads that went live.
        public var loads: Int
        /// Unloads that completed.
        public var unloads: Int
        /// Failed loads, by code.
        public var failures: [String: Int]
        /// Time spent in its init, in all (ms).
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
        /// Loads and requests of it.
        public var attempts: Int
        /// Callers merged into a running load.
        public var mergedJoiners: Int
        /// Failed loads, by code.
        public var failures: Int
        /// Module images mapped.
        public var mapped: Int
        /// Module images unmapped (C code that left the address space).
        public var unmapped: Int
        /// Module images retired (Swift code, kept mapped).
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
        /// A module name.
        public var name: String
        /// A name.
        public init(name: String) { self.name = name }
    }

    /// Resolve: a name or alias.
    public struct ResolveParameters: Codable, Sendable, Equatable {
        /// A module name or alias (`pci:…`, `symbol:NAME`, …).
        public var nameOrAlias: String
        /// A name or alias.
        public init(nameOrAlias: String) { self.nameOrAlias = nameOrAlias }
    }

    /// Plan: a name or alias, and the caller's parameters.
    public struct PlanParameters: Codable, Sendable, Equatable {
        /// A module name or alias (`pci:…`, `symbol:NAME`, …).
        public var nameOrAlias: String
        /// The caller's parameters (after the configured options).
        public var parameters: String?
        /// A plan request.
        public init(nameOrAlias: String, parameters: String? = nil) {
            self.nameOrAlias = nameOrAlias
            self.parameters = parameters
        }
    }

    /// Load: a name or alias, or a file; parameters; first-time; a set, all or nothing.
    public struct LoadParameters: Codable, Sendable, Equatable {
        /// A module name or alias, for a modprobe-style load.
        public var name: String?
        /// An absolute path to a module file, for an insmod-style load.
        public var file: String?
        /// More names or aliases, loaded with it as one set (all or nothing only).
        public var names: [String]?
        /// More absolute module-file paths, loaded with it as one set (all or nothing only).
        public var files: [String]?
        /// Parameters, `name=value` separated by spaces (for `name` or `file`).
        public var parameters: String?
        /// Fail with Exists if it is already loaded.
        public var firstTime: Bool?
        /// Load the module's whole dependency closure, and every other member, as one set: all
        /// of them live, or none.
        public var allOrNothing: Bool?
        /// A load request.
        public init(
            name: String? = nil, file: String? = nil, names: [String]? = nil, files: [String]? = nil, parameters: String? = nil,
            firstTime: Bool? = nil, allOrNothing: Bool? = nil
        ) {
            self.name = name
            self.file = file
            self.names = names
            self.files = files
            self.parameters = parameters
            self.firstTime = firstTime
            self.allOrNothing = allOrNothing
        }
    }

    /// Replace: a live module, the new generation's file, the drain of the old one.
    public struct ReplaceParameters: Codable, Sendable, Equatable {
        /// What to do with an old generation whose holders do not let go in time.
        public enum Purge: String, Codable, Sendable {
            case soft, brutal
        }
        /// The module to replace.
        public var name: String
        /// The new generation's module file (absolute); default: the repository's file for the name.
        public var file: String?
        /// The new generation's parameters.
        public var parameters: String?
        /// How long the old generation may drain (default 5,000).
        public var drainTimeoutMs: Int?
        /// soft (the default) or brutal.
        public var purge: Purge?
        /// Reload the old generation's importers so they bind to the new one.
        public var refreshDependents: Bool?
        /// A replace request.
        public init(
            name: String, file: String? = nil, parameters: String? = nil, drainTimeoutMs: Int? = nil, purge: Purge? = nil,
            refreshDependents: Bool? = nil
        ) {
            self.name = name
            self.file = file
            self.parameters = parameters
            self.drainTimeoutMs = drainTimeoutMs
            self.purge = purge
            self.refreshDependents = refreshDependents
        }
    }

    /// Refresh: the names whose old generations' importers are reloaded.
    public struct RefreshParameters: Codable, Sendable, Equatable {
        /// The modules replaced.
        public var names: [String]
        /// How long each importer's unload may drain (default 5,000).
        public var drainTimeoutMs: Int?
        /// A refresh request.
        public init(names: [String], drainTimeoutMs: Int? = nil) {
            self.names = names
            self.drainTimeoutMs = drainTimeoutMs
        }
    }

    /// Unload: a name, a mode, a drain timeout, whether unused dependencies go too.
    public struct UnloadParameters: Codable, Sendable, Equatable {
        /// How an unload treats holders.
        public enum Mode: String, Codable, Sendable {
            case failFast, force, drain
        }
        /// The module's canonical name (`-` written as `_`).
        public var name: String
        /// failFast (the default), force or drain.
        public var mode: Mode?
        /// How long a drain waits (default 5,000).
        public var timeoutMs: Int?
        /// Also unload the dependencies nothing uses and no caller asked for.
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
        /// Every module, one snapshot.
        public var modules: [Module]
        /// A listing.
        public init(modules: [Module]) { self.modules = modules }
    }

    /// Info's reply.
    public struct InfoReply: Codable, Sendable, Equatable {
        /// The module.
        public var module: Module
        /// A module.
        public init(module: Module) { self.module = module }
    }

    /// Resolve's reply.
    public struct ResolveReply: Codable, Sendable, Equatable {
        /// The modules the name resolves to.
        public var modules: [String]
        /// Names.
        public init(modules: [String]) { self.modules = modules }
    }

    /// Plan's reply.
    public struct PlanReply: Codable, Sendable, Equatable {
        /// The loads, dependencies first.
        public var steps: [Step]
        /// Steps.
        public init(steps: [Step]) { self.steps = steps }
    }

    /// Load's reply.
    public struct LoadReply: Codable, Sendable, Equatable {
        /// The module that is live now.
        public var module: String
        /// `loaded`, `joined` or `alreadyLive`.
        public var how: String
        /// Parameters ignored, each with why.
        public var parameterWarnings: [String]
        /// Every module the load made sure of: the module itself, or every member of the set.
        public var members: [Loaded]
        /// A load's outcome.
        public init(module: String, how: String, parameterWarnings: [String], members: [Loaded]? = nil) {
            self.module = module
            self.how = how
            self.parameterWarnings = parameterWarnings
            self.members = members ?? [Loaded(module: module, how: how, parameterWarnings: parameterWarnings)]
        }
    }

    /// Replace's reply.
    public struct ReplaceReply: Codable, Sendable, Equatable {
        /// The module.
        public var module: String
        /// The generation now current.
        public var generation: Int
        /// The generation replaced.
        public var previousGeneration: Int
        /// `gone` (drained), `revoked` (purged brutally) or `old` (still held: see holders).
        public var previous: String
        /// Who still holds the old generation, when it is old.
        public var holders: HolderReport?
        /// The importers reloaded onto the new generation.
        public var refreshed: [String]
        /// Why the refresh stopped, if it did (the replace itself succeeded).
        public var refreshFailure: Failure?
        /// A replace's outcome.
        public init(
            module: String, generation: Int, previousGeneration: Int, previous: String, holders: HolderReport?,
            refreshed: [String], refreshFailure: Failure?
        ) {
            self.module = module
            self.generation = generation
            self.previousGeneration = previousGeneration
            self.previous = previous
            self.holders = holders
            self.refreshed = refreshed
            self.refreshFailure = refreshFailure
        }
    }

    /// Refresh's reply.
    public struct RefreshReply: Codable, Sendable, Equatable {
        /// The modules reloaded, in reload order.
        public var refreshed: [String]
        /// A refresh's outcome.
        public init(refreshed: [String]) { self.refreshed = refreshed }
    }

    /// Unload's reply.
    public struct UnloadReply: Codable, Sendable, Equatable {
        /// The modules unloaded, in order.
        public var removed: [String]
        /// The modules unloaded, in order.
        public init(removed: [String]) { self.removed = removed }
    }

    /// Holders' reply.
    public struct HoldersReply: Codable, Sendable, Equatable {
        /// Who holds it.
        public var holders: HolderReport
        /// A report.
        public init(holders: HolderReport) { self.holders = holders }
    }

    /// Statistics' reply.
    public struct StatisticsReply: Codable, Sendable, Equatable {
        /// Per module.
        public var modules: [ModuleCounts]
        /// The module-file pipeline.
        public var files: FileCounts
        /// The host's taint letters.
        public var taints: [String]
        /// Modules live now.
        public var liveModules: Int
        /// Control connections open now.
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
        /// The event; none in the first reply.
        public var event: Event?
        /// A reply.
        public init(event: Event?) { self.event = event }
    }

    // MARK: Errors

    /// The parameters every `io.modload.Host` error carries.
    public struct ErrorParameters: Codable, Sendable, Equatable {
        /// Modload's ModuleError code, e.g. `wouldBlock`.
        public var code: String
        /// The code's errno.
        public var errno: Int
        /// In plain words: what failed, on which module or file, in what state, who holds it.
        public var reason: String
        /// The module, if the error is about one.
        public var module: String?
        /// The module file, if the error is about one.
        public var file: String?
        /// The module's state, where it matters.
        public var state: String?
        /// Who holds the module, for an unload refused.
        public var holders: HolderReport?
        /// The ring of a dependency cycle.
        public var cycle: [String]?
        /// A set that failed to prepare: every member's error.
        public var memberErrors: [Failure]?
        /// A set whose commit failed: the members taken down again, in order.
        public var rolledBack: [String]?
        /// PermissionDenied for a peer: the method refused.
        public var method: String?
        /// PermissionDenied for a peer: the peer's uid.
        public var uid: Int?

        /// An error's parameters.
        public init(
            code: String, errno: Int, reason: String, module: String? = nil, file: String? = nil, state: String? = nil,
            holders: HolderReport? = nil, cycle: [String]? = nil, memberErrors: [Failure]? = nil, rolledBack: [String]? = nil,
            method: String? = nil, uid: Int? = nil
        ) {
            self.code = code
            self.errno = errno
            self.reason = reason
            self.module = module
            self.file = file
            self.state = state
            self.holders = holders
            self.cycle = cycle
            self.memberErrors = memberErrors
            self.rolledBack = rolledBack
            self.method = method
            self.uid = uid
        }
    }

    /// The error codes that have an error of their own; every other code answers as `Failed`.
    public static let namedErrorCodes: Set<String> = [
        "exists", "busy", "notFound", "wouldBlock", "timedOut", "cancelled", "invalidArgument", "initFailed",
        "permissionDenied", "noDevice", "deadlock", "duplicateSymbol", "symbolMismatch", "autoloadDisabled",
        "invalidFile", "abiMismatch", "badSignature", "keyRejected", "notPurged",
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

// The List reply is large and frequent: written directly (JSONWriter), field for field the
// Codable encoding (ControlProtocolTests holds the two together).
extension HostInterface.Module: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.object { w in
            w.key("name"); w.string(name)
            w.key("generation"); w.int(generation)
            w.key("version"); w.string(version)
            w.key("description"); w.string(description)
            w.key("license"); w.string(license)
            w.key("state"); w.string(state)
            w.key("unloading"); w.bool(unloading)
            w.key("size"); w.int(size)
            w.key("refcount"); w.int(refcount)
            w.key("usedBy"); w.strings(usedBy)
            w.key("uses"); w.strings(uses)
            w.key("parameters"); w.string(parameters)
            w.key("parameterWarnings"); w.strings(parameterWarnings)
            w.key("taints"); w.strings(taints)
            if let file { w.key("file"); w.string(file) }
            w.key("loadedAsDependency"); w.bool(loadedAsDependency)
        }
    }
}

extension HostInterface.ListReply: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.object { w in
            w.key("modules")
            w.array { for module in modules { module.write(to: &$0) } }
        }
    }
}
