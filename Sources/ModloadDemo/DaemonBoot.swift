import Foundation
import Modload
import ModloadControl
import ModloadRepository
import Synchronization

/// `modload boot --socket PATH`: the same boot of the tree, sent to a running `modload daemon`
/// (started on the tree: `modload daemon -b $(modload boot --tree)`) instead of a host of its own.
///
/// 1. **Subscribe** to the daemon's Monitor stream, on a thread of its own: the timeline comes
///    from the host's events as they arrive (timed on arrival, here).
/// 2. **Early boot**: Load `intel_pstate` by name.
/// 3. **Coldplug**: every request a Load of its own, each on a thread and a connection of its
///    own, all at once — as udev's workers each run a modprobe. A request's `init_us` goes with
///    it as a parameter; what the daemon loads for it (dependencies, soft dependencies) gets the
///    daemon's configured options.
/// 4. **Report** from the answers and the daemon's Statistics and List — which count everything
///    since the daemon started: boot a fresh daemon for the figures to be this boot's. A last
///    request for `intel_pstate` (live: no transition) marks the end of the stream.
public enum DaemonBoot {
    /// Boots `tree` on the daemon at `socket`.
    ///
    /// - Throws: ``ControlError`` if the daemon cannot be reached; `invalidArgument` for bad options.
    /// - Returns: the report, and the daemon's modules after it (its List).
    public static func run(_ tree: DemoTree, _ options: Boot.Options, socket: String) async throws -> (report: Boot.Report, modules: [HostInterface.Module]) {
        guard options.cpus >= 1 else { throw ModuleError(.invalidArgument, reason: "--cpus must be at least 1 (got \(options.cpus))") }
        guard options.initDelay >= .zero else { throw ModuleError(.invalidArgument, reason: "--init-ms must not be negative") }
        let repository = try FileBoot.repository(of: tree, initDelay: options.initDelay)
        let requests = FileBoot.coldplugRequests(cpus: options.cpus)
        let screenings = FileBoot.screenings(of: requests, in: repository)
        let parameters = "init_us=\(Int(milliseconds(options.initDelay) * 1000))"
        let client = try HostClient(socketPath: socket)

        // 1. Subscribe.
        let recorder = TimelineRecorder()
        let done = Atomic<Bool>(false)
        let subscribed = DispatchSemaphore(value: 0)
        let monitorEnded = DispatchSemaphore(value: 0)
        let monitorFailure = Locked<String?>(nil)
        let monitorThread = Thread {
            defer { monitorEnded.signal() }
            do {
                try HostClient(socketPath: socket).monitor(opened: { subscribed.signal() }) { event in
                    // The end: the last request's event (events of the boot may still come until it).
                    if done.load(ordering: .acquiring), event.kind == "requested", event.module == FileBoot.earlyBoot { return false }
                    if let kind = ModuleEvent.Kind(rawValue: event.kind) {
                        recorder.note(kind, module: event.module, errorCode: event.error?.code, at: .now)
                    }
                    return true
                }
            } catch {
                monitorFailure.withLock { $0 = "\(error)" }
                subscribed.signal()
            }
        }
        monitorThread.start()
        await waitOnThread(subscribed)
        if let failure = monitorFailure.withLock({ $0 }) { throw ModuleError(.invalidArgument, reason: "the daemon's Monitor stream: \(failure)") }

        // 2. Early boot, 3. coldplug.
        let failures = Locked<[String: (code: String, reason: String, count: Int)]>([:])
        @Sendable func load(_ request: String, with client: HostClient) {
            do throws(ControlError) {
                _ = try client.load(HostInterface.LoadParameters(name: request, parameters: parameters))
            } catch {
                let module = screenings[request]?.found.first?.name ?? request
                let code = error.hostError?.code ?? error.code.rawValue
                failures.withLock { all in
                    let earlier = all[module]
                    all[module] = (earlier?.code ?? code, earlier?.reason ?? (error.hostError?.reason ?? error.reason), (earlier?.count ?? 0) + 1)
                }
            }
        }
        let started = ContinuousClock.now
        load(FileBoot.earlyBoot, with: client)
        let answered = DispatchGroup()
        for request in requests {
            answered.enter()
            let thread = Thread {
                defer { answered.leave() }
                do throws(ControlError) {
                    load(request, with: try HostClient(socketPath: socket))
                } catch {
                    failures.withLock { $0[request] = (error.code.rawValue, error.reason, ($0[request]?.count ?? 0) + 1) }
                }
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
        await waitOnThread(answered)
        let wall = started.duration(to: .now)

        // 4. Report (the stream ends at the next event: a request for the live intel_pstate).
        done.store(true, ordering: .releasing)
        _ = try? client.load(HostInterface.LoadParameters(name: FileBoot.earlyBoot))
        await waitOnThread(monitorEnded)
        let statistics = try client.statistics()
        let modules = try client.list()
        let failed = failures.withLock { $0 }
        var report = Boot.Report(
            requests: requests.count + 1,
            mergedJoiners: statistics.modules.reduce(0) { $0 + $1.mergedJoiners } + statistics.files.mergedJoiners,
            cachedFailures: statistics.modules.reduce(0) { $0 + $1.cachedFailures },
            wallMs: milliseconds(wall),
            inits: Dictionary(uniqueKeysWithValues: statistics.modules.filter { $0.initCalls > 0 }.map { ($0.name, $0.initCalls) }),
            failed: failed.mapValues(\.code), failureReasons: failed.mapValues(\.reason), failedRequests: failed.mapValues(\.count),
            modules: modules.map { Boot.ModuleEntry(name: $0.name, state: $0.state, refcount: $0.refcount, usedBy: $0.usedBy, size: $0.size) },
            taints: statistics.taints.joined())
        FileBoot.complete(
            &report, tree: tree, repository: repository, screenings: screenings, requests: requests, recorder: recorder,
            started: started)
        return (report, modules)
    }

    /// Waits for `semaphore` without blocking a thread of the cooperative pool.
    private static func waitOnThread(_ semaphore: DispatchSemaphore) async {
        await withCheckedContinuation { continuation in Thread { semaphore.wait(); continuation.resume() }.start() }
    }

    /// Waits for `group` without blocking a thread of the cooperative pool.
    private static func waitOnThread(_ group: DispatchGroup) async {
        await withCheckedContinuation { continuation in Thread { group.wait(); continuation.resume() }.start() }
    }
}
