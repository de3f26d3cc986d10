#if canImport(Glibc)
import Glibc
#endif
import CModloadLimits
import Foundation

/// The physical limits Modload's figures are held against (docs/design.md §10), measured in C on
/// this machine in the same run: a reference get+put, waking 864 sleeping threads, a `dlopen`
/// cycle of a tiny library, and liburcu's read section and grace period. The first two are C
/// compiled with the package (`CModloadLimits`); the `dlopen` cycle needs a tiny library and the
/// liburcu figures a program built against liburcu, both compiled with `cc` for the run. A figure
/// that cannot be measured is left out with the reason in ``missing``.
public struct Limits: Codable, Sendable {
    /// C reference get (increment-unless-zero) + put, ns.
    public var getPutNs: Double?
    /// The same on each of two threads, one counter, ns (the `full` set).
    public var getPutTwoThreadsNs: Double?
    /// liburcu (memb, inlined) read section lock+dereference+unlock, ns.
    public var rcuReadNs: Double?
    /// liburcu `synchronize_rcu` with one busy reader, median µs.
    public var rcuSynchronizeUs: Double?
    /// dlopen+dlsym+call+dlclose of a tiny library, median µs.
    public var dlopenCycleUs: Double?
    /// Waking 864 sleeping threads with one futex broadcast, until the last acknowledges, median µs.
    public var wake864Us: Double?
    /// Where the figures came from: "measured in this run", or the file they were read from.
    public var source: String
    /// Figures that are not there, and why.
    public var missing: [String: String] = [:]

    public init(source: String) { self.source = source }

    /// Measures every figure (a few seconds; `full` adds the two-thread get+put).
    public static func measure(full: Bool = false) -> Limits {
        var limits = Limits(source: "measured in this run")
        limits.getPutNs = ml_limit_get_put_ns(1, 20_000_000, 9)
        if full { limits.getPutTwoThreadsNs = ml_limit_get_put_ns(2, 5_000_000, 9) }
        let wake = ml_limit_wake_us(864, 20)
        if wake >= 0 { limits.wake864Us = wake } else { limits.missing["wake864Us"] = "could not start 864 threads" }
        let folder = NSTemporaryDirectory() + "modload-limits-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // The dlopen cycle, of a library that does nothing.
        switch compile("int modload_limit_tiny(void) { return 42; }\n", in: folder, named: "libtiny.so", flags: ["-shared", "-fPIC"]) {
        case .success(let library):
            let cycle = ml_limit_dlopen_cycle_us(library, "modload_limit_tiny", 30, 100)
            if cycle >= 0 { limits.dlopenCycleUs = cycle } else { limits.missing["dlopenCycleUs"] = "the tiny library would not load" }
        case .failure(let reason):
            limits.missing["dlopenCycleUs"] = reason.description
        }
        // liburcu, where its headers and library are installed.
        switch compile(urcuSource, in: folder, named: "urcu-limits", flags: ["-pthread"], libraries: ["-lurcu-memb"]) {
        case .success(let program):
            let output = run(program)
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let value = Double(parts[1]) else { continue }
                if parts[0] == "read" { limits.rcuReadNs = value }
                if parts[0] == "sync" { limits.rcuSynchronizeUs = value }
            }
            if limits.rcuReadNs == nil { limits.missing["rcu"] = "the liburcu program printed nothing usable" }
        case .failure(let reason):
            limits.missing["rcu"] = reason.contains("urcu") || reason.contains("No such file")
                ? "liburcu is not installed (apt-get install liburcu-dev)" : reason.description
        }
        return limits
    }

    /// The figures as a table, with what is missing and why.
    public static func render(_ limits: Limits) -> String {
        func row(_ label: String, _ value: Double?, _ unit: String) -> String? {
            value.map { label.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: "%10.2f %@", $0, unit) }
        }
        var lines = ["C limits (\(limits.source))"]
        lines += [
            row("  get+put, one thread", limits.getPutNs, "ns"), row("  get+put, two threads on one counter", limits.getPutTwoThreadsNs, "ns"),
            row("  waking 864 threads, until the last answers", limits.wake864Us, "µs"),
            row("  dlopen + dlsym + call + dlclose, tiny library", limits.dlopenCycleUs, "µs"),
            row("  liburcu read section (memb, inlined)", limits.rcuReadNs, "ns"),
            row("  liburcu synchronize_rcu, one busy reader", limits.rcuSynchronizeUs, "µs"),
        ].compactMap { $0 }
        lines += limits.missing.sorted { $0.key < $1.key }.map { "  not measured: \($0.key): \($0.value)" }
        return lines.joined(separator: "\n")
    }

    /// Limits saved earlier (`modload bench limits --json > FILE`).
    ///
    /// - Throws: a description of why `path` is no limits file.
    public static func load(_ path: String) throws -> Limits {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LimitsFileError(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist")
        }
        do {
            var limits = try JSONDecoder().decode(Limits.self, from: data)
            limits.source = path
            return limits
        } catch {
            throw LimitsFileError(path: path, reason: "is not a limits file (JSON from `modload bench limits --json`)")
        }
    }

    /// Why `--limits PATH` cannot be used.
    public struct LimitsFileError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Compiles C `source` into `folder/name` with `cc` (or `$CC`): the output path, or why not.
    private static func compile(
        _ source: String, in folder: String, named name: String, flags: [String], libraries: [String] = []
    ) -> Result<String, CompileFailure> {
        let file = "\(folder)/\(name).c"
        guard (try? source.write(toFile: file, atomically: true, encoding: .utf8)) != nil else {
            return .failure(CompileFailure("cannot write \(file)"))
        }
        let output = "\(folder)/\(name)"
        let compiler = ProcessInfo.processInfo.environment["CC"] ?? "cc"
        let log = run("/usr/bin/env", [compiler, "-O2"] + flags + [file, "-o", output] + libraries, status: true)
        guard log.hasPrefix("0\n") else {
            if log.hasPrefix("127\n") { return .failure(CompileFailure("no C compiler (\(compiler)) to build it")) }
            return .failure(CompileFailure(log.split(separator: "\n").dropFirst().first.map(String.init) ?? "\(compiler) failed"))
        }
        return .success(output)
    }

    private struct CompileFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
        func contains(_ text: String) -> Bool { description.contains(text) }
    }

    /// Runs a program; its standard output (with `status`, its exit status first, then output and
    /// error output).
    private static func run(_ program: String, _ arguments: [String] = [], status: Bool = false) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = status ? pipe : FileHandle.nullDevice
        do { try process.run() } catch { return status ? "127\n" : "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        return status ? "\(process.terminationStatus)\n" + text : text
    }

    /// liburcu's read section (inlined, memb flavour) and grace period with one busy reader.
    private static let urcuSource = """
        #define _LGPL_SOURCE
        #include <pthread.h>
        #include <stdatomic.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <time.h>
        #include <urcu/urcu-memb.h>

        static int value = 1, *pointer = &value;
        static atomic_int stop;
        static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
        static int compare(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
        static void *reader(void *raw) {
            (void)raw;
            urcu_memb_register_thread();
            long sink = 0;
            while (!atomic_load(&stop)) { urcu_memb_read_lock(); sink += *rcu_dereference(pointer); urcu_memb_read_unlock(); }
            urcu_memb_unregister_thread();
            return (void *)sink;
        }
        int main(void) {
            urcu_memb_register_thread();
            double reads[7];
            long sink = 0;
            for (int r = 0; r < 7; r++) {
                double start = now();
                for (long i = 0; i < 50000000; i++) { urcu_memb_read_lock(); sink += *rcu_dereference(pointer); urcu_memb_read_unlock(); }
                reads[r] = (now() - start) / 50000000;
            }
            qsort(reads, 7, sizeof *reads, compare);
            printf("read %.3f\\n", reads[3]);
            urcu_memb_unregister_thread();
            pthread_t thread;
            pthread_create(&thread, NULL, reader, NULL);
            double syncs[1000];
            for (int i = 0; i < 1000; i++) { double start = now(); urcu_memb_synchronize_rcu(); syncs[i] = (now() - start) / 1000; }
            atomic_store(&stop, 1);
            pthread_join(thread, NULL);
            qsort(syncs, 1000, sizeof *syncs, compare);
            printf("sync %.3f\\n", syncs[500]);
            return sink == 42;
        }
        """
}
