import Foundation

/// The physical limits measured in C by `../shared/limits/run` (DESIGN §10), when that script is
/// present: Modload's figures are reported beside them, measured on the same machine in the same
/// run. Parsed from its one-line-per-figure output ("… median X …").
public struct Limits: Codable, Sendable {
    /// C atomic get+put, ns.
    public var getPutNs: Double?
    /// C atomic get+put on each of two threads, same line, ns (the `full` set).
    public var getPutTwoThreadsNs: Double?
    /// liburcu (memb, inlined) read section lock+deref+unlock, ns.
    public var rcuReadNs: Double?
    /// liburcu synchronize_rcu with one busy reader, median µs.
    public var rcuSynchronizeUs: Double?
    /// dlopen+dlsym+call+dlclose cycle, median µs.
    public var dlopenCycleUs: Double?
    /// Waking 864 sleeping threads with a futex broadcast, last acknowledgement, median µs.
    public var wake864Us: Double?
    /// Where the figures came from.
    public var source: String

    /// Runs the limits script if it exists (a minute or two; `full` adds the two-thread and
    /// condvar figures); `nil` if it is absent or fails.
    public static func measure(script: String, full: Bool = false) -> Limits? {
        guard FileManager.default.isExecutableFile(atPath: script) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        if full { process.arguments = ["full"] }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return parse(String(decoding: data, as: UTF8.self), source: script)
    }

    static func parse(_ output: String, source: String) -> Limits {
        var limits = Limits(source: source)
        for line in output.split(separator: "\n").map(String.init) {
            func median(after marker: String = "median") -> Double? {
                // The first number after the first "median" that follows the label.
                guard let range = line.range(of: marker) else { return nil }
                return line[range.upperBound...].split(separator: " ").lazy.compactMap { Double($0) }.first
            }
            if line.hasPrefix("get_put thr=1") && line.contains("per-thread") { limits.getPutNs = median() }
            if line.hasPrefix("get_put thr=2") && line.contains("per-thread") { limits.getPutTwoThreadsNs = median() }
            if line.contains("inline") && line.contains("lock+deref+unlock") { limits.rcuReadNs = median() }
            if line.contains("sync readers=1 busy: median") { limits.rcuSynchronizeUs = median() }
            if line.hasPrefix("cycle: dlopen") && !line.contains("p99") { limits.dlopenCycleUs = median() }
            if line.hasPrefix("bc_futex") { limits.wake864Us = median(after: "last-ack median") }
        }
        return limits
    }
}
