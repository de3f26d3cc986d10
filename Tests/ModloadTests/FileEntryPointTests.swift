#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ModloadExampleBuilder
import Synchronization
import Testing
@testable import Modload

/// What module files do through their entry points and host functions: blocking C code kept off
/// the cooperative pool, references taken and left behind, `-z nodelete` objects, and an unload
/// of a noncounting C module waiting for a call already inside it.
// Five minutes: a time limit counts the wait for the example builder (one compile at a time for the
// whole process) and for the CPU, which under CI's sanitizer runs the other suites share.
@Suite("Module files: entry points and host functions", .timeLimit(.minutes(5)))
struct FileEntryPointTests {
    /// A C module named `name` whose init logs "blocking", then waits until the file named by
    /// its `wait_for` parameter exists.
    static func blockerSource(_ name: String) -> String {
        """
        #include <unistd.h>
        #include "modload.h"
        static int init(const struct modload_host_api *api, modload_host *host) {
            const char *path = api->parameter(host, "wait_for");
            api->log(host, MODLOAD_LOG_INFO, "blocking");
            for (int i = 0; i < 60000 && access(path, F_OK) != 0; i++) usleep(1000);
            return access(path, F_OK) == 0 ? 0 : -110;  /* -ETIMEDOUT */
        }
        MODLOAD_NAME("\(name)");
        MODLOAD_VERSION("1");
        MODLOAD_DESCRIPTION("blocks in init");
        MODLOAD_LICENSE("MIT");
        MODLOAD_PARAM_NODEFAULT(wait_for, string, "a file to wait for");
        MODLOAD_MODULE(init, NULL, NULL);
        """
    }

    @Test func blockingCInitsDoNotBlockTheCooperativePool() async throws {
        // Four C inits block at once — more than this machine's cooperative pool has threads.
        // While they block, a built-in module (whose load needs the pool) loads. Only then does
        // the test let the C inits return.
        let folder = try ModuleFolder()
        let marker = folder.path + "/go"
        let logs = CapturingLogs()
        var configuration = ModuleHost.Configuration.testing()
        configuration.logger = logs.logger
        let host = try ModuleHost(configuration: configuration)
        var paths: [String] = []
        for index in 0..<4 {
            paths.append(try await ExampleBuilder.shared.compile(cSource: Self.blockerSource("blocker\(index)"), named: "libblocker\(index).so"))
        }
        let loads = paths.map { path in Task { try await host.insert(file: path, parameters: "wait_for=\(marker)") } }
        #expect(await eventually { logs.messages.filter { $0.hasSuffix("blocking") }.count == 4 })
        let probe = Task { try await host.insert(BuiltinModule(name: "pool_probe")) }
        let probed = Completion<Bool>()
        Task { probed.complete((try? await probe.value) != nil) }
        let answer = await probed.wait(timeout: .seconds(20))
        _ = FileManager.default.createFile(atPath: marker, contents: nil)  // let the C inits go, whatever happened
        guard case .value(let loaded) = answer, loaded else {
            Issue.record("a built-in load could not run while C inits blocked: they hold the cooperative pool")
            for load in loads { _ = try? await load.value }
            return
        }
        #expect(host.state(of: "pool_probe") == .live)
        #expect((0..<4).allSatisfy { host.state(of: "blocker\($0)") != .live }, "a C init returned before the marker existed")
        for load in loads { _ = try await load.value }
        #expect((0..<4).allSatisfy { host.state(of: "blocker\($0)") == .live })
    }

    /// A C module that takes a reference on the module named by `hold` in init, and releases it
    /// in exit unless `keep` is set.
    static let holderSource = """
        #include <errno.h>
        #include "modload.h"
        static modload_ref *held;
        static int init(const struct modload_host_api *api, modload_host *host) {
            held = api->acquire(host, api->parameter(host, "hold"));
            return held ? 0 : -ENOENT;
        }
        static void exit_(const struct modload_host_api *api, modload_host *host) {
            const char *keep = api->parameter(host, "keep");
            if (!(keep && keep[0] == 'Y')) api->release(host, held);
            held = 0;
        }
        MODLOAD_NAME("holder");
        MODLOAD_VERSION("1");
        MODLOAD_DESCRIPTION("holds a module");
        MODLOAD_LICENSE("MIT");
        MODLOAD_PARAM_NODEFAULT(hold, string, "a module to hold");
        MODLOAD_PARAM(keep, bool, "n", "leave the reference to the host");
        MODLOAD_MODULE(init, exit_, NULL);
        """

    @Test func aCModuleTakesAndReleasesReferencesAndTheHostReleasesWhatItLeaves() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum, as: "libchecksum-held.so")
        let holder = try await ExampleBuilder.shared.compile(cSource: Self.holderSource, named: "libholder.so")
        let logs = CapturingLogs()
        var configuration = ModuleHost.Configuration.testing()
        configuration.logger = logs.logger
        let host = try ModuleHost(configuration: configuration)
        try await host.insert(file: checksum)

        // A reference taken through the host table counts like any other and blocks a fail-fast unload.
        try await host.insert(file: holder, parameters: "hold=checksum")
        #expect(host.info(of: "checksum")?.refcount == 1)
        let refused = await expectError(.wouldBlock) { try await host.unload("checksum") }
        #expect(refused?.holders?.otherReferences == 1)
        try await host.unload("holder")
        #expect(host.info(of: "checksum")?.refcount == 0)

        // A reference left at exit is released by the host, which says so.
        try await host.insert(file: holder, parameters: "hold=checksum keep=Y")
        #expect(host.info(of: "checksum")?.refcount == 1)
        try await host.unload("holder")
        #expect(host.info(of: "checksum")?.refcount == 0)
        #expect(logs.messages.contains("warning holder: exit returned holding 1 reference(s); released now"))
        #expect(host.statistics(of: "checksum")?.referenceUnderflows == 0)

        // Acquiring a module that is not loaded gives NULL: this init fails with -ENOENT.
        let missing = await expectError(.initFailed) { try await host.insert(file: holder, parameters: "hold=absent") }
        #expect(missing?.file == holder && missing?.errno == ENOENT)
        try await host.unload("checksum")
        #expect(host.modules.isEmpty)
    }

    @Test func aFileLinkedNodeleteIsRetiredNotUnmapped() async throws {
        let source = try String(contentsOfFile: ExampleBuilder.shared.packageRoot + "/Examples/checksum/checksum.c", encoding: .utf8)
        let path = try await ExampleBuilder.shared.compile(
            cSource: source, named: "libchecksum-nodelete.so", flags: ["-shared", "-fPIC", "-Wl,-z,nodelete"])
        let host = try ModuleHost(configuration: .testing())
        let loaded = try await host.insert(file: path)
        #expect(loaded.file?.neverUnmapped != nil)
        let outcome = try await host.unload("checksum")
        guard case .retired(let reason) = outcome.image else {
            Issue.record("a -z nodelete file was \(String(describing: outcome.image))")
            return
        }
        #expect(reason.contains("nodelete"))
        #expect(host.fileStatistics.retired == 1)
    }

    /// A noncounting C module whose `gate_call` stays inside until `gate_open` is called.
    static let gateSource = """
        #include "modload.h"
        static volatile int inside, open_;
        void gate_call(void) { __atomic_store_n(&inside, 1, __ATOMIC_SEQ_CST); while (!__atomic_load_n(&open_, __ATOMIC_SEQ_CST)) {} }
        int gate_inside(void) { return __atomic_load_n(&inside, __ATOMIC_SEQ_CST); }
        void gate_open(void) { __atomic_store_n(&open_, 1, __ATOMIC_SEQ_CST); }
        static int init(const struct modload_host_api *api, modload_host *host) { inside = 0; open_ = 0; return 0; }
        static void exit_(const struct modload_host_api *api, modload_host *host) { api->log(host, MODLOAD_LOG_INFO, "gate exit"); }
        MODLOAD_NAME("gate");
        MODLOAD_VERSION("1");
        MODLOAD_DESCRIPTION("a call that waits");
        MODLOAD_LICENSE("MIT");
        MODLOAD_EXPORT(gate_call, "void()");
        MODLOAD_EXPORT(gate_inside, "i32()");
        MODLOAD_EXPORT(gate_open, "void()");
        MODLOAD_NONCOUNTING_MODULE(init, exit_, NULL);
        """

    @Test func unloadingANoncountingCModuleWaitsForACallAlreadyInside() async throws {
        typealias Call = @convention(c) () -> Void
        typealias Inside = @convention(c) () -> Int32
        let path = try await ExampleBuilder.shared.compile(cSource: Self.gateSource, named: "libgate.so")
        let logs = CapturingLogs()
        var configuration = ModuleHost.Configuration.testing()
        configuration.logger = logs.logger
        let host = try ModuleHost(configuration: configuration)
        try await host.insert(file: path)
        // Taken while live: valid until the unload below has waited for the call inside.
        let (inside, open) = try host.withModule("gate") { (gate) throws(ModuleError) in
            (try gate.export("gate_inside", as: Inside.self), try gate.export("gate_open", as: Call.self))
        }
        let caller = Task.detached {
            await onThreads(1) { _ in
                _ = try? host.withModule("gate") { (gate) throws(ModuleError) in try gate.export("gate_call", as: Call.self)() }
            }
        }
        #expect(await eventually { inside() == 1 })
        let unload = Task { try await host.unload("gate") }
        #expect(await eventually { host.info(of: "gate")?.isUnloading == true })
        _ = await expectError(.notFound) { try host.withModule("gate") { _ in () } }
        // The unload waits in a grace period for the caller's read section: no exit yet.
        #expect(await eventually { Reclaimer.shared.isInGracePeriod })
        #expect(!logs.messages.contains("info gate: gate exit"))
        open()
        await caller.value
        #expect(try await unload.value.image == .unmapped)
        #expect(logs.messages.contains("info gate: gate exit"))
    }
}
