#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Modload
import Synchronization

/// `modload bench burst`: the 288-CPU boot's burst — 288 requests for A and 576 for B (per CPU: one
/// `pcc_cpufreq`, two `acpi_cpufreq`), all at once, and both inits fail after `initDelay`.
///
/// Modload is measured beside two minimal loaders written here (never in the library), each
/// request a thread as udev's workers are:
/// - **serialized** — the kernel before the fix: a duplicate waits for the running load of its
///   name and then tries again itself, so every request runs the failing init in turn;
/// - **wait-then-busy** — today's mainline for different files: duplicates wait for the running
///   load and return busy without sharing its result.
///
/// Every request is pending before the clock starts (tasks suspended, threads parked); wall time
/// runs from the start signal to the last answer. The scenario is a burst that arrives while the
/// init runs, so every loader's init holds until the loader has taken every request for its name
/// (Modload's own `attempts` counter; the baselines' arrival count) and only then sleeps
/// `initDelay`: on a busy machine a request scheduled late would otherwise arrive after the
/// failure and start a second load, in Modload (which has no negative cache here) as in the
/// baselines, and the run would measure the scheduler rather than the loader.
public enum BurstBench {
    public struct Options: Sendable {
        public var cpus: Int
        public var initDelay: Duration
        public var repetitions: Int
        /// Run the thread-per-request baselines too (they dominate the run time).
        public var baselines: Bool
        /// Run the same burst through a real peer, CPython's import system (``ImportPeer``).
        public var peers: Bool
        public init(
            cpus: Int = 288, initDelay: Duration = .milliseconds(2), repetitions: Int = 5, baselines: Bool = true,
            peers: Bool = false
        ) {
            self.cpus = cpus
            self.initDelay = initDelay
            self.repetitions = repetitions
            self.baselines = baselines
            self.peers = peers
        }
    }

    /// One loader's run (medians over repetitions).
    public struct LoaderResult: Codable, Sendable {
        public let name: String
        public let wallMs: Double
        /// Init calls per module name (median run).
        public let inits: [String: Int]
        /// From the end of the last init of a name to the last answer for it, worst name (ms).
        public let lastAnswerAfterInitMs: Double
        /// Every repetition's wall time.
        public let wallMsAll: [Double]
    }

    public struct Report: Codable, Sendable {
        public var scenario = "burst"
        public let machine: Machine
        public let requests: Int
        public let initMs: Double
        public let modload: LoaderResult
        public let baselines: [LoaderResult]
        public let speedupVsSerialized: Double?
        public let speedupVsWaitThenBusy: Double?
        public let limits: Limits?
        /// With `--peers`: the burst through CPython's importlib, or why it did not run.
        public let peer: ImportPeer.Result?
        public let peerUnavailable: String?
        /// The peer's failing-burst wall time over Modload's.
        public let peerRatio: Double?
    }

    static let names = ["pcc_cpufreq", "acpi_cpufreq"]

    /// The request list: per CPU one A and two B.
    static func requests(cpus: Int) -> [String] {
        (0..<cpus).flatMap { _ in [names[0], names[1], names[1]] }
    }

    public static func run(_ options: Options, limits: Limits?) async -> Report {
        let requests = requests(cpus: options.cpus)
        var modloadRuns: [Run] = []
        var serialRuns: [Run] = []
        var busyRuns: [Run] = []
        // Modload first: creating and tearing down 864 threads per baseline run disturbs
        // whatever runs right after it. One untimed run warms the pool and the allocator.
        _ = await runModload(requests, initDelay: options.initDelay)
        for _ in 0..<max(1, options.repetitions) {
            modloadRuns.append(await runModload(requests, initDelay: options.initDelay))
        }
        for _ in 0..<(options.baselines ? max(1, options.repetitions) : 0) {
            busyRuns.append(runThreads(requests, loader: ThreadLoader(retries: false, requests: requests), initDelay: options.initDelay))
            serialRuns.append(runThreads(requests, loader: ThreadLoader(retries: true, requests: requests), initDelay: options.initDelay))
        }
        let modload = summarize("modload", modloadRuns)
        let baselines = options.baselines
            ? [summarize("serialized", serialRuns), summarize("wait-then-busy", busyRuns)] : []
        var peer: ImportPeer.Result?
        var peerUnavailable: String?
        if options.peers {
            switch ImportPeer.run(cpus: options.cpus, initMs: options.initDelay.milliseconds) {
            case .success(let result): peer = result
            case .failure(let unavailable): peerUnavailable = unavailable.reason
            }
        }
        return Report(
            machine: .current, requests: requests.count, initMs: options.initDelay.milliseconds,
            modload: modload, baselines: baselines,
            speedupVsSerialized: baselines.first.map { $0.wallMs / modload.wallMs },
            speedupVsWaitThenBusy: baselines.last.map { $0.wallMs / modload.wallMs }, limits: limits,
            peer: peer, peerUnavailable: peerUnavailable, peerRatio: peer.map { $0.wallMs / modload.wallMs })
    }

    /// What one repetition measured.
    struct Run {
        var wallNs: UInt64
        var inits: [String: Int]
        var lastAnswerAfterInitNs: UInt64
    }

    static func summarize(_ name: String, _ runs: [Run]) -> LoaderResult {
        let sorted = runs.sorted { $0.wallNs < $1.wallNs }
        let median = sorted[sorted.count / 2]
        return LoaderResult(
            name: name, wallMs: Double(median.wallNs) / 1e6, inits: median.inits,
            lastAnswerAfterInitMs: Distribution(runs.map { Double($0.lastAnswerAfterInitNs) / 1e6 }).median,
            wallMsAll: runs.map { Double($0.wallNs) / 1e6 })
    }

    // MARK: Modload

    /// A failing module that notes when its init ended.
    final class FailingModule: ModuleDefinition {
        let name: String
        let delay: Duration
        /// Requests for this name in the burst, and how many the host has taken so far.
        let expected: Int
        let taken: @Sendable () -> Int
        let inits = Atomic<Int>(0)
        let initEnded = Atomic<UInt64>(0)
        init(name: String, delay: Duration, expected: Int, taken: @escaping @Sendable () -> Int) {
            self.name = name
            self.delay = delay
            self.expected = expected
            self.taken = taken
        }
        func initialize(_ context: ModuleContext) async throws {
            inits.add(1, ordering: .relaxed)
            while taken() < expected { await Task.yield() }  // the whole burst is pending (see above)
            if delay > .zero { try? await Task.sleep(for: delay) }
            initEnded.store(nowNanoseconds(), ordering: .releasing)
            throw ModuleError(.noDevice, reason: "no device")
        }
    }

    static func runModload(_ requests: [String], initDelay: Duration) async -> Run {
        let host = ModuleHost()
        defer { withExtendedLifetime(host) {} }
        let modules = Dictionary(uniqueKeysWithValues: names.map { name in
            (name, FailingModule(
                name: name, delay: initDelay, expected: requests.count(where: { $0 == name }),
                taken: { host.statistics(of: name)?.attempts ?? 0 }))
        })
        let start = StartSignal()
        let answers = AnswerLog(names: names)
        // Independent tasks, as independent requesters would be (a task group's bookkeeping for
        // 864 children would be measured too).
        let finished = Tally()
        let allAnswered = StartSignal()
        for name in requests {
            let module = modules[name]!
            Task {
                await start.wait()
                do { try await host.ensureLoaded(module) } catch {}
                answers.record(name)
                if finished.increment() == requests.count { allAnswered.go() }
            }
        }
        // Let every task reach the start line (suspended), then go.
        while start.waiting < requests.count { await Task.yield() }
        start.go()
        await allAnswered.wait()
        return Run(
            wallNs: answers.lastAnswer - start.startedAt,
            inits: modules.mapValues { $0.inits.load(ordering: .relaxed) },
            lastAnswerAfterInitNs: names.map { answers.last(for: $0) &- modules[$0]!.initEnded.load(ordering: .acquiring) }.max()!)
    }

    // MARK: Baselines (threads)

    /// A minimal thread-per-request loader: a mutex, a condition variable, per-name "loading".
    /// With `retries`, a duplicate that waited tries again (serialized); without, it answers busy.
    /// The init holds until every request for its name has arrived (see the type's comment).
    final class ThreadLoader: @unchecked Sendable {
        let retries: Bool
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private let arrival = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private let expected: [String: Int]
        private var arrived: [String: Int] = [:]
        private var loading = Set<String>()
        private(set) var inits: [String: Int] = [:]
        private(set) var initEnded: [String: UInt64] = [:]

        init(retries: Bool, requests: [String]) {
            self.retries = retries
            expected = requests.reduce(into: [:]) { $0[$1, default: 0] += 1 }
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(done, nil)
            pthread_cond_init(arrival, nil)
        }

        func load(_ name: String, initDelay: Duration) {
            pthread_mutex_lock(mutex)
            arrived[name, default: 0] += 1
            pthread_cond_broadcast(arrival)
            while loading.contains(name) {
                pthread_cond_wait(done, mutex)
                if !retries {
                    pthread_mutex_unlock(mutex)
                    return  // busy
                }
            }
            loading.insert(name)
            inits[name, default: 0] += 1
            while arrived[name]! < expected[name]! { pthread_cond_wait(arrival, mutex) }
            pthread_mutex_unlock(mutex)
            if initDelay > .zero { usleep(useconds_t(initDelay.microseconds)) }  // the failing init
            pthread_mutex_lock(mutex)
            initEnded[name] = nowNanoseconds()
            loading.remove(name)
            pthread_cond_broadcast(done)
            pthread_mutex_unlock(mutex)
        }
    }

    static func runThreads(_ requests: [String], loader: ThreadLoader, initDelay: Duration) -> Run {
        let start = ThreadStartLine(count: requests.count)
        let answers = AnswerLog(names: names)
        var threads: [BenchThread] = []
        threads.reserveCapacity(requests.count)
        for name in requests {
            threads.append(BenchThread(stackSize: 128 * 1024) {
                start.arriveAndWait()
                loader.load(name, initDelay: initDelay)
                answers.record(name)
            })
        }
        start.waitForAll()
        let started = nowNanoseconds()
        start.go()
        for thread in threads { thread.join() }
        return Run(
            wallNs: answers.lastAnswer - started, inits: loader.inits,
            lastAnswerAfterInitNs: names.map { answers.last(for: $0) &- (loader.initEnded[$0] ?? 0) }.max()!)
    }
}

/// Tasks wait here until `go()`; counts how many are waiting.
final class StartSignal: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let count = Atomic<Int>(0)
    private let started = Atomic<UInt64>(0)
    func wait() async {
        count.add(1, ordering: .relaxed)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s in
                if s.open { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
    var waiting: Int { count.load(ordering: .relaxed) }
    func go() {
        started.store(nowNanoseconds(), ordering: .releasing)
        let waiters = state.withLock { s in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
    var startedAt: UInt64 { started.load(ordering: .acquiring) }
}

/// A shared counter.
final class Tally: Sendable {
    private let value = Atomic<Int>(0)
    /// Adds one; returns the new count.
    func increment() -> Int { value.add(1, ordering: .acquiringAndReleasing).newValue }
}

/// Threads park here until `go()`.
final class ThreadStartLine: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let count: Int
    private var arrived = 0
    private var open = false
    init(count: Int) {
        self.count = count
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }
    func arriveAndWait() {
        pthread_mutex_lock(mutex)
        arrived += 1
        pthread_cond_broadcast(cond)
        while !open { pthread_cond_wait(cond, mutex) }
        pthread_mutex_unlock(mutex)
    }
    func waitForAll() {
        pthread_mutex_lock(mutex)
        while arrived < count { pthread_cond_wait(cond, mutex) }
        pthread_mutex_unlock(mutex)
    }
    func go() {
        pthread_mutex_lock(mutex)
        open = true
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
    }
}

/// When the last answer for each name came.
final class AnswerLog: Sendable {
    final class Latest: Sendable {
        let value = Atomic<UInt64>(0)
        func raise(to now: UInt64) {
            var seen = value.load(ordering: .relaxed)
            while now > seen {
                let (done, current) = value.compareExchange(expected: seen, desired: now, ordering: .relaxed)
                if done { break }
                seen = current
            }
        }
    }
    private let last: [String: Latest]
    init(names: [String]) {
        last = Dictionary(uniqueKeysWithValues: names.map { ($0, Latest()) })
    }
    func record(_ name: String) { last[name]!.raise(to: nowNanoseconds()) }
    func last(for name: String) -> UInt64 { last[name]!.value.load(ordering: .relaxed) }
    var lastAnswer: UInt64 { last.values.map { $0.value.load(ordering: .relaxed) }.max() ?? 0 }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1e3 + Double(components.attoseconds) / 1e15 }
    var microseconds: Int { Int(components.seconds) * 1_000_000 + Int(components.attoseconds / 1_000_000_000_000) }
}

extension BurstBench {
    /// The report as a table.
    public static func render(_ r: Report) -> String {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        var lines = [
            "burst — \(r.requests) requests (\(r.requests / 3) × pcc_cpufreq, \(2 * r.requests / 3) × acpi_cpufreq), "
                + "init fails after \(f(r.initMs)) ms; \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date)",
            "",
            "loader            wall (ms, median)   inits (pcc / acpi)   last answer after its init (ms)",
        ]
        for loader in [r.modload] + r.baselines {
            lines.append(
                loader.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + f(loader.wallMs).padding(toLength: 20, withPad: " ", startingAt: 0)
                    + "\(loader.inits["pcc_cpufreq"] ?? 0) / \(loader.inits["acpi_cpufreq"] ?? 0)".padding(toLength: 21, withPad: " ", startingAt: 0)
                    + f(loader.lastAnswerAfterInitMs))
        }
        lines.append("")
        if let serialized = r.speedupVsSerialized, let busy = r.speedupVsWaitThenBusy {
            lines.append("speedup vs serialized: \(f(serialized))× (target ≥ 200×); vs wait-then-busy: \(f(busy))×")
        }
        lines.append("targets: exactly 1 init per name; last joiner answered ≤ 2 ms after the init ends")
        if let wake = r.limits?.wake864Us {
            lines.append("C limit, same machine: waking 864 parked threads (futex broadcast) takes \(f(wake / 1000)) ms")
        }
        if let peer = r.peer {
            func executions(_ counts: [String: Int]) -> String { "\(counts["pcc_cpufreq"] ?? 0) / \(counts["acpi_cpufreq"] ?? 0)" }
            lines.append(
                "peer: \(peer.python) importlib, \(r.requests) threads at once — failing module: \(executions(peer.executions)) "
                    + "executions, \(f(peer.wallMs)) ms (\(r.peerRatio.map(f) ?? "–")× Modload's wall); succeeding: "
                    + "\(executions(peer.succeedingExecutions)) executions, \(f(peer.succeedingWallMs)) ms")
            lines.append("      (a lock per module name while one thread runs its body; a failed import is not shared — not a module host)")
        } else if let reason = r.peerUnavailable {
            lines.append("peer: CPython importlib not measured: \(reason)")
        }
        return lines.joined(separator: "\n")
    }
}
