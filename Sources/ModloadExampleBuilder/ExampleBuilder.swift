import Foundation
import Modload

/// Builds the example module files under `Examples/` from source — C with the machine's `cc`,
/// Swift with the toolchain's `swiftc` and the ModloadModule library, then `modload seal`'s step
/// (``ModuleSealing``) — into a scratch folder, once per process and variant. The tests and
/// `modload bench files` load what it builds, and `modload boot` builds its demo tree
/// (`Examples/boot`) with ``buildModule(source:to:includes:defines:)``; nothing built is
/// committed.
///
/// The commands are the ones `Examples/README.md` gives. `CC` and `SWIFTC` in the environment
/// choose other compilers.
public actor ExampleBuilder {
    /// The builder every caller in the process shares (so each variant is built once).
    public static let shared = ExampleBuilder()

    /// The example modules.
    public enum Example: String, Sendable, CaseIterable {
        /// C: CRC-32C checksums (exports `checksum_crc32c`).
        case checksum
        /// Swift: a journal that imports `checksum_crc32c` and exports `journal_commits`.
        case journal
        /// C: imports `journal_commits` from the Swift module.
        case jstat

        var isSwift: Bool { self == .journal }
        var source: String {
            switch self {
            case .checksum: "checksum/checksum.c"
            case .journal: "journal/Journal.swift"
            case .jstat: "jstat/jstat.c"
            }
        }
    }

    /// Why a build failed: the command and what the compiler printed.
    public struct BuildFailure: Error, CustomStringConvertible {
        /// The command that failed.
        public let command: String
        /// What it printed.
        public let output: String
        public var description: String { "\(command) failed:\n\(output)" }
    }

    /// The package's root folder (this file is `Sources/ModloadExampleBuilder/ExampleBuilder.swift`).
    public nonisolated let packageRoot: String
    /// Where builds go (a folder per process).
    public nonisolated let scratch: String

    private var builds: [String: Task<String, any Error>] = [:]

    /// A builder writing into `.build/modload-examples/run-<pid>` under the package root. Folders
    /// left there by processes that have exited are removed.
    public init() {
        packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let parent = packageRoot + "/.build/modload-examples"
        scratch = parent + "/run-\(getpid())"
        for folder in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where folder.hasPrefix("run-") {
            if let pid = Int32(folder.dropFirst(4)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: parent + "/" + folder)
            }
        }
    }

    /// The built module file of `example` (built now if it was not yet), with `defines` set
    /// (`-D NAME`: how a test makes another version of the same module).
    public func path(of example: Example, defines: [String] = []) async throws -> String {
        let key = ([example.rawValue] + defines.sorted()).joined(separator: "+")
        if let build = builds[key] { return try await build.value }
        let build = Task { try await self.build(example, defines: defines, key: key) }
        builds[key] = build
        return try await build.value
    }

    /// A fresh copy of the built module file at `destination` (a file of its own: loads of it are
    /// not loads of another copy).
    public func copy(_ example: Example, to destination: String, defines: [String] = []) async throws {
        let built = try await path(of: example, defines: defines)
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: built, toPath: destination)
    }

    private func build(_ example: Example, defines: [String], key: String) async throws -> String {
        let output = "\(scratch)/\(key)/lib\(example.rawValue).so"
        try FileManager.default.createDirectory(atPath: "\(scratch)/\(key)", withIntermediateDirectories: true)
        try await buildModule(source: "\(packageRoot)/Examples/\(example.source)", to: output, defines: defines)
        return output
    }

    /// Builds the module file `output` from one source file: C (`.c`) with the machine's `cc`, or
    /// Swift (`.swift`, its module named after the output: `libNAME.so` or `NAME.so`) with
    /// `swiftc` and the ModloadModule library, then sealed. `includes` are more header folders
    /// (the ABI header's is always there); `defines` are `-D NAME`s.
    public func buildModule(source: String, to output: String, includes: [String] = [], defines: [String] = []) async throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)  // the compilers' logs
        let abi = "\(packageRoot)/Sources/CModloadABI/include"
        let headers = ([abi] + includes).flatMap { ["-I", $0] }
        if source.hasSuffix(".swift") {
            let library = try await moduleLibrary()
            var name = URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
            if name.hasPrefix("lib") { name.removeFirst(3) }
            try await run(
                swiftc,
                ["-parse-as-library", "-emit-library", "-module-name", name, "-I", library] + headers
                    + ["-L", library, "-lModloadModule", "-lModloadABI"]
                    + defines.flatMap { ["-D", $0] } + [source, "-o", output])
            // Swift writes no metadata section at compile time: seal it, as a module's build does.
            do {
                try ModuleSealing.seal(file: output)
            } catch {
                throw BuildFailure(command: "modload seal \(output)", output: "\(error)")
            }
        } else {
            try await run(cc, ["-shared", "-fPIC", "-O2", "-Wall", "-Werror"] + headers + defines.map { "-D" + $0 } + [source, "-o", output])
        }
    }

    /// Compiles C source text into a shared object named `name` in the scratch folder — for test
    /// fixtures (modules that break one rule of the ABI, objects that are not modules). `flags`
    /// replace the default `-shared -fPIC` (e.g. `["-c"]` for an object file, `[]` for an
    /// executable).
    public func compile(cSource: String, named name: String, flags: [String] = ["-shared", "-fPIC"]) async throws -> String {
        let folder = "\(scratch)/fixtures"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = "\(folder)/\(name).c"
        try cSource.write(toFile: source, atomically: true, encoding: .utf8)
        let output = "\(folder)/\(name)"
        try await run(cc, flags + ["-O2", "-I", "\(packageRoot)/Sources/CModloadABI/include", source, "-o", output])
        return output
    }

    /// The C source of a small fixture module for trees of module files (tests and the repository
    /// benchmarks): it exports `<name>_mapped()` (the monotonic time its ELF constructor ran: when
    /// the file was mapped), `<name>_started()` and `<name>_ended()` (the times its init began and
    /// ended), all in nanoseconds, and `<symbol>()` (`u32()`) for each of `exports`; imports
    /// each of `imports` (`u32()`); takes `delay_ms` (its init sleeps that long), `fail` (its
    /// init fails with ENODEV) and `stamp` (its init appends its end time to that file: how a
    /// benchmark in another process learns it); and declares `aliases` and `softdep`.
    public nonisolated static func fixtureSource(
        name: String, exports: [String] = [], imports: [String] = [], aliases: [String] = [], softdep: String? = nil
    ) -> String {
        let identifier = name.replacingOccurrences(of: "-", with: "_")
        var source = """
            #include <stdint.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <time.h>
            #include "modload.h"
            static uint64_t mapped, started, ended;
            static uint64_t now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec; }
            __attribute__((constructor)) static void fixture_mapped(void) { mapped = now(); }
            uint64_t \(identifier)_mapped(void) { return mapped; }
            uint64_t \(identifier)_started(void) { return started; }
            uint64_t \(identifier)_ended(void) { return ended; }

            """
        for symbol in exports { source += "uint32_t \(symbol)(void) { return 1; }\n" }
        source += """
            static int fixture_init(const struct modload_host_api *api, modload_host *host) {
                started = now();
                const char *fail = api->parameter(host, "fail");
                const char *delay = api->parameter(host, "delay_ms");
                long ms = delay ? strtol(delay, 0, 10) : 0;
                if (ms > 0) { struct timespec s = { ms / 1000, (ms % 1000) * 1000000L }; nanosleep(&s, 0); }

            """
        for symbol in imports { source += "    if (!api->symbol(host, \"\(symbol)\")) return -2;\n" }
        source += """
                ended = now();
                const char *stamp = api->parameter(host, "stamp");
                if (stamp && stamp[0]) { FILE *f = fopen(stamp, "a"); if (f) { fprintf(f, "%llu\\n", (unsigned long long)ended); fclose(f); } }
                return fail && strchr("1yYt", fail[0]) && fail[0] ? -19 : 0;
            }
            static void fixture_exit(const struct modload_host_api *api, modload_host *host) { (void)api; (void)host; }
            MODLOAD_NAME("\(name)");
            MODLOAD_VERSION("1.0");
            MODLOAD_DESCRIPTION("fixture \(name)");
            MODLOAD_LICENSE("MIT");
            MODLOAD_EXPORT(\(identifier)_mapped, "u64()");
            MODLOAD_EXPORT(\(identifier)_started, "u64()");
            MODLOAD_EXPORT(\(identifier)_ended, "u64()");
            MODLOAD_PARAM(delay_ms, int, "0", "how long init sleeps");
            MODLOAD_PARAM(fail, bool, "0", "init fails with ENODEV");
            MODLOAD_PARAM(stamp, string, "", "a file init appends its end time to (CLOCK_MONOTONIC ns)");

            """
        for symbol in exports { source += "MODLOAD_EXPORT(\(symbol), \"u32()\");\n" }
        for symbol in imports { source += "MODLOAD_IMPORT(\"\(symbol)\", \"u32()\");\n" }
        for alias in aliases { source += "MODLOAD_ALIAS(\"\(alias)\");\n" }
        if let softdep { source += "MODLOAD_SOFTDEP(\"\(softdep)\");\n" }
        source += "MODLOAD_MODULE(fixture_init, fixture_exit, NULL);\n"
        return source
    }

    /// The ModloadModule library (and the ModloadABI module it re-exports) as static libraries
    /// and modules, built once: what Swift module files link.
    private func moduleLibrary() async throws -> String {
        if let build = builds["ModloadModule"] { return try await build.value }
        let folder = "\(scratch)/ModloadModule"
        let build = Task {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for library in ["ModloadABI", "ModloadModule"] {
                let sources = try FileManager.default.contentsOfDirectory(atPath: "\(packageRoot)/Sources/\(library)")
                    .filter { $0.hasSuffix(".swift") }.sorted().map { "\(packageRoot)/Sources/\(library)/\($0)" }
                try await run(
                    swiftc,
                    ["-parse-as-library", "-module-name", library, "-emit-module", "-emit-module-path",
                     "\(folder)/\(library).swiftmodule", "-emit-library", "-static", "-o", "\(folder)/lib\(library).a",
                     "-I", folder, "-I", "\(packageRoot)/Sources/CModloadABI/include"] + sources)
            }
            return folder
        }
        builds["ModloadModule"] = build
        return try await build.value
    }

    private nonisolated var cc: [String] { ["/usr/bin/env", ProcessInfo.processInfo.environment["CC"] ?? "cc"] }
    private nonisolated var swiftc: [String] { ["/usr/bin/env", ProcessInfo.processInfo.environment["SWIFTC"] ?? "swiftc"] }

    /// Runs a compiler without blocking a thread; throws its output if it fails.
    private nonisolated func run(_ tool: [String], _ arguments: [String]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool[0])
        process.arguments = Array(tool.dropFirst()) + arguments
        // Output goes to a file (a pipe nobody reads until the end could fill up and stall it).
        let log = "\(scratch)/build-\(UInt32.random(in: 0 ... .max)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw BuildFailure(command: (tool.dropFirst() + arguments).joined(separator: " "), output: output)
        }
    }
}
