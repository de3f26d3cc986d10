import Modload

/// `modload bench cycle`: load + unload of a trivial built-in module, one after another, on a
/// host with nothing else loaded. The whole lifecycle: admission, formation, init, live, the
/// unload decision, exit, unlink (and the deferred release of the record).
public enum CycleBench {
    public struct Report: Codable, Sendable {
        public var scenario = "cycle"
        public let machine: Machine
        /// µs per load+unload: median and p99 over batches of 100 cycles.
        public let cycleUs: Distribution
        /// The C dlopen+dlsym+call+dlclose cycle from the limits, for scale (µs).
        public let cDlopenCycleUs: Double?
    }

    public static func run(quick: Bool, limits: Limits?) async -> Report {
        let host = ModuleHost()
        let module = BuiltinModule(name: "trivial")
        var samples: [Double] = []
        for _ in 0..<(quick ? 20 : 200) {
            let start = nowNanoseconds()
            for _ in 0..<100 {
                do {
                    try await host.insert(module)
                    try await host.unload("trivial")
                } catch {
                    preconditionFailure("cycle bench: \(error)")
                }
            }
            samples.append(Double(nowNanoseconds() - start) / 100 / 1000)
        }
        return Report(machine: .current, cycleUs: Distribution(samples), cDlopenCycleUs: limits?.dlopenCycleUs)
    }

    public static func render(_ r: Report) -> String {
        String(
            format: "cycle — load + unload of a trivial module: median %.2f µs, p99 %.2f µs   target ≤ 20 µs%@",
            r.cycleUs.median, r.cycleUs.p99,
            r.cDlopenCycleUs.map { String(format: "   (C dlopen+dlclose cycle: %.2f µs)", $0) } ?? "")
    }
}
