#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Modload
import ModloadExamples
import Testing

/// The README's API tour, kept compiling and true.
@Suite("README API tour")
struct ReadmeTourTests {
    final class Journal: ModuleDefinition {
        let name = "jbd2"
        let version = "3.0"
        let description = "journalling block device"
        let license = "GPL"

        func initialize(_ context: ModuleContext) async throws {
            context.logger.info("journal ready")
        }
        func exit(_ context: ModuleContext) async {}
        func commit() {}
    }

    struct PolicyError: Error {}

    final class Filter: ModuleDefinition {
        let name = "netfilter"
        let accounting = ModuleAccounting.noncounting
        func initialize(_ context: ModuleContext) async throws {}
        func cleanup(_ context: ModuleContext) async throws {}
        func check(_ packet: Int) -> Bool { packet != 0 }
    }

    @Test func tourRunsAsWritten() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.ensureLoaded(Journal())
        await expectError(.exists) { try await host.insert(Journal()) }
        do {
            let ref = try host.acquire("jbd2", holder: "mount /home")
            #expect(ref.definition(as: Journal.self) != nil)
            ref.definition(as: Journal.self)?.commit()
        }
        typealias Checksum = @Sendable (Int) -> Int
        let crc = BuiltinModule(name: "crc32c_generic", exports: [ExportedSymbol("crc32c", { $0 &* 31 } as Checksum)])
        let seen = Counter()
        let fs = BuiltinModule(name: "minix", imports: [ImportedSymbol("crc32c", as: Checksum.self)]) { context in
            seen.store(context.imports.symbol("crc32c", as: Checksum.self)?(42) ?? -1)
        }
        try await host.insert(crc)
        try await host.insert(fs)
        #expect(seen.count == 42 * 31)
        #expect(host.info(of: "crc32c_generic")?.usedBy == ["minix"])
        let catalogHost = try ModuleHost(configuration: .init(resolver: try ModuleCatalog([crc, fs])))
        try await catalogHost.request("minix")
        #expect(catalogHost.info(of: "crc32c_generic")?.usedBy == ["minix"])
        let tunable = BuiltinModule(name: "tunable", parameters: [ModuleParameter("debug", .int, default: .int(0))])
        try await host.insert(tunable, parameters: "debug=3")
        #expect(host.info(of: "tunable")?.parameters.int("debug") == 3)
        let outcome = try await host.ensureLoaded(tunable, parameters: "debgu=1")
        #expect("\(outcome.how) \(outcome.parameterWarnings.joined())" == "alreadyLive unknown parameter 'debgu' (ignored)")
        try await host.insert(BuiltinModule(name: "probe") { _ in })
        try await host.unload("probe")
        try await host.unload("jbd2", mode: .drain(timeout: .seconds(5)))
        do throws(ModuleError) {
            try await host.unload("jbd2")
            Issue.record("unload of an unloaded module succeeded")
        } catch {
            #expect(error.description == "jbd2: is not loaded")
            #expect(error.errno == ENOENT)
        }
        try await host.insert(Filter())
        let ok = try host.withModule("netfilter", as: Filter.self) { $0.check(42) }
        #expect(ok)
        try await host.unload("netfilter")
        #expect(Quiescence.read { Quiescence.isInReadSection })
        let deferred = Counter()
        Quiescence.afterGracePeriod { deferred.add() }
        await Quiescence.synchronize()
        await Quiescence.barrier()
        #expect(deferred.count == 1)
        host.addObserver(named: "policy") { event in
            if event.kind == .coming, event.module == "forbidden" { throw PolicyError() }
        }
        await expectError(.permissionDenied) { try await host.insert(BuiltinModule(name: "forbidden")) }
        #expect(host.listing().hasPrefix("Module"))
        #expect(host.statistics(of: "jbd2")?.loads == 1)
    }

    @Test func moduleFilesTourRunsAsWritten() async throws {
        // The README's paths, made real: a keyring directory and two signed example files.
        let folder = try ModuleFolder()
        let key = try SigningKey(generatingFor: "release")
        try FileManager.default.createDirectory(atPath: folder.path + "/keys", withIntermediateDirectories: true)
        _ = try folder.write(Array(key.publicKey.fileContents.utf8), as: "keys/release.pub")
        let checksumPath = try await folder.copy(.checksum)
        let journalPath = try await folder.copy(.journal, as: "libjournal-tour.so")  // retired for good: a name of its own
        for path in [checksumPath, journalPath] { try ModuleSigning.sign(file: path, with: key) }

        let trusted = try Keyring(directory: folder.path + "/keys")
        var configuration = ModuleHost.Configuration.testing()
        configuration.signaturePolicy = .enforce(trusted)
        let files = try ModuleHost(configuration: configuration)
        let info = try await files.insert(file: checksumPath, parameters: "seed=7").file!
        #expect("\(info.metadata.exports)" == "[checksum_inits u32(), checksum_crc32c u32(u32,ptr,usize)]")
        do {
            let ref = try files.acquire("checksum")
            let crc = try ref.export("checksum_crc32c", as: (@convention(c) (UInt32, UnsafeRawPointer?, UInt) -> UInt32).self)
            #expect(crc(0, "123456789", 9) == 3_808_858_755)
        }
        try await files.insert(file: journalPath)
        #expect(files.info(of: "journal")?.uses == ["checksum"])
        #expect("\(try await files.unload("journal").image!)" == "retired (it contains Swift code)")
        #expect("\(try await files.unload("checksum").image!)" == "unmapped")
    }
}
