import Foundation
import Synchronization
import Testing
import ModloadExampleBuilder
@testable import Modload

/// Module files built from `Examples/` during the test run: C unloads for real, Swift retires,
/// imports across languages, parameters, refusals, failures — each leaving the host as it was.
@Suite("Module files: loading and unloading")
struct FileLoadTests {
    @Test func aCModuleLoadsRunsAndIsUnmappedOnUnload() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = try ModuleHost(configuration: .testing())
        let info = try await host.insert(file: path, parameters: "seed=7").file!
        #expect(info.metadata.name == "checksum")
        // (In the order the compiler laid the declarations out: GCC reverses them.)
        #expect(info.metadata.exports.map(\.description).sorted() == ["checksum_crc32c u32(u32,ptr,usize)", "checksum_inits u32()"])
        #expect(info.metadata.parameters.map(\.name).sorted() == ["fail", "refuse", "request", "seed"])
        #expect(info.metadata.aliases.sorted() == ["crc32c", "crypto-crc32c"])
        #expect(info.signature.kind == .unsigned)
        #expect(!info.containsSwift && info.neverUnmapped == nil)
        #expect(host.state(of: "checksum") == .live)
        #expect(host.info(of: "checksum")?.file == path)
        #expect(host.info(of: "checksum")?.parameters.int("seed") == 7)
        // Unsigned, under the default permissive policy: loads, taints host and module.
        #expect(host.info(of: "checksum")?.taints == .unsignedModule)
        #expect(host.taints.contains(.unsignedModule))
        #expect(host.listing().contains("Live (E)"))
        // Mapped from its own path, so /proc/self/maps names it.
        #expect(!mappings(of: path).isEmpty)

        // Its export works, through the symbol table.
        #expect(host.symbol(named: "checksum_crc32c")?.signature == SymbolSignature("u32(u32,ptr,usize)"))
        do {
            let ref = try host.acquire("checksum")
            #expect(try ref.export("checksum_crc32c", as: Crc32c.self)(0, "123456789", 9) == 0xe306_9283)
            _ = await expectError(.symbolMismatch) { try ref.export("checksum_crc32c", as: Counter32.self) }
        }

        let outcome = try await host.unload("checksum")
        #expect(outcome.image == .unmapped)
        #expect(mappings(of: path).isEmpty)
        #expect(host.state(of: "checksum") == nil)
        #expect(host.fileStatistics.unmapped == 1)
    }

    @Test func importsCrossLanguagesAndDependentsBlockUnloading() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let journal = try await folder.copy(.journal, as: "libjournal-crosslanguage.so")
        let jstat = try await folder.copy(.jstat)
        let host = try ModuleHost(configuration: .testing())

        // The Swift module imports from the C one; nothing exports checksum_crc32c yet.
        let missing = await expectError(.notFound) { try await host.insert(file: journal) }
        #expect(missing?.file == journal)
        #expect(missing?.reason.contains("checksum_crc32c") == true)
        #expect(host.modules.isEmpty)

        try await host.insert(file: checksum)
        let info = try await host.insert(file: journal, parameters: "barrier=n").file!
        #expect(info.containsSwift)
        #expect(info.neverUnmapped == "it contains Swift code")
        try await host.insert(file: jstat)  // C importing from Swift
        #expect(host.info(of: "checksum")?.usedBy == ["journal"])
        #expect(host.info(of: "journal")?.usedBy == ["jstat"])
        #expect(host.info(of: "jstat")?.uses == ["journal"])

        // Calls flow C → Swift → C.
        do {
            let journalRef = try host.acquire("journal")
            let commit = try journalRef.export("journal_commit", as: (@convention(c) (UnsafeRawPointer?, UInt) -> UInt32).self)
            #expect(commit("123456789", 9) == 0xe306_9283)
            let jstatRef = try host.acquire("jstat")
            #expect(try jstatRef.export("jstat_commits", as: Counter64.self)() == 1)
        }

        // Dependents block every unload mode.
        let blocked = await expectError(.wouldBlock) { try await host.unload("journal", mode: .force) }
        #expect(blocked?.holders?.dependents == ["jstat"])
        #expect(try await host.unload("jstat").image == .unmapped)
        #expect(try await host.unload("journal").image == .retired(reason: "it contains Swift code"))
        #expect(try await host.unload("checksum").image == .unmapped)
        #expect(mappings(of: checksum).isEmpty && mappings(of: jstat).isEmpty)
        // The Swift code stays mapped (retired), from its private copy.
        #expect(!mappings(of: journal).isEmpty)
        #expect(host.modules.isEmpty)
    }

    @Test func aRetiredSwiftModuleReloadedFromAChangedFileRunsTheNewCode() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let journal = try await folder.copy(.journal, as: "libjournal-reload.so")
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: checksum)
        func version() throws -> UInt32 {
            try host.call("journal", "journal_version", as: Counter32.self) { $0() }
        }

        try await host.insert(file: journal)
        #expect(try version() == 1)
        #expect(try await host.unload("journal").image == .retired(reason: "it contains Swift code"))
        let imagesAfterFirst = mappings(of: journal).count

        // The same file again: the retired image is shared, nothing new is mapped.
        try await host.insert(file: journal)
        #expect(try version() == 1)
        _ = try await host.unload("journal")
        #expect(mappings(of: journal).count == imagesAfterFirst)

        // A changed file at the same path: a fresh copy is mapped, and the new code runs.
        _ = try await folder.copy(.journal, as: "libjournal-reload.so", defines: ["JOURNAL_V2"])
        try await host.insert(file: journal)
        #expect(try version() == 2)
        #expect(mappings(of: journal).count > imagesAfterFirst)
        _ = try await host.unload("journal")
    }

    @Test func cleanupThatRefusesKeepsTheModuleAndItsMapping() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: path, parameters: "refuse=y")
        let refused = await expectError(.busy) { try await host.unload("checksum") }
        #expect(refused?.reason.contains("cleanup refused") == true)
        #expect(refused?.underlying.map { "\($0)" }?.contains("cleanup returned -16") == true)
        #expect(host.state(of: "checksum") == .live)
        #expect(host.info(of: "checksum")?.isUnloading == false)
        #expect(!mappings(of: path).isEmpty)
        // Still usable: a reference can be taken and released.
        do { _ = try host.acquire("checksum") }
        // Force does not override a refusing cleanup either; only the module can change its mind.
        _ = await expectError(.busy) { try await host.unload("checksum", mode: .force) }
        #expect(host.state(of: "checksum") == .live)
    }

    @Test func aFailingInitLeavesNothingMapped() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = try ModuleHost(configuration: .testing())
        let error = await expectError(.initFailed) { try await host.insert(file: path, parameters: "fail=1") }
        #expect((error?.underlying as? ModuleError)?.code == .noDevice)
        #expect(error?.errno == ENODEV)
        #expect(error?.file == path)
        #expect(mappings(of: path).isEmpty)
        #expect(host.modules.isEmpty)
        #expect(host.fileStatistics.unmapped == 1)
        // The file loads fine without the parameter afterwards.
        try await host.insert(file: path)
        #expect(host.state(of: "checksum") == .live)
    }

    @Test func badParametersLoadNothing() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = try ModuleHost(configuration: .testing())
        let error = await expectError(.invalidArgument) { try await host.insert(file: path, parameters: "seed=many fail") }
        #expect(error?.reason.contains("parameter 'seed'") == true)
        #expect(mappings(of: path).isEmpty)
        #expect(host.modules.isEmpty)
    }

    @Test func requestsFromACInitLoadDependenciesAndCyclesFailAtOnce() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let helper = TestModule("crc_helper")
        // The catalog also names "checksum" (a placeholder): a request for it joins the file's load.
        let catalog = try ModuleCatalog([helper, BuiltinModule(name: "checksum")])
        let host = try ModuleHost(configuration: .testing(resolver: catalog))

        try await host.insert(file: path, parameters: "request=crc_helper")
        #expect(helper.initCalls == 1)
        #expect(host.state(of: "crc_helper") == .live)
        _ = try await host.unload("checksum")

        // Its init requests itself: a cycle, refused at once (-EDEADLK), not after a timeout.
        let cycle = await expectError(.initFailed) { try await host.insert(file: path, parameters: "request=checksum") }
        #expect((cycle?.underlying as? ModuleError)?.code == .deadlock)
        #expect(host.state(of: "checksum") == nil)
        #expect(mappings(of: path).isEmpty)

        // Unknown names come back as -ENOENT.
        let unknown = await expectError(.initFailed) { try await host.insert(file: path, parameters: "request=nothing_here") }
        #expect(unknown?.errno == ENOENT)
    }

    @Test func aNoncountingCModuleIsCalledInsideReadSectionsAndUnmappedAfterAGracePeriod() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum, as: "libchecksum-nc.so", defines: ["CHECKSUM_NONCOUNTING"])
        let host = try ModuleHost(configuration: .testing())
        let info = try await host.insert(file: path).file!
        #expect(info.metadata.accounting == .noncounting)
        let sum = try host.withModule("checksum") { (module) throws(ModuleError) in
            try module.export("checksum_crc32c", as: Crc32c.self)(0, "123456789", 9)
        }
        #expect(sum == 0xe306_9283)
        #expect(try await host.unload("checksum").image == .unmapped)
        _ = await expectError(.notFound) { try host.withModule("checksum") { _ in () } }
    }

    @Test func aForcedUnloadWithReferencesHeldRetiresTheImage() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: path)
        let reference = try host.acquire("checksum")
        let outcome = try await host.unload("checksum", mode: .force)
        #expect(outcome.overriddenReferences == 1)
        #expect(outcome.image == .retired(reason: "references to it outlived the module"))
        #expect(host.taints.contains(.forcedUnload))
        // The holder can still run the code it holds: it stays mapped.
        #expect(!mappings(of: path).isEmpty)
        #expect(try reference.export("checksum_crc32c", as: Crc32c.self)(0, "123456789", 9) == 0xe306_9283)
        reference.release()
    }

    @Test func ensureLoadedOfALiveFileSharesTheImageAndInsertSaysExists() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: path)
        try await host.ensureLoaded(file: path)
        let exists = await expectError(.exists) { try await host.insert(file: path) }
        #expect(exists?.file == path)
        #expect(host.modules.map(\.name) == ["checksum"])
        #expect(try host.call("checksum", "checksum_inits", as: Counter32.self) { $0() } == 1)
        #expect(try await host.unload("checksum").image == .unmapped)
        #expect(mappings(of: path).isEmpty)
    }

    @Test func twoHostsLoadingOneFileEachGetTheirOwnImage() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum, as: "libchecksum-twohosts.so")
        let first = try ModuleHost(configuration: .testing())
        let second = try ModuleHost(configuration: .testing())
        try await first.insert(file: path)
        try await second.insert(file: path)
        // One image per host: each init ran on its own copy of the module's globals.
        let inits = try [first, second].map { host in
            try host.call("checksum", "checksum_inits", as: Counter32.self) { $0() }
        }
        #expect(inits == [1, 1])
        #expect(!mappings(of: path).isEmpty)
        #expect(mappings(of: path).isEmpty == false)
        #expect(try await second.unload("checksum").image == .unmapped)
        #expect(try await first.unload("checksum").image == .unmapped)
        #expect(mappings(of: path).isEmpty)
    }

    @Test func loadingAndUnloadingACModuleTenThousandTimesLeavesNothingMapped() async throws {
        // Counted, not measured: after every cycle the host has no object mapped, the dynamic
        // linker knows no mapping of the file, and every image went back as unmapped. (Resident
        // memory over these cycles is a benchmark figure: `modload bench files`.) Shorter under
        // the sanitizers, whose instrumentation makes each cycle slow and proves nothing more.
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum, as: "libchecksum-cycles.so")
        let host = try ModuleHost(configuration: .testing())
        let count = Stress.sanitizer == nil ? 10_000 : 500
        var leftMapped = 0
        for cycle in 0..<count {
            try await host.insert(file: path)
            let outcome = try await host.unload("checksum")
            guard outcome.image == .unmapped else {
                Issue.record("cycle \(cycle) left \(String(describing: outcome.image))")
                return
            }
            if ImageRegistry.shared.objects(of: host.serial) != 0 { leftMapped += 1 }
            if cycle % 1_000 == 0, !mappings(of: path).isEmpty {
                Issue.record("cycle \(cycle): the file is still mapped")
                return
            }
        }
        #expect(leftMapped == 0, "\(leftMapped) cycles left an object registered")
        #expect(mappings(of: path).isEmpty)
        #expect(host.fileStatistics.mapped == count && host.fileStatistics.unmapped == count)
        #expect(host.fileStatistics.retired == 0)
    }
}

extension ModuleHost {
    /// Calls `body` with the export `symbol` of module `name`, holding a reference meanwhile.
    func call<Function, Value>(
        _ name: String, _ symbol: String, as type: Function.Type, _ body: (Function) -> Value
    ) throws(ModuleError) -> Value {
        let reference = try acquire(name)
        return body(try reference.export(symbol, as: type))
    }
}
