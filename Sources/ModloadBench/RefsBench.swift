import Modload
import Synchronization

/// `modload bench refs`: acquire + release of a module reference — try-get (state check and an
/// increment-unless-zero) and put — against the same two operations in C from the limits, on one
/// thread and on two threads hammering the same module. Also shown: acquire by name (a lookup
/// included) and duplicate (a plain increment).
public enum RefsBench {
    public struct Report: Codable, Sendable {
        public var scenario = "refs"
        public let machine: Machine
        /// `handle.acquire()` + release, ns per pair, one thread.
        public let acquireReleaseNs: Double
        /// The same on each of two threads, same module (contended line).
        public let acquireReleaseTwoThreadsNs: Double
        /// `host.acquire(name)` + release (includes the name lookup).
        public let acquireByNameReleaseNs: Double
        /// `ref.duplicate()` + release.
        public let duplicateReleaseNs: Double
        /// C get+put from the limits (1 and 2 threads), when measured.
        public let cGetPutNs: Double?
        public let cGetPutTwoThreadsNs: Double?
        /// acquire+release over C get+put (target ≤ 1.5).
        public let ratioToC: Double?
        public let ratioToCTwoThreads: Double?
    }

    public static func run(quick: Bool, limits: Limits?) async -> Report {
        let host = ModuleHost()
        try! await host.insert(BuiltinModule(name: "refs_target"))
        let handle = try! host.handle(of: "refs_target")
        let iterations = quick ? 2_000_000 : 20_000_000
        let one = measure(threads: 1, iterations: iterations) { count in
            for _ in 0..<count { if let ref = try? handle.acquire() { ref.release() } }
        }
        let two = measure(threads: 2, iterations: iterations / 2) { count in
            for _ in 0..<count { if let ref = try? handle.acquire() { ref.release() } }
        }
        let byName = measure(threads: 1, iterations: iterations / 10) { count in
            for _ in 0..<count { if let ref = try? host.acquire("refs_target") { ref.release() } }
        }
        let held = try! handle.acquire()
        let duplicate = measureHeld(held, iterations: iterations)
        held.release()
        return Report(
            machine: .current, acquireReleaseNs: one, acquireReleaseTwoThreadsNs: two,
            acquireByNameReleaseNs: byName, duplicateReleaseNs: duplicate,
            cGetPutNs: limits?.getPutNs, cGetPutTwoThreadsNs: limits?.getPutTwoThreadsNs,
            ratioToC: limits?.getPutNs.map { one / $0 },
            ratioToCTwoThreads: limits?.getPutTwoThreadsNs.map { two / $0 })
    }

    /// Median over 5 repetitions of the per-thread ns per operation, `threads` threads at once.
    /// `loop(n)` runs the operation `n` times (the loop is in the caller's code, as in C).
    static func measure(threads: Int, iterations: Int, _ loop: @escaping @Sendable (Int) -> Void) -> Double {
        var results: [Double] = []
        for _ in 0..<5 {
            let perThread = Mutex<[Double]>([])
            let workers = (0..<threads).map { _ in
                BenchThread {
                    let start = nowNanoseconds()
                    loop(iterations)
                    let ns = Double(nowNanoseconds() - start) / Double(iterations)
                    perThread.withLock { $0.append(ns) }
                }
            }
            for worker in workers { worker.join() }
            results.append(perThread.withLock { $0.reduce(0, +) / Double($0.count) })
        }
        return Distribution(results).median
    }

    static func measureHeld(_ held: borrowing ModuleReference, iterations: Int) -> Double {
        var results: [Double] = []
        for _ in 0..<5 {
            let start = nowNanoseconds()
            for _ in 0..<iterations { held.duplicate().release() }
            results.append(Double(nowNanoseconds() - start) / Double(iterations))
        }
        return Distribution(results).median
    }

    public static func render(_ r: Report) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "–" }
        return [
            "refs — \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date)",
            "acquire + release (handle), 1 thread    \(f(r.acquireReleaseNs)) ns   C get+put \(f(r.cGetPutNs)) ns   ratio \(f(r.ratioToC))×   target ≤ 1.5×",
            "acquire + release (handle), 2 threads   \(f(r.acquireReleaseTwoThreadsNs)) ns   C get+put \(f(r.cGetPutTwoThreadsNs)) ns   ratio \(f(r.ratioToCTwoThreads))×",
            "acquire by name + release               \(f(r.acquireByNameReleaseNs)) ns (includes the lookup)",
            "duplicate + release                     \(f(r.duplicateReleaseNs)) ns",
        ].joined(separator: "\n")
    }
}
