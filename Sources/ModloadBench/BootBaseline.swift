import Modload
import ModloadDemo
import ModloadRepository

/// `modload boot --compare`: the same coldplug of the demo tree, loaded the way Linux userspace
/// and the kernel did before the merge fix (the 288-CPU boot), for the ratio of the two walls.
///
/// - **udev**: one caller per device and per CPU; a caller makes its requests one at a time (a
///   CPU: `pcc_cpufreq`, `acpi_cpufreq` twice, its modalias), every caller at once.
/// - **modprobe**: each request is kmod's probe list (``ModuleRepository/plan(_:parameters:)``:
///   dependencies first, soft dependencies around, in order), inserted strictly one after the
///   other; a module already live is skipped; the first failure ends the request.
/// - **the kernel before the fix**: loads of one name are serialized — a duplicate waits for the
///   load ahead of it, and if that load failed, runs the init again (no merging, no memory of the
///   failure).
///
/// Each insert is a real `insmod` of the file (``ModuleHost/insert(file:parameters:)``: checked,
/// mapped, bound, init), so the two boots do the same work per load; only their scheduling
/// differs.
public enum BootBaseline {
    /// What the baseline did.
    public struct Result: Sendable {
        /// Early boot's request to coldplug's last answer (ms).
        public let wallMs: Double
        /// Init calls per module.
        public let inits: [String: Int]
        /// Requests that failed.
        public let failedRequests: Int
    }

    /// Runs the baseline over `tree` with `options`' CPUs and init time.
    public static func run(_ tree: DemoTree, _ options: Boot.Options) async throws -> Result {
        let repository = try FileBoot.repository(of: tree, initDelay: options.initDelay)
        // No resolver (insmod binds to what is loaded), no failure cache (the old kernel had none).
        var configuration = ModuleHost.Configuration(failedLoadCacheDuration: nil)
        configuration.logger.logLevel = .critical
        let host = try ModuleHost(configuration: configuration)
        let serial = NameSerializer()

        func modprobe(_ request: String) async -> Bool {
            let steps: [ModuleRepository.Step]
            do throws(ModuleError) { steps = try repository.plan(request) } catch { return false }
            for step in steps {
                let loaded = await serial.one(step.module) { () async -> Bool in
                    if host.state(of: step.module) == .live { return true }
                    do throws(ModuleError) {
                        try await host.insert(file: step.path, parameters: step.parameters)
                        return true
                    } catch {
                        return error.code == .exists
                    }
                }
                if !loaded { return false }
            }
            return true
        }

        // Callers: the early boot alone, then every CPU and device at once.
        var callers: [[String]] = Array(repeating: [], count: options.cpus)
        for (index, request) in FileBoot.coldplugRequests(cpus: options.cpus).enumerated() {
            if index < options.cpus * 4 { callers[index / 4].append(request) } else { callers.append([request]) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        var failed = await modprobe(FileBoot.earlyBoot) ? 0 : 1
        failed += await withTaskGroup(of: Int.self) { group in
            for requests in callers {
                group.addTask {
                    var failures = 0
                    for request in requests where !(await modprobe(request)) { failures += 1 }
                    return failures
                }
            }
            return await group.reduce(0, +)
        }
        let wall = start.duration(to: clock.now)
        let inits = host.statistics().filter { $0.value.initCalls > 0 }.mapValues(\.initCalls)
        return Result(
            wallMs: Double(wall.components.seconds) * 1e3 + Double(wall.components.attoseconds) / 1e15, inits: inits, failedRequests: failed)
    }
}

/// One body at a time per name, in arrival order: the kernel's serialization of same-name loads
/// before the merge fix.
private actor NameSerializer {
    private var queues: [String: [CheckedContinuation<Void, Never>]] = [:]

    func one<T: Sendable>(_ name: String, _ body: () async -> T) async -> T {
        if queues[name] != nil {
            await withCheckedContinuation { queues[name]!.append($0) }
        } else {
            queues[name] = []
        }
        let result = await body()
        if let next = queues[name]?.first {
            queues[name]!.removeFirst()
            next.resume()
        } else {
            queues[name] = nil
        }
        return result
    }
}
