import Foundation
import Testing
import ModloadExamples
@testable import Modload

@Suite("Module files: loading and unloading")
struct FileLoadTests {
    @Test func aCModuleLoadsRunsAndIsUnmappedOnUnload() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let host = ModuleHost(configuration: .testing())
        let info = try await host.insert(file: path, parameters: "seed=7")
        #expect(info.descriptor.name == "checksum")
        #expect(info.descriptor.exports.map(\.description) == ["checksum_crc32c u32(u32,ptr,usize)", "checksum_inits u32()"])
        #expect(info.signature.kind == .unsigned)
        #expect(!info.containsSwift)
        #expect(host.state(of: "checksum") == .live)
        #expect(host.info("checksum")?.taints == .unsignedModule)
        #expect(host.taints.contains(.unsignedModule))
        #expect(host.info("checksum")?.parameters.int("seed") == 7)
        #expect(!mappings(of: path).isEmpty)

        // Its export works, through the symbol table.
        let address = try #require(host.withModuleFile("checksum") { $0.address(ofExport: "checksum_crc32c") } ?? nil)
        let crc = address.function(as: Crc32c.self)
        #expect(crc(0, "123456789", 9) == 0xe306_9283)

        let outcome = try await host.unload("checksum")
        #expect(outcome.image == .unmapped)
        #expect(mappings(of: path).isEmpty)
        #expect(host.state(of: "checksum") == nil)
    }
}

extension ModuleHost {
    /// The file module `name`'s definition, if it is loaded from a file (for tests).
    func withModuleFile<Value>(_ name: String, _ body: (FileModule) -> Value) -> Value? {
        guard let record = table.read({ $0.modules[try! ModuleName(validating: name)]?.takeUnretainedValue() }),
            let module = record.definition as? FileModule
        else { return nil }
        return body(module)
    }
}
