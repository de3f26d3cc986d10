import Modload

/// `modload boot`: a machine booting the way Linux does with udev (the 288-CPU boot, docs/design.md §1).
///
/// Early boot loads `intel_pstate`. Then coldplug fires every device's module request at once —
/// one `pcc_cpufreq` and two `acpi_cpufreq` per CPU, a modalias per device, the root
/// filesystem — each a request (modprobe: by name or alias, dependencies first) running
/// concurrently. Modload merges the duplicates: each module's init runs once, and every merged
/// request gets that init's answer.
public enum Boot {
    /// What to boot.
    public struct Options: Sendable {
        /// CPUs, each asking for its frequency drivers. Default 288 (the machine of the 288-CPU
        /// boot, docs/design.md §1).
        public var cpus: Int
        /// How long every module's init takes. Default 2 ms.
        public var initDelay: Duration

        public init(cpus: Int = 288, initDelay: Duration = .milliseconds(2)) {
            self.cpus = cpus
            self.initDelay = initDelay
        }
    }

    /// One module as the report lists it.
    public struct ModuleEntry: Codable, Sendable, Equatable {
        public let name: String
        public let state: String
        public let refcount: Int
        public let usedBy: [String]
        public let size: Int
    }

    /// What a boot did. Encodes to the JSON `modload boot --json` prints.
    public struct Report: Codable, Sendable {
        /// Module requests made (early boot + coldplug), by name or alias.
        public let requests: Int
        /// Requests answered by joining a load already running.
        public let mergedJoiners: Int
        /// Requests answered from the host's negative cache (a failure just before they came).
        public let cachedFailures: Int
        /// Wall time of the whole boot, first request to last answer, in milliseconds.
        public let wallMs: Double
        /// Init calls per module that was asked for (directly or as a dependency), as counted by
        /// the modules themselves.
        public let inits: [String: Int]
        /// Modules whose requests failed → the error code they failed with.
        public let failed: [String: String]
        /// Modules whose requests failed → the full error.
        public let failureReasons: [String: String]
        /// Failed requests per module (every merged request gets the failure).
        public let failedRequests: [String: Int]
        /// Modules in the table after boot.
        public let modules: [ModuleEntry]
        /// Host taint letters (empty when clean).
        public let taints: String
        /// The module tree booted (`nil` for the built-in catalog).
        public var root: String? = nil
        /// Per module: its first request, init start and end, outcome (the tree's boot).
        public var timeline: [TimelineEntry]? = nil
        /// The critical path's length: the longest chain of file load + init along dependencies,
        /// early boot's then coldplug's (ms; ``CriticalPath``).
        public var criticalPathMs: Double? = nil
        /// The critical path's modules, first to last.
        public var criticalPath: [String]? = nil
        /// Lookups `blacklist` refused (the module found through an alias), per module.
        public var blacklisted: [String: Int]? = nil
        /// Lookups `deny` refused, per module.
        public var denied: [String: Int]? = nil
        /// The same coldplug through the kmod-style baseline (`--compare`).
        public var baseline: Baseline? = nil
    }

    /// What the kmod-style baseline did with the same coldplug (`modload boot --compare`).
    public struct Baseline: Codable, Sendable {
        /// Its wall time (ms).
        public let wallMs: Double
        /// Init calls per module.
        public let inits: [String: Int]
        /// `wallMs` over the boot's.
        public let ratio: Double

        /// The baseline's figures.
        public init(wallMs: Double, inits: [String: Int], ratio: Double) {
            self.wallMs = wallMs
            self.inits = inits
            self.ratio = ratio
        }
    }

    /// The host configuration boot uses by default: failed loads are remembered for 60 s (as the
    /// kernel's duplicate-request tracking does), so a request arriving just after a driver's
    /// init failed gets that failure instead of running the init again. Boot adds the demo
    /// catalog as the resolver.
    public static let hostConfiguration = ModuleHost.Configuration(failedLoadCacheDuration: .seconds(60))

    /// Boots the demo system into a new host configured with `configuration` (plus the demo
    /// catalog as its resolver) and returns the report and the host.
    public static func run(
        _ options: Options, configuration: ModuleHost.Configuration = hostConfiguration
    ) async throws -> (report: Report, host: ModuleHost) {
        guard options.cpus >= 1 else {
            throw ModuleError(.invalidArgument, reason: "--cpus must be at least 1 (got \(options.cpus))")
        }
        guard options.initDelay >= .zero else {
            throw ModuleError(.invalidArgument, reason: "--init-ms must not be negative")
        }
        let system = DemoSystem(initDelay: options.initDelay)
        var configuration = configuration
        configuration.resolver = system.resolver
        let host = try ModuleHost(configuration: configuration)
        let requests = ["intel_pstate"] + system.coldplugRequests(cpus: options.cpus)

        let coldplug = await Self.coldplug(
            host, early: requests[0], requests: Array(requests.dropFirst()),
            moduleOf: { system.resolver.definition(for: $0)?.name })
        let failures = coldplug.failures
        let wall = coldplug.wall

        let statistics = host.statistics()
        let requested = Set(statistics.keys)
        let report = Report(
            requests: requests.count,
            mergedJoiners: requested.reduce(0) { $0 + (statistics[$1]?.mergedJoiners ?? 0) },
            cachedFailures: requested.reduce(0) { $0 + (statistics[$1]?.cachedFailures ?? 0) },
            wallMs: milliseconds(wall),
            inits: Dictionary(uniqueKeysWithValues: requested.map { ($0, system.catalog[$0]!.initCalls) }),
            failed: failures.mapValues(\.error.code.name),
            failureReasons: failures.mapValues { "\($0.error)" },
            failedRequests: failures.mapValues(\.count),
            modules: entries(of: host),
            taints: host.taints.description)
        return (report, host)
    }

    /// What a boot's requests did: per module, the first error and how many requests failed.
    struct Coldplug {
        var failures: [String: (error: ModuleError, count: Int)] = [:]
        /// First request to last answer.
        var wall: Duration = .zero
        /// When the early-boot request was made.
        var started = ContinuousClock.now
    }

    /// Early boot — `early`, alone — then coldplug: every one of `requests` at once, each a
    /// request through the host (by name or alias, dependencies first). `moduleOf` names the
    /// module a request is for, to file its failure under (the request itself if `nil`).
    static func coldplug(
        _ host: ModuleHost, early: String, requests: [String], moduleOf: @escaping @Sendable (String) -> String?
    ) async -> Coldplug {
        var result = Coldplug()
        func record(_ error: ModuleError, for name: String) {
            result.failures[name] = (result.failures[name]?.error ?? error, (result.failures[name]?.count ?? 0) + 1)
        }
        let clock = ContinuousClock()
        result.started = clock.now
        do throws(ModuleError) {
            try await host.request(early)
        } catch {
            record(error, for: moduleOf(early) ?? early)
        }
        await withTaskGroup(of: (String, ModuleError?).self) { group in
            for request in requests {
                group.addTask {
                    let module = moduleOf(request) ?? request
                    do throws(ModuleError) {
                        try await host.request(request)
                        return (module, nil)
                    } catch {
                        return (module, error)
                    }
                }
            }
            for await (module, error) in group {
                if let error { record(error, for: module) }
            }
        }
        result.wall = result.started.duration(to: clock.now)
        return result
    }

    /// The host's modules as the report lists them.
    static func entries(of host: ModuleHost) -> [ModuleEntry] {
        host.modules.map { ModuleEntry(name: $0.name, state: $0.state.description, refcount: $0.refcount, usedBy: $0.usedBy, size: $0.size) }
    }
}

/// `duration` in milliseconds.
func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}
