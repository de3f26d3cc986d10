#if canImport(Glibc)
import Glibc
#endif
import Modload
import Synchronization

/// `modload bench parallel`: 64 distinct modules loaded at once (faster boot, docs/design.md §1).
/// Modload holds no lock across init, so sleeping inits overlap completely; the baseline is a
/// loader that holds one global lock through init (the kernel before faster boot, docs/design.md
/// §1), so they run one after another. A CPU-bound variant shows the other bound: the machine's
/// cores.
public enum ParallelBench {
    public struct Options: Sendable {
        public var modules: Int
        public var sleepInit: Duration
        public var cpuInit: Duration
        public var repetitions: Int
        public init(modules: Int = 64, sleepInit: Duration = .milliseconds(10), cpuInit: Duration = .milliseconds(2), repetitions: Int = 5) {
            self.modules = modules
            self.sleepInit = sleepInit
            self.cpuInit = cpuInit
            self.repetitions = repetitions
        }
    }

    /// One variant: wall times (ms, medians) and their ratio to one init.
    public struct Variant: Codable, Sendable {
        /// The nominal init duration.
        public let initMs: Double
        /// One module loaded alone with the same init, as it really takes here (a sleep
        /// overshoots its nominal time) — the denominator of the ratios.
        public let oneLoadMs: Double
        public let modloadMs: Double
        public let globalLockMs: Double
        /// Modload's wall time over one init's (target ≤ 1.3 for sleeping inits).
        public let modloadRatioToOneInit: Double
        /// The global-lock loader's (≈ the module count).
        public let globalLockRatioToOneInit: Double
    }

    public struct Report: Codable, Sendable {
        public var scenario = "parallel"
        public let machine: Machine
        public let modules: Int
        public let sleeping: Variant
        public let cpuBound: Variant
    }

    final class Loadable: ModuleDefinition {
        let name: String
        let work: Duration
        let spins: Bool
        init(name: String, work: Duration, spins: Bool) {
            self.name = name
            self.work = work
            self.spins = spins
        }
        func initialize(_ context: ModuleContext) async throws {
            if spins { spinFor(nanoseconds: UInt64(work.microseconds) * 1000) } else { try await Task.sleep(for: work) }
        }
    }

    public static func run(_ options: Options) async -> Report {
        Report(
            machine: .current, modules: options.modules,
            sleeping: await variant(options, work: options.sleepInit, spins: false),
            cpuBound: await variant(options, work: options.cpuInit, spins: true))
    }

    static func variant(_ options: Options, work: Duration, spins: Bool) async -> Variant {
        var modload: [Double] = []
        var locked: [Double] = []
        var single: [Double] = []
        for _ in 0..<max(1, options.repetitions) {
            single.append(await measureModload(1, work: work, spins: spins))
            modload.append(await measureModload(options.modules, work: work, spins: spins))
        }
        for _ in 0..<max(1, options.repetitions) {
            locked.append(measureGlobalLock(options.modules, work: work, spins: spins))
        }
        let one = Distribution(single).median
        let m = Distribution(modload).median
        let g = Distribution(locked).median
        return Variant(
            initMs: work.milliseconds, oneLoadMs: one, modloadMs: m, globalLockMs: g,
            modloadRatioToOneInit: m / one, globalLockRatioToOneInit: g / one)
    }

    static func measureModload(_ count: Int, work: Duration, spins: Bool) async -> Double {
        let host = ModuleHost()
        let modules = (0..<count).map { Loadable(name: "parallel_\($0)", work: work, spins: spins) }
        let start = nowNanoseconds()
        await withTaskGroup(of: Void.self) { group in
            for module in modules { group.addTask { do { try await host.ensureLoaded(module) } catch {} } }
        }
        let wall = Double(nowNanoseconds() - start) / 1e6
        precondition(host.modules.count == count, "parallel bench: not every module loaded")
        return wall
    }

    /// The baseline: one thread per load, one global lock held through init.
    static func measureGlobalLock(_ count: Int, work: Duration, spins: Bool) -> Double {
        let lock = GlobalLock()
        let start = nowNanoseconds()
        let threads = (0..<count).map { _ in
            BenchThread(stackSize: 256 * 1024) {
                lock.withLock {
                    if spins { spinFor(nanoseconds: UInt64(work.microseconds) * 1000) } else { usleep(useconds_t(work.microseconds)) }
                }
            }
        }
        for thread in threads { thread.join() }
        return Double(nowNanoseconds() - start) / 1e6
    }

    final class GlobalLock: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        init() { pthread_mutex_init(mutex, nil) }
        func withLock(_ body: () -> Void) {
            pthread_mutex_lock(mutex)
            body()
            pthread_mutex_unlock(mutex)
        }
    }

    public static func render(_ r: Report) -> String {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        func row(_ label: String, _ v: Variant) -> String {
            "\(label)  one load \(f(v.oneLoadMs)) ms (init \(f(v.initMs)) ms) | Modload \(f(v.modloadMs)) ms (\(f(v.modloadRatioToOneInit))× one init) | "
                + "global lock \(f(v.globalLockMs)) ms (\(f(v.globalLockRatioToOneInit))×)"
        }
        return [
            "parallel — \(r.modules) distinct modules at once; \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date)",
            row("sleeping init:", r.sleeping) + "   target ≤ 1.3×",
            row("CPU-bound init:", r.cpuBound) + "   (bound: \(r.modules)/\(r.machine.cores) = \(f(Double(r.modules) / Double(r.machine.cores)))× on these cores)",
        ].joined(separator: "\n")
    }
}
