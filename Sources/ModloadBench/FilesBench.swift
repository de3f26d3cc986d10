#if canImport(Glibc)
import Glibc
#endif
import CModloadABI
import Modload
import ModloadExampleBuilder

/// `modload bench files`: load + unload of a module file (the C example `checksum`, built from
/// `Examples/` for the run), measured alternately in the same run against two loaders written
/// here for comparison:
///
/// - *raw*: `dlopen` + `dlsym` of the descriptor function + call + `dlclose` — the issue's
///   baseline (target ≤ 1.2×);
/// - *hand-written*: the same, plus the module's init, cleanup and exit called directly with a
///   stub host table — what a minimal loader with no merging, validation, references or grace
///   periods does.
///
/// A Modload cycle is everything a user gets: read and validate the file (ELF, ABI, signature
/// policy), map it, check the descriptor, the load pipeline (admission, formation, init on an
/// entry-point thread), then the unload (cleanup and exit on an entry-point thread, unlink, a
/// grace period, `dlclose`, and the check that the dynamic linker dropped it).
public enum FilesBench {
    public struct Report: Codable, Sendable {
        public var scenario = "files"
        public let machine: Machine
        /// µs per cycle (medians and p99s over batches): `insert(file:)` + `unload`.
        public let modloadCycleUs: Distribution
        /// µs per raw cycle.
        public let rawCycleUs: Distribution
        /// µs per hand-written-loader cycle.
        public let handWrittenCycleUs: Distribution
        /// `modloadCycleUs.median / rawCycleUs.median` (the target: ≤ 1.2).
        public let ratio: Double
        /// `modloadCycleUs.median / handWrittenCycleUs.median`.
        public let ratioToHandWritten: Double
        /// µs per `ModuleFileInfo.inspect` (read, validate, map, read the descriptor, unmap): the
        /// file part of a cycle, without the pipeline, the entry points or the grace period.
        public let inspectUs: Distribution
        /// µs per `Quiescence.synchronize()` in the same loop (one grace period, as an unload waits).
        public let synchronizeUs: Distribution
        /// µs per load + unload of a built-in module in the same loop (the pipeline alone).
        public let builtinCycleUs: Distribution
        /// The C limits' dlopen+dlsym+call+dlclose cycle of a tiny library (µs), for scale.
        public let cDlopenCycleUs: Double?
    }

    public static func run(quick: Bool, limits: Limits?) async throws -> Report {
        let path = try await ExampleBuilder.shared.path(of: .checksum)
        let host = ModuleHost()
        let builtin = BuiltinModule(name: "trivial")
        let batches = quick ? 10 : 60
        let perBatch = 50
        var samples = [[Double]](repeating: [], count: 6)
        for batch in 0..<(batches + 2) {  // two warm-up batches
            var figures: [Double] = []
            func time(_ body: () async throws -> Void) async rethrows {
                let start = nowNanoseconds()
                for _ in 0..<perBatch { try await body() }
                figures.append(Double(nowNanoseconds() - start) / Double(perBatch) / 1000)
            }
            try await time {
                try await host.insert(file: path)
                let outcome = try await host.unload("checksum")
                precondition(outcome.image == .unmapped, "files bench: not unmapped: \(String(describing: outcome.image))")
            }
            await time { rawCycle(path) }
            await time { handWrittenCycle(path) }
            try await time { _ = try ModuleFileInfo.inspect(path) }
            await time { await Quiescence.synchronize() }
            try await time {
                try await host.insert(builtin)
                try await host.unload("trivial")
            }
            if batch >= 2 { for (index, figure) in figures.enumerated() { samples[index].append(figure) } }
        }
        let d = samples.map(Distribution.init)
        return Report(
            machine: .current, modloadCycleUs: d[0], rawCycleUs: d[1], handWrittenCycleUs: d[2],
            ratio: d[0].median / d[1].median, ratioToHandWritten: d[0].median / d[2].median,
            inspectUs: d[3], synchronizeUs: d[4], builtinCycleUs: d[5], cDlopenCycleUs: limits?.dlopenCycleUs)
    }

    private typealias DescriptorFunction = @convention(c) () -> UnsafePointer<modload_descriptor>?

    /// The baseline: map, find and call the descriptor function, unmap.
    private static func rawCycle(_ path: String) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { preconditionFailure("dlopen \(path) failed") }
        blackHole(unsafeBitCast(dlsym(handle, "modload_module_descriptor_v2"), to: DescriptorFunction.self)())
        dlclose(handle)
    }

    /// A minimal loader: map, init, cleanup, exit, unmap — no checks, no host.
    private static func handWrittenCycle(_ path: String) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL),
            let descriptor = unsafeBitCast(dlsym(handle, "modload_module_descriptor_v2"), to: DescriptorFunction.self)()
        else { preconditionFailure("dlopen \(path) failed") }
        let d = descriptor.pointee
        precondition(d.`init`!(stubHost, nil) == 0)
        precondition(d.cleanup.map { $0(stubHost, nil) } ?? 0 == 0)
        d.exit?(stubHost, nil)
        dlclose(handle)
    }

    /// Host functions that do nothing (no parameters, no imports, requests succeed).
    nonisolated(unsafe) private static let stubHost: UnsafePointer<modload_host_api> = {
        let table = UnsafeMutablePointer<modload_host_api>.allocate(capacity: 1)
        table.initialize(
            to: modload_host_api(
                abi_version: MODLOAD_ABI_VERSION, size: UInt32(MemoryLayout<modload_host_api>.size),
                log: { _, _, _ in }, symbol: { _, _ in nil }, request: { _, _ in 0 }, acquire: { _, _ in nil },
                release: { _, _ in }, parameter: { _, _ in nil }))
        return UnsafePointer(table)
    }()

    public static func render(_ r: Report) -> String {
        func row(_ label: String, _ d: Distribution) -> String {
            label.padding(toLength: 50, withPad: " ", startingAt: 0) + String(format: "median %7.2f µs   p99 %7.2f µs", d.median, d.p99)
        }
        var lines = ["files — load + unload of a module file (the C example checksum)"]
        lines.append(row("  Modload insert(file:) + unload", r.modloadCycleUs))
        lines.append(row("  raw dlopen + dlsym + call + dlclose", r.rawCycleUs))
        lines.append(row("  hand-written loader (+ init, cleanup, exit)", r.handWrittenCycleUs))
        lines.append(String(format: "  ratio to raw %.2f× (target ≤ 1.2×); to the hand-written loader %.2f×", r.ratio, r.ratioToHandWritten))
        lines.append("  where Modload's time goes (same loop):")
        lines.append(row("    check without mapping (read, ELF, metadata)", r.inspectUs))
        lines.append(row("    one grace period (synchronize)", r.synchronizeUs))
        lines.append(row("    load + unload of a built-in module", r.builtinCycleUs))
        if let c = r.cDlopenCycleUs { lines.append(String(format: "  C limits: dlopen+dlsym+call+dlclose of a tiny library  %.2f µs", c)) }
        return lines.joined(separator: "\n")
    }
}
