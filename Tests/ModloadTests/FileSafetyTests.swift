#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ModloadExampleBuilder
import Testing
@testable import Modload

/// Reading a module file never runs it; what is mapped is what was checked; a Swift module must
/// come from the host's toolchain; and modules whose descriptor is built at run time are sealed.
@Suite("Module files: reading without running, mapping what was checked")
struct FileSafetyTests {
    /// A C module named `name` whose ELF constructor creates the file `marker`.
    static func markingSource(_ name: String, marker: String) -> String {
        """
        #include <fcntl.h>
        #include <unistd.h>
        #include "modload.h"
        __attribute__((constructor)) static void mark(void) { close(open("\(marker)", O_CREAT | O_WRONLY, 0600)); }
        static int init(const struct modload_host_api *api, modload_host *host) { (void)api; (void)host; return 0; }
        MODLOAD_NAME("\(name)");
        MODLOAD_VERSION("1");
        MODLOAD_DESCRIPTION("marks that it ran");
        MODLOAD_LICENSE("MIT");
        MODLOAD_ALIAS("pci:v00008086d*");
        MODLOAD_ALIAS("marker-alias");
        MODLOAD_SOFTDEP("pre: checksum");
        MODLOAD_MODULE(init, NULL, NULL);
        """
    }

    @Test func modinfoAndTheMetadataReadRunNothingButLoadingDoes() async throws {
        let folder = try ModuleFolder()
        let marker = folder.path + "/constructor-ran"
        let path = try await ExampleBuilder.shared.compile(cSource: Self.markingSource("marking", marker: marker), named: "libmarking.so")
        func ran() -> Bool { FileManager.default.fileExists(atPath: marker) }

        // The library's reading, and the command's, field by field.
        let info = try ModuleFileInfo.inspect(path)
        #expect(info.metadata.aliases.sorted() == ["marker-alias", "pci:v00008086d*"])
        #expect(info.metadata.softDependencies == SoftDependencies(pre: ["checksum"], post: []))
        let modinfo = try await CLITests.modload("modinfo", path)
        #expect(modinfo.status == 0 && modinfo.standardOutput.contains("softdep:     pre: checksum"), "\(modinfo.standardOutput)")
        let aliases = try await CLITests.modload("modinfo", "-F", "alias", path)
        #expect(Set(aliases.standardOutput.split(separator: "\n")) == ["marker-alias", "pci:v00008086d*"])
        let json = try await CLITests.modload("modinfo", "--json", path)
        #expect(json.standardOutput.contains(#""aliases":["#))
        #expect(!ran(), "reading the metadata ran the file's constructor")

        // Loading runs code, as insmod does.
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: path)
        #expect(ran())
        try await host.unload("marking")
    }

    @Test func aFileSwappedAfterItsCheckNeverRuns() async throws {
        // The kernel's finit_module reasoning: what was checked is what is mapped. Between the
        // check and the mapping, the file at the path is replaced by another module whose
        // constructor leaves a marker — under an enforcing host that trusts only the first file.
        let folder = try ModuleFolder()
        let marker = folder.path + "/swapped-in-ran"
        let good = try await folder.copy(.checksum, as: "libswapped.so")
        let evil = try await ExampleBuilder.shared.compile(cSource: Self.markingSource("checksum", marker: marker), named: "libevil.so")
        let key = try SigningKey(generatingFor: "release")
        try ModuleSigning.sign(file: good, with: key)
        let keyring = Keyring([key.publicKey])
        let host = try ModuleHost(configuration: { var c = ModuleHost.Configuration.testing(); c.signaturePolicy = .enforce(keyring); return c }())
        ImageRegistry.shared.beforeMapping.withLock { hook in
            hook = { path in if path == good { _ = rename(evil, good) } }
        }
        defer { ImageRegistry.shared.beforeMapping.withLock { $0 = nil } }
        let outcome = try await host.insert(file: good)
        ImageRegistry.shared.beforeMapping.withLock { $0 = nil }
        #expect(!FileManager.default.fileExists(atPath: marker), "the swapped-in file's code ran")
        #expect(outcome.file?.metadata.description == "CRC-32C (Castagnoli) checksums")
        #expect(try host.call("checksum", "checksum_crc32c", as: Crc32c.self) { $0(0, "123456789", 9) } == 0xe306_9283)
        // The file on disk is now the other one, and a new load of it is refused: unsigned.
        try await host.unload("checksum")
        _ = await expectError(.keyRejected) { try await host.insert(file: good) }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func aSwiftModuleFromAnotherToolchainIsRefusedNamingBoth() async throws {
        let folder = try ModuleFolder()
        let journal = try await folder.copy(.journal, as: "libjournal-toolchain.so")
        var bytes = try ModuleFolder.bytes(of: journal)
        // The compiler line names the toolchain's LLVM commit: change one digit of it.
        let needle = Array("swiftlang/llvm-project.git ".utf8)
        let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) })
        bytes[at + needle.count] = bytes[at + needle.count] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let other = try folder.write(bytes, as: "libjournal-other-toolchain.so")
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: try await folder.copy(.checksum))
        let error = await expectError(.abiMismatch) { try await host.insert(file: other) }
        #expect(error?.reason.hasPrefix("was built by Swift toolchain clang version") == true, "\(String(describing: error))")
        #expect(error?.reason.contains("; this host was built by clang version") == true)
        #expect(try ModuleFileInfo.inspect(journal).compilers.contains { $0.contains("swiftlang") })
        #expect(try await host.insert(file: journal).how == .loaded)  // the host's own toolchain loads
    }

    @Test func sealingWritesTheMetadataADescriptorSays() async throws {
        // A C module written without the macros (a hand-made descriptor) has no metadata section
        // until it is sealed; then it loads, and says what its descriptor says.
        let bare = try await ExampleBuilder.shared.compile(
            cSource: """
                #include "modload.h"
                static int init(const struct modload_host_api *a, modload_host *h) { (void)a; (void)h; return 0; }
                int bare_answer(void) { return 42; }
                static const struct modload_export e[] = { { "bare_answer", "i32()", (const void *)bare_answer } };
                static const char *const aliases[] = { "bare-alias" };
                static const struct modload_descriptor d = { .abi_version = MODLOAD_ABI_VERSION, .size = sizeof d,
                    .name = "bare", .version = "2.0", .description = "hand-made", .license = "MIT", .init = init,
                    .exports = e, .export_count = 1, .aliases = aliases, .alias_count = 1, .softdep = "post: checksum" };
                __attribute__((visibility("default"))) const struct modload_descriptor *modload_module_descriptor_v2(void) { return &d; }
                """, named: "libbare-seal.so")
        let host = try ModuleHost(configuration: .testing())
        _ = await expectError(.invalidFile) { try await host.insert(file: bare) }
        let sealed = try await CLITests.modload("seal", bare)
        #expect(sealed.status == 0, "\(sealed.standardError)")
        let metadata = try ModuleFileInfo.inspect(bare).metadata
        #expect(metadata.name == "bare" && metadata.version == "2.0" && metadata.aliases == ["bare-alias"])
        #expect(metadata.exports.map(\.description) == ["bare_answer i32()"])
        #expect(metadata.softDependencies.post == ["checksum"])
        #expect(try await host.insert(file: bare).how == .loaded)
        #expect(try host.call("bare", "bare_answer", as: (@convention(c) () -> Int32).self) { $0() } == 42)
        // Twice is refused, and so is a signed file, and a C module declared with the macros
        // (it has its section already).
        let again = try await CLITests.modload("seal", bare)
        #expect(again.status != 0 && again.standardError.contains("already has a metadata section"))
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        _ = await expectError(.invalidFile) { try ModuleSealing.seal(file: checksum) }
        try ModuleSigning.sign(file: checksum, with: try SigningKey(generatingFor: "x"))
        _ = await expectError(.badSignature) { try ModuleSealing.seal(file: checksum) }
    }
}
