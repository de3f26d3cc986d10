#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Monotonic nanoseconds.
@inline(__always)
func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Median and tail of a set of samples.
public struct Distribution: Codable, Sendable, Equatable {
    public let median: Double
    public let p99: Double
    public let min: Double
    public let max: Double
    public let samples: Int

    init(median: Double, p99: Double, min: Double, max: Double, samples: Int) {
        self.median = median
        self.p99 = p99
        self.min = min
        self.max = max
        self.samples = samples
    }

    init(_ values: [Double]) {
        let sorted = values.sorted()
        func at(_ q: Double) -> Double { sorted.isEmpty ? .nan : sorted[Swift.min(sorted.count - 1, Int(q * Double(sorted.count)))] }
        median = at(0.5)
        p99 = at(0.99)
        min = sorted.first ?? .nan
        max = sorted.last ?? .nan
        samples = sorted.count
    }
}

/// The machine a figure was measured on.
public struct Machine: Codable, Sendable {
    public let cores: Int
    public let cpu: String
    public let date: String

    static var current: Machine {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return Machine(cores: sysconf(Int32(_SC_NPROCESSORS_ONLN)), cpu: cpu, date: formatter.string(from: Date()))
    }
}

/// Runs `body` on a new POSIX thread; `join()` waits for it.
final class BenchThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    init(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }
        let rc = pthread_create(&thread, &attributes, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        precondition(rc == 0, "pthread_create: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

/// Keeps a computed value alive so the optimizer cannot drop the loop that made it.
@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

