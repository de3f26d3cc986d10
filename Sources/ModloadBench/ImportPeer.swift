import Foundation

/// The burst run through a real peer: CPython's import system (`bench burst --peers`).
///
/// The same requests as ``BurstBench`` — per CPU one `pcc_cpufreq` and two `acpi_cpufreq` — are
/// 864 Python threads released at once by a barrier, each calling `importlib.import_module` on a
/// module whose top level counts its executions, sleeps the init time and raises (the failing
/// init); a second run has the top level succeed. CPython holds a lock per module name while one
/// thread executes the module, and a failed import leaves nothing in `sys.modules`, so every
/// thread that waited executes the body again: no failed-import merging. A succeeding import
/// runs once and the rest find it in `sys.modules`.
///
/// What the peer is not: a module host. It has no unload, no references, no dependency graph, no
/// cancellation; the figure says what merging a failure is worth, nothing more.
public enum ImportPeer {
    public struct Result: Codable, Sendable {
        /// `python3 --version`.
        public let python: String
        /// Executions of each module's body in the failing run.
        public let executions: [String: Int]
        /// Wall time of the failing run, barrier release to the last thread's answer (ms).
        public let wallMs: Double
        /// Executions and wall time when the body succeeds.
        public let succeedingExecutions: [String: Int]
        public let succeedingWallMs: Double
    }

    /// Runs the peer with `python3` from the PATH, or returns why it could not.
    public static func run(cpus: Int, initMs: Double) -> Swift.Result<Result, PeerUnavailable> {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-import-peer-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try driver.write(to: folder.appendingPathComponent("driver.py"), atomically: true, encoding: .utf8)
        } catch {
            return .failure(PeerUnavailable(reason: "cannot write the driver into \(folder.path)"))
        }
        guard let version = python(["--version"], in: folder.path)?.trimmingCharacters(in: .whitespacesAndNewlines), !version.isEmpty else {
            return .failure(PeerUnavailable(reason: "python3 is not installed (or not on the PATH)"))
        }
        func measure(_ outcome: String) -> (executions: [String: Int], wallMs: Double)? {
            guard let output = python(["driver.py", folder.path, "\(cpus)", "\(initMs)", outcome], in: folder.path),
                let data = output.split(separator: "\n").last.map({ Data($0.utf8) }),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let executions = json["executions"] as? [String: Int], let wall = json["wallMs"] as? Double
            else { return nil }
            return (executions, wall)
        }
        guard let failing = measure("raise"), let succeeding = measure("succeed") else {
            return .failure(PeerUnavailable(reason: "the Python driver did not report (\(version))"))
        }
        return .success(
            Result(
                python: version, executions: failing.executions, wallMs: failing.wallMs,
                succeedingExecutions: succeeding.executions, succeedingWallMs: succeeding.wallMs))
    }

    /// Why the peer did not run.
    public struct PeerUnavailable: Error, Sendable {
        public let reason: String
    }

    /// Runs `python3 arguments` in `folder`; its standard output, or `nil` if it failed.
    private static func python(_ arguments: [String], in folder: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The driver: writes the two modules, releases the threads at once, prints one JSON line.
    static let driver = #"""
        import importlib, json, os, sys, threading, time
        folder, cpus, init_ms, outcome = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
        names = ["pcc_cpufreq", "acpi_cpufreq"]
        package = "peer_" + outcome
        os.makedirs(os.path.join(folder, package), exist_ok=True)
        open(os.path.join(folder, package, "__init__.py"), "w").close()
        with open(os.path.join(folder, "peer_tally.py"), "w") as f:
            f.write("import threading\nlock = threading.Lock()\ncounts = {}\n"
                    "def hit(name):\n    with lock:\n        counts[name] = counts.get(name, 0) + 1\n")
        for name in names:
            with open(os.path.join(folder, package, name + ".py"), "w") as f:
                f.write("import time, peer_tally\npeer_tally.hit(%r)\ntime.sleep(%r)\n" % (name, init_ms / 1000))
                if outcome == "raise":
                    f.write("raise RuntimeError('no device')\n")
        threading.stack_size(256 * 1024)  # 864 threads
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
        import peer_tally
        requests = [n for _ in range(cpus) for n in (names[0], names[1], names[1])]
        barrier = threading.Barrier(len(requests) + 1)
        def request(name):
            barrier.wait()
            try:
                importlib.import_module(package + "." + name)
            except RuntimeError:
                pass
        threads = [threading.Thread(target=request, args=(n,)) for n in requests]
        for t in threads: t.start()
        barrier.wait()
        start = time.monotonic()
        for t in threads: t.join()
        wall = (time.monotonic() - start) * 1000
        print(json.dumps({"executions": peer_tally.counts, "wallMs": wall}))
        """#
}
