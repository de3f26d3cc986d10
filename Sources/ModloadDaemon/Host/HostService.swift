import Logging
import Modload
import ModloadRepository
import ServiceLifecycle

/// The daemon's host as a service: what it loads at start and how it unloads at the end.
///
/// **Start** (``loadAtStart(_:)``, before the daemon reports ready) — systemd-modules-load's
/// semantics: every name of the `modules-load.d` list is requested at once, through the same path
/// as a client's Load by name; a failure is logged (a missing module or device as a notice, as
/// systemd does) and the rest still load.
///
/// **Stop** (graceful shutdown, after the control server has stopped accepting):
/// 1. take the modules and who uses whom (current generations: an old one left by a replace is
///    not unloaded by name — it goes by itself once its holders and importers have);
/// 2. unload every module nothing left uses — independent ones in parallel — each draining its
///    references until the shared deadline (``DaemonConfiguration/drainDeadline``);
/// 3. repeat with the modules that has freed, until none is left or none can go; a module that
///    refused (held past the deadline, its cleanup refused, still loading) stays, and so does
///    every module it uses;
/// 4. wait, until the same deadline, for the old generations to go;
/// 5. report each refusal — and each old generation still held — with its reason and a summary,
///    and return (the daemon exits 0).
final class HostService: Service {
    let host: ModuleHost
    let drainDeadline: Duration
    let logger: Logger

    init(host: ModuleHost, drainDeadline: Duration, logger: Logger) {
        self.host = host
        self.drainDeadline = drainDeadline
        self.logger = logger
    }

    /// Requests every module of `list`, all at once.
    func loadAtStart(_ list: ModulesLoadList) async {
        let host = host
        let logger = logger
        await withDiscardingTaskGroup { group in
            for (name, origin) in list.modules {
                group.addTask {
                    do throws(ModuleError) {
                        let outcome = try await host.request(name)
                        logger.info("loaded at start", metadata: ["module": "\(outcome.module)", "listed": "\(origin)"])
                    } catch {
                        let quiet = error.code == .notFound || error.code == .noDevice
                        logger.log(level: quiet ? .notice : .error, "could not load \(name) (listed at \(origin)): \(error)")
                    }
                }
            }
        }
    }

    func run() async throws {
        try? await gracefulShutdown()
        await unloadAll()
    }

    /// Steps 1–4 of **Stop**; returns the modules unloaded, in order.
    @discardableResult
    func unloadAll() async -> [String] {
        let deadline = ContinuousClock.now + drainDeadline
        var unloaded: [String] = []
        var refused: [String: ModuleError] = [:]
        while true {
            // 1. Who is left, and who uses whom.
            let left = host.modules.filter { refused[$0.name] == nil && $0.state != .old }
            guard !left.isEmpty else { break }
            let names = Set(left.map(\.name))
            let stuck = Set(refused.keys)
            // 2. Those nothing left uses, and whose users have not refused.
            let ready = left.filter { module in module.usedBy.allSatisfy { !names.contains($0) && !stuck.contains($0) } }
            guard !ready.isEmpty else {
                for module in left {
                    refused[module.name] = ModuleError(
                        .wouldBlock, module: module.name, reason: "is used by \(module.usedBy.joined(separator: ", ")), which stayed")
                }
                break
            }
            let host = host
            let results = await withTaskGroup(of: (String, ModuleError?).self) { group in
                for module in ready {
                    group.addTask {
                        let timeout = max(deadline - ContinuousClock.now, .zero)
                        do throws(ModuleError) {
                            try await host.unload(module.name, mode: .drain(timeout: timeout))
                            return (module.name, nil)
                        } catch {
                            return (module.name, error)
                        }
                    }
                }
                var results: [(String, ModuleError?)] = []
                for await result in group { results.append(result) }
                return results
            }
            // 3. What went, what stayed.
            for (name, error) in results {
                if let error {
                    refused[name] = error
                } else {
                    unloaded.append(name)
                    logger.info("unloaded \(name)")
                }
            }
        }
        // 4. Old generations drain by themselves.
        while host.modules.contains(where: { $0.state == .old }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // 5. Report.
        for (name, error) in refused.sorted(by: { $0.key < $1.key }) { logger.warning("left \(name) loaded: \(error)") }
        for old in host.modules where old.state == .old {
            logger.warning("left \(old.name) generation \(old.generation) old: \(old.refcount) references still held")
        }
        logger.notice("shutdown: \(unloaded.count) modules unloaded, \(refused.count) refused")
        return unloaded
    }
}
