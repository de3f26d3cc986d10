import Synchronization
import Testing
@testable import Modload

/// A module for dependency tests: exports and imports what it is told; its init can check an
/// import and run a hook.
final class Linked: ModuleDefinition {
    let name: String
    let exports: [ExportedSymbol]
    let imports: [ImportedSymbol]
    let aliases: [String]
    let parameters: [ModuleParameter]
    let gate: Completion<Void>?
    let failure: ModuleError?
    let onInit: (@Sendable (ModuleContext) async throws -> Void)?
    let inits = Counter()
    let exits = Counter()
    let initStarted = Completion<Void>()

    init(
        _ name: String, exports: [ExportedSymbol] = [], imports: [ImportedSymbol] = [], aliases: [String] = [],
        parameters: [ModuleParameter] = [], gate: Completion<Void>? = nil, failure: ModuleError? = nil,
        onInit: (@Sendable (ModuleContext) async throws -> Void)? = nil
    ) {
        self.name = name
        self.exports = exports
        self.imports = imports
        self.aliases = aliases
        self.parameters = parameters
        self.gate = gate
        self.failure = failure
        self.onInit = onInit
    }

    func initialize(_ context: ModuleContext) async throws {
        inits.add()
        initStarted.complete(())
        try await onInit?(context)
        if let gate { _ = await gate.wait() }
        if let failure { throw failure }
    }

    func exit(_ context: ModuleContext) async { exits.add() }
}

typealias Checksum = @Sendable (Int) -> Int

@Suite("Symbols and dependencies")
struct SymbolTests {
    let crc = ExportedSymbol("crc32c", { (x: Int) in x &* 31 } as Checksum)

    @Test func anImportBindsToALiveExporterAndInitUsesIt() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Linked("crc32c_generic", exports: [crc]))
        let seen = Counter()
        let ext4 = Linked("ext4", imports: [ImportedSymbol("crc32c", as: Checksum.self)]) { context in
            seen.store(context.imports.symbol("crc32c", as: Checksum.self)?(2) ?? -1)
            #expect(context.imports.exporter(of: "crc32c") == "crc32c_generic")
            #expect(context.imports.symbol("crc32c", as: Int.self) == nil)  // wrong type: not bound
        }
        try await host.insert(ext4)
        #expect(seen.count == 62)
        #expect(host.info(of: "crc32c_generic")?.usedBy == ["ext4"])
        #expect(host.info(of: "crc32c_generic")?.refcount == 1)
        #expect(host.info(of: "ext4")?.uses == ["crc32c_generic"])
        #expect(host.symbol(named: "crc32c") == SymbolInfo(
            name: "crc32c", signature: SymbolSignature(of: Checksum.self), exporter: "crc32c_generic",
            exporterState: .live))
        #expect(host.listing().contains("1 ext4"))
    }

    @Test func aReferenceCallsTheExportsOfItsModuleTypedAndChecked() async throws {
        let host = try ModuleHost(configuration: .testing())
        let jiffies = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { jiffies.deallocate() }
        jiffies.pointee = 4242
        let cAdd: @convention(c) (Int32, Int32) -> Int32 = { $0 &+ $1 }
        try await host.insert(
            Linked(
                "crc32c_generic",
                exports: [
                    crc,
                    ExportedSymbol("c_add", signature: SymbolSignature("i32(i32,i32)"), value: SymbolAddress(unsafeBitCast(cAdd, to: UnsafeRawPointer.self))),
                    ExportedSymbol("jiffies", signature: SymbolSignature("data:u64"), value: SymbolAddress(UnsafeRawPointer(jiffies))),
                ]))
        let ref = try host.acquire("crc32c_generic")
        // A Swift value, by its type; a C function, by its C signature; data, by pointer.
        #expect(try ref.export("crc32c", as: Checksum.self)(2) == 62)
        #expect(try ref.export("c_add", as: (@convention(c) (Int32, Int32) -> Int32).self)(40, 2) == 42)
        #expect(try ref.export("jiffies", as: UnsafePointer<UInt64>.self).pointee == 4242)
        #expect(try ref.export("jiffies", as: UnsafeRawPointer.self) == UnsafeRawPointer(jiffies))
        #expect(try ref.export("c_add", as: SymbolAddress.self).pointer == unsafeBitCast(cAdd, to: UnsafeRawPointer.self))
        // Anything else is refused, naming both signatures.
        var error = await expectError(.symbolMismatch) { try ref.export("crc32c", as: Int.self) }
        #expect(error?.description == "crc32c_generic: exports crc32c as \(SymbolSignature(of: Checksum.self)), not as Swift.Int (Int)")
        error = await expectError(.symbolMismatch) { try ref.export("c_add", as: (@convention(c) (UInt32) -> Int32).self) }
        #expect(error?.description == "crc32c_generic: exports c_add as i32(i32,i32), not as i32(u32) (@convention(c) (UInt32) -> Int32)")
        error = await expectError(.symbolMismatch) { try ref.export("jiffies", as: UnsafePointer<UInt32>.self) }
        #expect(error?.reason.hasPrefix("exports jiffies as data:u64, not as") == true)
        error = await expectError(.notFound) { try ref.export("crc16", as: Checksum.self) }
        #expect(error?.description == "crc32c_generic: exports no symbol crc16")
        ref.release()
    }

    @Test func oneReferencePerDistinctExporter() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Linked("lib", exports: [crc, ExportedSymbol("crc16", 16)]))
        try await host.insert(
            Linked("user", imports: [ImportedSymbol("crc32c", as: Checksum.self), ImportedSymbol("crc16", as: Int.self)]))
        #expect(host.info(of: "lib")?.refcount == 1)
    }

    @Test func aSignatureMismatchNamesBothSidesAndLoadsNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Linked("crc32c_generic", exports: [crc]))
        let error = await expectError(.symbolMismatch) {
            try await host.insert(Linked("ext4", imports: [ImportedSymbol("crc32c", as: Int.self)]))
        }
        #expect(error?.description == "ext4: imports crc32c as Swift.Int, but crc32c_generic exports it as \(SymbolSignature(of: Checksum.self))")
        #expect(host.state(of: "ext4") == nil)
        #expect(host.info(of: "crc32c_generic")?.refcount == 0)
        #expect(host.info(of: "crc32c_generic")?.usedBy == [])
    }

    @Test func aDuplicateExportFailsTheLaterLoader() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Linked("crc32c_intel", exports: [crc]))
        let later = Linked("crc32c_generic", exports: [crc])
        let error = await expectError(.duplicateSymbol) { try await host.insert(later) }
        #expect(error?.description == "crc32c_generic: exports crc32c, which crc32c_intel already exports")
        #expect(later.inits.count == 0)
        #expect(host.state(of: "crc32c_generic") == nil)
        #expect(host.symbol(named: "crc32c")?.exporter == "crc32c_intel")
        let twice = await expectError(.duplicateSymbol) {
            try await host.insert(Linked("twice", exports: [ExportedSymbol("x", 1), ExportedSymbol("x", 2)]))
        }
        #expect(twice?.reason == "exports x twice")
    }

    @Test func aMissingSymbolIsNotFound() async throws {
        let host = try ModuleHost(configuration: .testing())
        let error = await expectError(.notFound) {
            try await host.insert(Linked("ext4", imports: [ImportedSymbol("jbd2_journal", as: Int.self)]))
        }
        #expect(error?.reason == "needs unknown symbol jbd2_journal (no loaded module exports it)")
        #expect(host.modules.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func anImporterWaitsForAComingExporterThatSucceeds() async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let exporter = Linked("clock", exports: [ExportedSymbol("ticks", 7)], gate: gate)
        let exporterLoad = Task { try await host.insert(exporter) }
        _ = await exporter.initStarted.wait()
        let exporterWasLive = Counter()
        let importer = Linked("e1000e", imports: [ImportedSymbol("ticks", as: Int.self)]) { _ in
            if host.state(of: "clock") == .live { exporterWasLive.add() }
        }
        let importerLoad = Task { try await host.insert(importer) }
        #expect(await eventually { host.table.write { !$0.waits.isEmpty } })  // the importer is waiting
        #expect(importer.inits.count == 0)
        gate.complete(())
        _ = try await exporterLoad.value
        _ = try await importerLoad.value
        #expect(exporterWasLive.count == 1)
        #expect(host.info(of: "clock")?.usedBy == ["e1000e"])
        #expect(host.table.write { $0.waits.isEmpty })
    }

    @Test(.timeLimit(.minutes(1)))
    func anImporterOfAComingExporterThatFailsFails() async throws {
        let host = try ModuleHost(configuration: .testing())
        let gate = Completion<Void>()
        let exporter = Linked("clock", exports: [ExportedSymbol("ticks", 7)], gate: gate, failure: noDevice)
        let exporterLoad = Task { try await host.insert(exporter) }
        _ = await exporter.initStarted.wait()
        let importer = Linked("e1000e", imports: [ImportedSymbol("ticks", as: Int.self)])
        let importerLoad = Task { try await host.insert(importer) }
        #expect(await eventually { host.table.write { !$0.waits.isEmpty } })
        gate.complete(())
        await expectError(.initFailed) { try await exporterLoad.value }
        let error = await expectError(.notFound) { try await importerLoad.value }
        #expect(error?.reason == "needs symbols from clock, whose load failed")
        #expect((error?.underlying as? ModuleError)?.code == .initFailed)
        #expect(importer.inits.count == 0)
        #expect(host.modules.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func waitingForAComingExporterGivesUpAfterTheTimeout() async throws {
        let host = try ModuleHost(configuration: .testing(symbolWaitTimeout: .milliseconds(20)))
        let gate = Completion<Void>()
        let exporter = Linked("slow_clock", exports: [ExportedSymbol("ticks", 7)], gate: gate)
        let exporterLoad = Task { try await host.insert(exporter) }
        _ = await exporter.initStarted.wait()
        let error = await expectError(.busy) {
            try await host.insert(Linked("e1000e", imports: [ImportedSymbol("ticks", as: Int.self)]))
        }
        #expect(error?.reason.hasPrefix("gave up waiting for init of slow_clock") == true)
        gate.complete(())
        _ = try await exporterLoad.value
        #expect(host.info(of: "slow_clock")?.usedBy == [])
    }

    @Test func anExporterGoingAwayIsNotFound() async throws {
        let host = try ModuleHost(configuration: .testing())
        let cleanupGate = Completion<Void>()
        try await host.insert(BuiltinModuleWithCleanup(name: "clock", exports: [ExportedSymbol("ticks", 7)]) {
            _ = await cleanupGate.wait()
        })
        let unload = Task { try await host.unload("clock") }
        #expect(await eventually { host.info(of: "clock")?.isUnloading == true })
        let error = await expectError(.notFound) {
            try await host.insert(Linked("e1000e", imports: [ImportedSymbol("ticks", as: Int.self)]))
        }
        #expect(error?.reason == "needs ticks from clock, which is going away")
        cleanupGate.complete(())
        _ = try await unload.value
    }

    @Test func dependentsBlockUnloadEvenForced() async throws {
        let host = try ModuleHost(configuration: .testing())
        let jbd2 = Linked("jbd2", exports: [ExportedSymbol("journal", 1)])
        try await host.insert(jbd2)
        try await host.insert(Linked("ext4", imports: [ImportedSymbol("journal", as: Int.self)]))
        try await host.insert(Linked("ocfs2", imports: [ImportedSymbol("journal", as: Int.self)]))
        for mode in [ModuleHost.UnloadMode.failFast, .force, .drain(timeout: .milliseconds(50))] {
            let error = await expectError(.wouldBlock) { try await host.unload("jbd2", mode: mode) }
            // Dependents and references are named apart: the two references are the dependents'.
            #expect(error?.description == "jbd2 (live): is in use; unload its dependents first; used by ext4, ocfs2")
            #expect(error?.holders?.dependents == ["ext4", "ocfs2"])
            #expect(error?.holders?.references == 2)
            #expect(error?.holders?.otherReferences == 0)
        }
        #expect(host.taints.isEmpty)
        #expect(try host.holders(of: "jbd2").summary == "used by ext4, ocfs2")
        do {
            let mount = try host.acquire("jbd2")
            #expect(try host.holders(of: "jbd2").summary == "held by 1 reference besides its dependents'; used by ext4, ocfs2")
            mount.release()
        }
        try await host.unload("ext4")
        try await host.unload("ocfs2")
        #expect(host.info(of: "jbd2")?.refcount == 0)
        #expect(host.info(of: "jbd2")?.usedBy == [])
        try await host.unload("jbd2")
        #expect(jbd2.exits.count == 1)
        #expect(host.symbol(named: "journal") == nil)
    }

    @Test func aFailedImporterReleasesWhatItBound() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(Linked("jbd2", exports: [ExportedSymbol("journal", 1)]))
        await expectError(.initFailed) {
            try await host.insert(Linked("ext4", imports: [ImportedSymbol("journal", as: Int.self)], failure: noDevice))
        }
        #expect(host.info(of: "jbd2")?.refcount == 0)
        #expect(host.info(of: "jbd2")?.usedBy == [])
        try await host.unload("jbd2")
    }
}
