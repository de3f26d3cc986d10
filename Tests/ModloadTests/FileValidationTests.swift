import Foundation
import Testing
import ModloadExampleBuilder
@testable import Modload

/// Every way a module file can be wrong is refused with a clear error naming the file, before any
/// of its code runs where that is possible — and leaves nothing loaded and the host unchanged.
@Suite("Module files: validation")
struct FileValidationTests {
    /// Loads `path` into a fresh host expecting `code`; checks the error names the file and the
    /// host (and the process's mappings of the file) are unchanged. Returns the error's reason.
    @discardableResult
    func refuse(
        _ path: String, _ code: ModuleError.Code, parameters: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) async -> String {
        let host = ModuleHost.forTesting()
        let error = await expectError(code, sourceLocation: sourceLocation) { try await host.insert(file: path, parameters: parameters) }
        #expect(error?.file == path, sourceLocation: sourceLocation)
        #expect(error.map { "\($0)".contains(path) } == true, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(host.modules.isEmpty, sourceLocation: sourceLocation)
        #expect(host.taints.isEmpty, sourceLocation: sourceLocation)
        #expect(mappings(of: path).isEmpty, sourceLocation: sourceLocation)
        return error?.reason ?? ""
    }

    /// A copy of the C example with `edit` applied to its bytes.
    func edited(_ folder: ModuleFolder, _ name: String, _ edit: (inout [UInt8]) -> Void) async throws -> String {
        let original = try await ExampleBuilder.shared.path(of: .checksum)
        var bytes = try ModuleFolder.bytes(of: original)
        edit(&bytes)
        return try folder.write(bytes, as: name)
    }

    /// The metadata lines the fixture template's descriptor says.
    static let fixtureInfo = [
        ("abi", "2"), ("name", "fixture"), ("version", "1"), ("description", "a test fixture"), ("license", "MIT"),
    ]

    /// A C module file from a hand-written descriptor template with one part replaced, and a
    /// metadata section of `info` lines (by default what the template says) plus `extraInfo`.
    func cModule(
        _ name: String, descriptor: String = "", info: [(String, String)] = fixtureInfo, extraInfo: [(String, String)] = [],
        symbol: String = "modload_module_descriptor_v2", extra: String = ""
    ) async throws -> String {
        let lines = (info + extraInfo).map { "MODLOAD_INFO(\(String(reflecting: $0.0)), \(String(reflecting: $0.1)));" }
        let source = """
            #include <errno.h>
            #include "modload.h"
            static int init(const struct modload_host_api *api, modload_host *host) { (void)api; (void)host; return 0; }
            \(extra)
            \(lines.joined(separator: "\n"))
            static const struct modload_descriptor d = {
                .abi_version = MODLOAD_ABI_VERSION, .size = sizeof(struct modload_descriptor),
                .name = "fixture", .version = "1", .description = "a test fixture", .license = "MIT",
                .init = init,
                \(descriptor)
            };
            __attribute__((visibility("default"))) const struct modload_descriptor *\(symbol)(void) { return &d; }
            """
        return try await ExampleBuilder.shared.compile(cSource: source, named: "lib\(name).so")
    }

    @Test func missingFilesAndDirectories() async throws {
        let folder = try ModuleFolder()
        #expect(await refuse("\(folder.path)/absent.so", .notFound).contains("no such module file"))
        #expect(await refuse(folder.path, .invalidFile).contains("is a directory, not a module file"))
        let host = try ModuleHost(configuration: .testing())
        _ = await expectError(.invalidArgument) { try await host.insert(file: "") }
    }

    @Test func notELFAtAll() async throws {
        let folder = try ModuleFolder()
        #expect(await refuse(try folder.write([], as: "empty.so"), .invalidFile).contains("not an ELF file"))
        #expect(await refuse(try folder.write(Array("#!/bin/sh\necho hi\n".utf8), as: "script.so"), .invalidFile).contains("not an ELF file"))
        let flipped = try await edited(folder, "magic.so") { $0[1] ^= 0xff }
        #expect(await refuse(flipped, .invalidFile).contains("not an ELF file"))
    }

    @Test func truncatedFiles() async throws {
        let folder = try ModuleFolder()
        let header = try await edited(folder, "header.so") { $0.removeLast($0.count - 40) }
        #expect(await refuse(header, .invalidFile).contains("shorter than an ELF header"))
        let half = try await edited(folder, "half.so") { $0.removeLast($0.count / 2) }
        #expect(await refuse(half, .invalidFile).contains("truncated"))
        let lastByte = try await edited(folder, "last.so") { $0.removeLast() }
        #expect(await refuse(lastByte, .invalidFile).contains("truncated"))
    }

    @Test func flippedHeaderBytes() async throws {
        let folder = try ModuleFolder()
        #expect(await refuse(try await edited(folder, "class.so") { $0[4] = 1 }, .invalidFile).contains("not a 64-bit"))
        #expect(await refuse(try await edited(folder, "endian.so") { $0[5] = 2 }, .invalidFile).contains("little-endian"))
        #expect(await refuse(try await edited(folder, "version.so") { $0[6] = 9 }, .invalidFile).contains("ELF version"))
        #expect(await refuse(try await edited(folder, "type.so") { $0[16] = 2 }, .invalidFile).contains("an executable"))
        #expect(await refuse(try await edited(folder, "machine.so") { $0[18] ^= 0x5a }, .invalidFile).contains("another machine"))
        // Section headers pointing past the end of the file.
        #expect(await refuse(try await edited(folder, "shoff.so") { $0[41] = 0x7f }, .invalidFile).contains("truncated"))
    }

    /// Segments that whoever walks loaded objects reads in memory (sanitizers, unwinders): found
    /// by the mutation test under ThreadSanitizer, which read a moved PT_NOTE and crashed.
    @Test func notesAndUnwindTablesWhereNoSegmentMapsThem() async throws {
        let folder = try ModuleFolder()
        func programHeader(_ bytes: [UInt8], type wanted: UInt32) -> Int? {
            let reader = { (at: Int) in bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            let table = Int(bytes[32..<40].reversed().reduce(0) { $0 << 8 | UInt64($1) })
            let count = Int(bytes[56]) | Int(bytes[57]) << 8
            return (0..<count).map { table + $0 * ElfImage.phdrSize }.first { reader($0) == wanted }
        }
        let moved = try await edited(folder, "note.so") { bytes in
            if let at = programHeader(bytes, type: 4) { bytes[at + 19] ^= 0x1f }  // p_vaddr, far away
        }
        #expect(await refuse(moved, .invalidFile).contains("is not where a loadable segment maps its bytes"))
        let unwind = try await edited(folder, "eh.so") { bytes in
            if let at = programHeader(bytes, type: 0x6474_e550) { bytes[at + 8] ^= 0x08 }  // p_offset, 8 bytes off
        }
        #expect(await refuse(unwind, .invalidFile).contains("is not where a loadable segment maps its bytes"))
        let longNote = try await edited(folder, "notesize.so") { bytes in
            if let at = programHeader(bytes, type: 4) {
                let offset = Int(bytes[at + 8..<at + 16].reversed().reduce(0) { $0 << 8 | UInt64($1) })
                bytes[offset + 5] = 0x10  // descsz: 4 KiB more than the segment holds
            }
        }
        #expect(await refuse(longNote, .invalidFile).contains("has a note running past its end"))
    }

    /// Loadable segments the dynamic linker would map unreadable (it then faults reading its own
    /// tables through them), with flags of no meaning here, or writable and executable: found by
    /// CI's fuzz run, which made the first segment execute-only and crashed in the mapping.
    @Test func loadableSegmentsThatAreNotReadableOrAreWritableCode() async throws {
        let folder = try ModuleFolder()
        // The first program header is the first loadable segment (R, read-only headers and tables).
        let phoff = { (bytes: [UInt8]) in Int(bytes[32..<40].reversed().reduce(0) { $0 << 8 | UInt64($1) }) }
        let executeOnly = try await edited(folder, "xonly.so") { bytes in bytes[phoff(bytes) + 4] = 1 }
        #expect(await refuse(executeOnly, .invalidFile).contains("loadable segment 0 has flags --X"))
        let fuzzed = try await edited(folder, "fuzzed.so") { bytes in bytes[phoff(bytes) + 4] ^= 189 }
        #expect(await refuse(fuzzed, .invalidFile).contains("has flags --X and 0xb8"))
        let writableCode = try await edited(folder, "rwx.so") { bytes in bytes[phoff(bytes) + 4] = 7 }
        #expect(await refuse(writableCode, .invalidFile).contains("never writable and executable"))
    }

    @Test func bytesAfterTheImageThatAreNotASignature() async throws {
        let folder = try ModuleFolder()
        let padded = try await edited(folder, "padded.so") { $0 += Array("junk".utf8) }
        #expect(await refuse(padded, .invalidFile).contains("4 bytes after its ELF image"))
    }

    @Test func objectsThatAreNotSharedObjects() async throws {
        let object = try await ExampleBuilder.shared.compile(cSource: "int x(void) { return 1; }", named: "object.o", flags: ["-c"])
        #expect(await refuse(object, .invalidFile).contains("relocatable object"))
        let executable = try await ExampleBuilder.shared.compile(cSource: "int main(void) { return 0; }", named: "program", flags: [])
        #expect(await refuse(executable, .invalidFile).contains("executable"))
        let library = try await ExampleBuilder.shared.compile(cSource: "int answer(void) { return 42; }", named: "libplain.so")
        #expect(await refuse(library, .invalidFile).contains("does not export modload_module_descriptor_v2()"))
    }

    @Test func wrongABIVersions() async throws {
        // Built only for ABI 3: refused from the symbol table, before mapping.
        let future = try await cModule("future", symbol: "modload_module_descriptor_v3")
        #expect(await refuse(future, .abiMismatch).contains("built for Modload module ABI 3; this host speaks ABI 2"))
        // The right symbol, metadata claiming another version: refused before mapping.
        let section = try await cModule("section7", info: [("abi", "7")] + Self.fixtureInfo.dropFirst())
        #expect(await refuse(section, .abiMismatch).contains("its metadata says ABI version 7; this host speaks ABI 2"))
        // The right symbol and metadata, a descriptor claiming another version.
        let lying = try await cModule("lying", descriptor: ".abi_version = 7,")
        #expect(await refuse(lying, .abiMismatch).contains("descriptor says ABI version 7"))
    }

    @Test func brokenDescriptors() async throws {
        let noInit = try await cModule("noinit", descriptor: ".init = 0,")
        #expect(await refuse(noInit, .invalidFile).contains("no init entry point"))
        let size = try await cModule("size", descriptor: ".size = 16,")
        #expect(await refuse(size, .invalidFile).contains("smaller than version 2"))
        let counts = try await cModule("counts", descriptor: ".export_count = 3,")
        #expect(await refuse(counts, .invalidFile).contains("3 exports, but no array"))
        let duplicate = try await cModule(
            "duplicate", descriptor: ".exports = e, .export_count = 2,",
            extra: #"static const struct modload_export e[] = { { "f", "i32()", (const void *)init }, { "f", "i32()", (const void *)init } };"#)
        #expect(await refuse(duplicate, .invalidFile).contains("exports f twice"))
        let parameterType = try await cModule(
            "paramtype", descriptor: ".params = p, .param_count = 1,",
            extra: #"static const struct modload_param p[] = { { "level", 9, 0, "", 0 } };"#)
        #expect(await refuse(parameterType, .invalidFile).contains("unknown type 9"))
        let parameterDefault = try await cModule(
            "paramdefault", descriptor: ".params = p, .param_count = 1,",
            extra: #"static const struct modload_param p[] = { { "level", MODLOAD_PARAM_INT, 0, "", "high" } };"#)
        #expect(await refuse(parameterDefault, .invalidFile).contains("'high' is not an integer"))
        // Pointers: outside the module, or at no function of the file.
        let outside = try await cModule("outside", descriptor: ".version = (const char *)16,")
        #expect(await refuse(outside, .invalidFile).contains("descriptor: the version points outside the module"))
        let offset = try await cModule("offset", descriptor: ".exit = (void (*)(const struct modload_host_api *, modload_host *))((char *)init + 1),")
        #expect(await refuse(offset, .invalidFile).contains("exit points at no function of the file"))
    }

    @Test func brokenMetadata() async throws {
        func without(_ key: String) -> [(String, String)] { Self.fixtureInfo.filter { $0.0 != key } }
        let cases: [(String, [(String, String)], String)] = [
            ("nolicense", without("license"), "metadata section: has no license= line"),
            ("twonames", Self.fixtureInfo + [("name", "other")], "metadata section: says name= 2 times"),
            ("badname", without("name") + [("name", "no spaces allowed")], "metadata section: module name"),
            ("longname", without("name") + [("name", String(repeating: "x", count: 56))], "limit is 55"),
            ("accounting", Self.fixtureInfo + [("accounting", "maybe")], "accounting=maybe: neither counting nor noncounting"),
            ("export", Self.fixtureInfo + [("export", "lonely")], "export=lonely is not \"SYMBOL SIGNATURE\""),
            ("parmtype", Self.fixtureInfo + [("parmtype", "level:float")], "parameter level has unknown type \"float\""),
            ("parm", Self.fixtureInfo + [("parm", "level:how loud")], "describes parameter level, which has no parmtype= line"),
            ("parmdefault", Self.fixtureInfo + [("parmtype", "level:int"), ("parmdefault", "level:high")], "'high' is not an integer"),
            ("softdep", Self.fixtureInfo + [("softdep", "checksum post: x")], "softdep=checksum post: x is not"),
            ("alias", Self.fixtureInfo + [("alias", "two words")], "an alias is a pattern without blanks"),
        ]
        for (name, info, expected) in cases {
            let file = try await cModule(name, info: info)
            let reason = await refuse(file, .invalidFile)
            #expect(reason.contains(expected), "\(name): \(reason)")
        }
        let noSection = try await ExampleBuilder.shared.compile(
            cSource: """
                #include "modload.h"
                static int init(const struct modload_host_api *a, modload_host *h) { (void)a; (void)h; return 0; }
                static const struct modload_descriptor d = { .abi_version = MODLOAD_ABI_VERSION, .size = sizeof d,
                    .name = "bare", .version = "1", .description = "", .license = "MIT", .init = init };
                __attribute__((visibility("default"))) const struct modload_descriptor *modload_module_descriptor_v2(void) { return &d; }
                """, named: "libbare.so")
        #expect(await refuse(noSection, .invalidFile).contains("has no metadata section (.modload_info)"))
    }

    @Test func aDescriptorThatDisagreesWithTheMetadataIsRefusedNamingBoth() async throws {
        let version = try await cModule("version", info: Self.fixtureInfo.filter { $0.0 != "version" } + [("version", "1.1")])
        #expect(await refuse(version, .invalidFile) == #"descriptor and metadata section disagree on version: the descriptor says "1", the section "1.1""#)
        let exports = try await cModule(
            "exports", descriptor: ".exports = e, .export_count = 1,", extraInfo: [("export", "f i64()")],
            extra: #"static const struct modload_export e[] = { { "f", "i32()", (const void *)init } };"#)
        #expect(await refuse(exports, .invalidFile) == "descriptor and metadata section disagree on exports: the descriptor says [f i32()], the section [f i64()]")
    }

    @Test func symbolSignatureMismatchNamesBothSides() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let importer = try await cModule(
            "importer", descriptor: ".imports = i, .import_count = 1,", extraInfo: [("import", "checksum_crc32c u64(u64)")],
            extra: #"static const struct modload_import i[] = { { "checksum_crc32c", "u64(u64)" } };"#)
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: checksum)
        let error = await expectError(.symbolMismatch) { try await host.insert(file: importer) }
        #expect(error?.reason == "imports checksum_crc32c as u64(u64), but checksum exports it as u32(u32,ptr,usize)")
        #expect(error?.module == "fixture" && error?.file == importer)
        #expect(host.modules.map(\.name) == ["checksum"])
        #expect(host.info(of: "checksum")?.usedBy == [])
        #expect(mappings(of: importer).isEmpty)
    }

    @Test func duplicateExportsAcrossModulesFailTheLaterLoader() async throws {
        let folder = try ModuleFolder()
        let checksum = try await folder.copy(.checksum)
        let rival = try await cModule(
            "rival", descriptor: #".name = "rival", .exports = e, .export_count = 1,"#,
            info: Self.fixtureInfo.filter { $0.0 != "name" } + [("name", "rival"), ("export", "checksum_crc32c u32(u32,ptr,usize)")],
            extra: #"static const struct modload_export e[] = { { "checksum_crc32c", "u32(u32,ptr,usize)", (const void *)init } };"#)
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(file: checksum)
        let error = await expectError(.duplicateSymbol) { try await host.insert(file: rival) }
        #expect(error?.reason == "exports checksum_crc32c, which checksum already exports")
        #expect(mappings(of: rival).isEmpty)
        #expect(host.modules.map(\.name) == ["checksum"])
    }
}
