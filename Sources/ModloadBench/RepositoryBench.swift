#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Modload
import ModloadExampleBuilder
import ModloadRepository

/// `modload bench depmod`: depmod over generated trees of 1,000 and 10,000 module files with
/// random imports, against just reading the same files' bytes in the same run (on as many threads
/// as depmod reads with).
///
/// The files are made from one C fixture compiled once, its metadata rewritten per file (name,
/// exports, three imports of earlier modules of its group of 100 — a tree without cycles): depmod
/// reads metadata and checks every file as a load would, so what differs between real modules'
/// code does not matter to it. Trees are kept under `.build/modload-bench-trees/` between runs.
public enum DepmodBench {
    public struct Report: Codable, Sendable {
        public var scenario = "depmod"
        public let machine: Machine
        public let sizes: [Size]
        /// The largest tree's depmod time over the smallest's, per file ratio (1.0 = linear).
        public let growth: Double

        public struct Size: Codable, Sendable {
            public let files: Int
            /// depmod: find, read and check every file, resolve, sort, close, publish (ms, median).
            public let depmodMs: Double
            /// Of ``depmodMs``, publishing the index: building, writing and syncing its files (ms, median).
            public let publishMs: Double
            /// Reading every file's bytes, nothing else (ms, median).
            public let readMs: Double
            /// depmod over reading.
            public var ratio: Double { depmodMs / readMs }
        }
    }

    public static func run(quick: Bool) async throws -> Report {
        let sizes = quick ? [200, 2_000] : [1_000, 10_000]
        let repetitions = quick ? 1 : 3
        var results: [Report.Size] = []
        for count in sizes {
            let tree = try await generate(count)
            let root = try ModuleRoot(tree)
            var depmod: [Double] = []
            var publish: [Double] = []
            var reading: [Double] = []
            for _ in 0..<repetitions {
                let files = root.path
                var start = nowNanoseconds()
                readEveryFile(under: files)
                reading.append(Double(nowNanoseconds() - start) / 1e6)
                start = nowNanoseconds()
                let report = try Depmod.run(root)
                let indexed = nowNanoseconds()
                try report.index.write(to: root)
                depmod.append(Double(nowNanoseconds() - start) / 1e6)
                publish.append(Double(nowNanoseconds() - indexed) / 1e6)
                precondition(report.index.entries.count == count, "depmod bench: indexed \(report.index.entries.count) of \(count): \(report.warnings.prefix(3))")
            }
            results.append(Report.Size(
                files: count, depmodMs: Distribution(depmod).median, publishMs: Distribution(publish).median,
                readMs: Distribution(reading).median))
        }
        let growth = (results.last!.depmodMs / Double(results.last!.files)) / (results.first!.depmodMs / Double(results.first!.files))
        return Report(machine: .current, sizes: results, growth: growth)
    }

    public static func render(_ r: Report) -> String {
        var lines = ["depmod — index a tree of generated module files (median):"]
        for size in r.sizes {
            lines.append(String(
                format: "  %6d files: depmod %8.2f ms (of which publishing %6.2f ms)   reading the bytes %8.2f ms   %.2f×   target ≤ 2×",
                size.files, size.depmodMs, size.publishMs, size.readMs, size.ratio))
        }
        lines.append(String(format: "  growth per file, %d → %d files: %.2f× (linear: 1.0; target: ×10 files ≤ 10.5× time)",
            r.sizes.first!.files, r.sizes.last!.files, r.growth))
        return lines.joined(separator: "\n")
    }

    /// The tree of `count` generated files (made once, kept).
    static func generate(_ count: Int) async throws -> String {
        let folder = ExampleBuilder.shared.packageRoot + "/.build/modload-bench-trees/\(count)"
        if FileManager.default.fileExists(atPath: folder + "/complete") { return folder }
        try? FileManager.default.removeItem(atPath: folder)
        let template = Array(try Data(contentsOf: URL(fileURLWithPath: try await ExampleBuilder.shared.compile(
            cSource: ExampleBuilder.fixtureSource(
                name: "mod_AAAAAAAA", exports: ["sym_AAAAAAAA"], imports: ["imp_BBBBBBBB", "imp_CCCCCCCC", "imp_DDDDDDDD"]),
            named: "bench-depmod-template.so"))))
        var random = SystemRandomNumberGenerator()
        for index in 0..<count {
            func id(_ n: Int) -> String { String(format: "%08x", n) }
            var bytes = template
            replace(&bytes, "name=mod_AAAAAAAA", "name=mod_\(id(index))")
            for suffix in ["_mapped", "_started", "_ended"] { replace(&bytes, "export=mod_AAAAAAAA\(suffix)", "export=mod_\(id(index))\(suffix)") }
            replace(&bytes, "export=sym_AAAAAAAA", "export=sym_\(id(index))")
            // Three distinct earlier modules of its group of 100 (a folder, like a subsystem), so
            // dependency closures stay the size real trees have rather than growing with the
            // tree; the first three of a group import symbols nothing provides.
            let group = index / 100 * 100
            var targets = Set<Int>()
            while index - group >= 3 && targets.count < 3 { targets.insert(Int.random(in: group..<index, using: &random)) }
            let symbols = index - group >= 3 ? targets.sorted().map { "sym_\(id($0))" } : (0..<3).map { "sym_ffff000\($0)" }
            for (placeholder, symbol) in zip(["imp_BBBBBBBB", "imp_CCCCCCCC", "imp_DDDDDDDD"], symbols) {
                replace(&bytes, "import=\(placeholder)", "import=\(symbol)")
            }
            let directory = "\(folder)/kernel/group\(index / 100)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/mod_\(id(index)).so"))
        }
        _ = FileManager.default.createFile(atPath: folder + "/complete", contents: nil)
        return folder
    }

    /// Replaces the first occurrence of `old` (in the metadata section: prefixed by its key) with
    /// `new`, of the same length.
    private static func replace(_ bytes: inout [UInt8], _ old: String, _ new: String) {
        let from = Array(old.utf8), to = Array(new.utf8)
        precondition(from.count == to.count)
        guard let at = (0...(bytes.count - from.count)).first(where: { bytes[$0] == from[0] && Array(bytes[$0..<$0 + from.count]) == from }) else {
            preconditionFailure("depmod bench: the template has no \(old)")
        }
        bytes.replaceSubrange(at..<at + from.count, with: to)
    }

    /// Reads every `.so` under `folder` (open, fstat, read all, close), in parallel as depmod does.
    private static func readEveryFile(under folder: String) {
        let paths = (FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".so") && !$0.hasPrefix(".") }.map { "\(folder)/\($0)" }
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            let fd = open(paths[index], O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var status = stat()
            fstat(fd, &status)
            var buffer = [UInt8](repeating: 0, count: Int(status.st_size))
            _ = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        }
    }
}

/// `modload bench modprobe`: a request for a module whose dependencies are 8 independent
/// branches of depth 8 (64 module files), every init sleeping 5 ms — Modload against the critical
/// path (8 × 5 ms) and against kmod's strictly serial insert loop (the same plan, one load after
/// another: 64 × 5 ms), in the same run.
public enum ModprobeBench {
    public struct Report: Codable, Sendable {
        public var scenario = "modprobe"
        public let machine: Machine
        public let modules: Int
        public let initMs: Double
        /// Modload's request, wall time (ms, median).
        public let modloadMs: Double
        /// depth × init time.
        public let criticalPathMs: Double
        /// The serial insert loop, wall time (ms, median).
        public let serialMs: Double
        public var ratioToCriticalPath: Double { criticalPathMs > 0 ? modloadMs / criticalPathMs : .infinity }
        public var speedupVsSerial: Double { serialMs / modloadMs }
    }

    public static func run(quick: Bool, initMs: Int = 5) async throws -> Report {
        let branches = 8, depth = 8
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-bench-modprobe-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for branch in 0..<branches {
            for level in 0..<depth {
                let name = "b\(branch)_\(level)"
                let source = ExampleBuilder.fixtureSource(
                    name: name, exports: ["\(name)_fn"], imports: level + 1 < depth ? ["b\(branch)_\(level + 1)_fn"] : [])
                try await place(source, named: name, in: folder)
            }
        }
        try await place(ExampleBuilder.fixtureSource(name: "top", imports: (0..<branches).map { "b\($0)_0_fn" }), named: "top", in: folder)
        let root = try ModuleRoot(folder)
        try Depmod.run(root).index.write(to: root)
        let configuration = ModprobeConfiguration(
            parsing: (0..<branches).flatMap { b in (0..<depth).map { "options b\(b)_\($0) delay_ms=\(initMs)\n" } }.joined(), file: "bench.conf")
        let repository = try ModuleRepository(root: root, configuration: configuration)
        var modload: [Double] = []
        var serial: [Double] = []
        for _ in 0..<(quick ? 1 : 5) {
            let host = try ModuleHost(configuration: .init(resolver: repository))
            var start = nowNanoseconds()
            try await host.request("top")
            modload.append(Double(nowNanoseconds() - start) / 1e6)
            precondition(host.modules.count == branches * depth + 1)
            // kmod's loop: the plan, in order, one insert at a time.
            let plain = ModuleHost()
            let steps = try repository.plan("top")
            start = nowNanoseconds()
            for step in steps { try await plain.ensureLoaded(file: step.path, parameters: step.parameters) }
            serial.append(Double(nowNanoseconds() - start) / 1e6)
            precondition(plain.modules.count == branches * depth + 1)
            for module in host.modules.reversed() { _ = try? await host.unload(module.name) }
        }
        return Report(
            machine: .current, modules: branches * depth, initMs: Double(initMs), modloadMs: Distribution(modload).median,
            criticalPathMs: Double(depth * initMs), serialMs: Distribution(serial).median)
        // (With `initMs` 0 the figures are the pure cost of finding, checking, mapping and
        // initializing 65 files: what the critical path adds to on a machine of this size.)
    }

    private static func place(_ source: String, named name: String, in folder: String) async throws {
        let built = try await ExampleBuilder.shared.compile(cSource: source, named: "bench-modprobe-\(getpid())-\(name).so")
        try FileManager.default.createDirectory(atPath: folder + "/kernel", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: built, toPath: "\(folder)/kernel/\(name).so")
    }

    public static func render(_ r: Report) -> String {
        let ratio = r.criticalPathMs > 0 ? String(format: "%.2f×", r.ratioToCriticalPath) : "n/a"
        return String(format: "modprobe — a module with 8 independent branches of depth 8 (%d files), inits %.0f ms:\n", r.modules, r.initMs)
            + String(format: "  Modload %.2f ms   critical path %.2f ms   ", r.modloadMs, r.criticalPathMs) + ratio + "   target ≤ 1.3×\n"
            + String(format: "  kmod-style serial insert loop %.2f ms   Modload is %.1f× faster", r.serialMs, r.speedupVsSerial)
    }
}
