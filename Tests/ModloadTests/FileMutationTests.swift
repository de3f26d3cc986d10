#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ModloadExampleBuilder
import Testing
@testable import Modload

/// Every example module file, mutated thousands of ways — single bytes, runs of bytes and
/// truncations, aimed at every structure a host or the dynamic linker reads (ELF, program and
/// section headers, the dynamic section and its tables, relocations, initializer arrays, the
/// metadata section, the descriptor's data) — and each mutant loaded with `insert(file:)`: it
/// loads (and unloads) or is refused with an error naming the file. The process never crashes.
///
/// What the guarantee leaves out, and so what is never mutated: the bytes a module's own code
/// runs or reads as it runs — machine code (executable segments), the data that code trusts
/// (`.rodata`, `.data`, `.data.rel.ro`, the constants a linker leaves in `.got`, unwind tables)
/// and, in Swift files, the runtime's
/// metadata (`swift5_*`); and which symbol a relocation binds (with its addend), which chooses what a
/// call reaches as surely as an instruction does. A changed instruction or format string can do anything once it
/// runs; that is what signatures are for. (The descriptor's own strings, which live in `.rodata`,
/// are mutated: the host checks them.)
///
/// Each example's mutants run in a process of their own (an exit test): Swift mutants that load
/// are retired, never unmapped, and stay for the life of that process, not of the test run.
@Suite("Module files: mutants", .timeLimit(.minutes(10)))
struct FileMutationTests {
    static let mutants = Stress.sanitizer == nil ? 2_000 : 400

    @Test(arguments: ["checksum", "journal", "jstat"])
    func everyMutantIsRefusedWithAClearErrorOrLoadsCleanly(example: String) async throws {
        let folder = try ModuleFolder()
        // The modules a mutant of `example` imports from, loaded first (unmutated).
        var dependencies: [String] = []
        for name in ["checksum", "journal"].prefix(["checksum": 0, "journal": 1, "jstat": 2][example]!) {
            dependencies.append(try await folder.copy(ExampleBuilder.Example(rawValue: name)!, as: "dependency-\(name).so"))
        }
        let original = try await folder.copy(ExampleBuilder.Example(rawValue: example)!, as: "original-\(example).so")
        let count = Self.mutants
        let output = try ChildProcesses.Output()
        defer { output.remove() }
        let result = await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .success) {
                [folder = folder.path as String, dependencies = dependencies as [String], original = original as String, count = count as Int,
                 out = output.standardOutputPath as String, err = output.standardErrorPath as String] in
                ChildProcesses.redirectOutput(standardOutput: out, standardError: err)
                exit(await FileMutationTests.run(original: original, dependencies: dependencies, folder: folder, count: count))
            }
        }
        if result != nil {
            let report = output.standardOutput
            print("\(example): \(report)")
            let last = output.standardError.split(separator: "\n").suffix(3)
            #expect(report.contains("tried \(count) mutants"), "\(example) stopped after: \(last.joined(separator: " | "))")
        }
    }

    /// The child's work: loads every mutant; returns the exit status (0: every one loaded or was
    /// refused with an error naming its file). Prints the tally; the mutant about to be loaded goes
    /// to standard error first, so a crash names it.
    static func run(original: String, dependencies: [String], folder: String, count: Int) async -> Int32 {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard let host = try? ModuleHost(configuration: .testing()) else { return 2 }
        for dependency in dependencies {
            do { try await host.insert(file: dependency) } catch { print("dependency \(dependency): \(error)"); return 3 }
        }
        guard let bytes = try? ModuleFolder.bytes(of: original) else { return 4 }
        let targets = Targets(bytes)
        var random = SplitMix(seed: 0x6d6f_646c_6f61_64)  // fixed: the same mutants every run
        var tally: [String: Int] = [:]
        var loaded = 0
        var unnamed: [String] = []
        // Diagnosis only: mutants to skip (`MODLOAD_MUTANT_SKIP=3,17`), to find every crasher.
        let skip = Set((getenv("MODLOAD_MUTANT_SKIP").map { String(cString: $0) } ?? "").split(separator: ",").compactMap { Int($0) })
        for index in 0..<count {
            var mutant = bytes
            let what = targets.mutate(&mutant, &random)
            if skip.contains(index) { continue }
            let path = "\(folder)/mutant-\(index).so"
            guard (try? Data(mutant).write(to: URL(fileURLWithPath: path))) != nil else { return 5 }
            FileHandle.standardError.write(Data("mutant \(index): \(what)\n".utf8))
            if let log = getenv("MODLOAD_MUTANT_LOG") { try? Data("\(original) mutant \(index): \(what)\n".utf8).append(to: String(cString: log)) }
            do throws(ModuleError) {
                let outcome = try await host.insert(file: path)
                loaded += 1
                _ = try? await host.unload(outcome.module, mode: .force)
            } catch {
                tally["\(error.code)", default: 0] += 1
                if error.file != path && !"\(error)".contains(path) { unnamed.append("mutant \(index) (\(what)): \(error)") }
            }
            unlink(path)
        }
        let kinds = tally.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("tried \(count) mutants: \(loaded) loaded and unloaded, refused: \(kinds); skipped: \(targets.skipped)")
        for line in unnamed.prefix(10) { print("error naming no file: \(line)") }
        return unnamed.isEmpty ? 0 : 6
    }

    /// Where mutants may change a file: every byte but the excluded ranges; and the structures
    /// the host and the dynamic linker read, each aimed at on its own so small ones are hit too.
    struct Targets {
        let size: Int
        let allowed: [Range<Int>]
        let structures: [(name: String, ranges: [Range<Int>])]
        let skipped: String

        init(_ bytes: [UInt8]) {
            size = bytes.count
            let elf = bytes.withUnsafeBytes { try? ElfImage.validate($0, descriptorPrefix: ModuleFileBytes.descriptorPrefix) }
            guard let elf else {
                allowed = [0..<bytes.count]
                structures = []
                skipped = "nothing (not parsed)"
                return
            }
            // What the module's own code runs or reads as it runs.
            var excluded: [Range<Int>] = elf.segments.filter(\.isExecutable).map { Int($0.offset)..<Int($0.offset + $0.fileSize) }
            let trusted: Set<String> = [
                ".rodata", ".data", ".data.rel.ro", ".got", ".got.plt", ".eh_frame", ".eh_frame_hdr", ".gcc_except_table",
                ".tm_clone_table",
            ]
            for section in elf.sections where trusted.contains(section.name) || section.name.hasPrefix("swift5_") || section.name == ".swift_modhash" {
                excluded.append(section.range)
            }
            // Which symbol a relocation binds, and its addend to it, choose what the code reaches
            // (which function a call runs), as much the module's code as its instructions.
            bytes.withUnsafeBytes { raw in
                let file = ElfReader(bytes: raw)
                for table in elf.sections where table.name == ".rela.dyn" || table.name == ".rela.plt" {
                    for entry in stride(from: table.range.lowerBound, to: table.range.upperBound - 23, by: 24)
                    where file.u64(entry + 8) >> 32 != 0 {
                        excluded.append((entry + 12)..<(entry + 24))
                    }
                }
            }
            // ... but the descriptor's data, which the host checks, is fair game: the modload__*
            // objects and the strings the modload_* sections point at.
            var descriptorData: [Range<Int>] = []
            bytes.withUnsafeBytes { raw in
                let file = ElfReader(bytes: raw)
                for table in elf.sections where table.type == 2 && table.link < elf.sections.count {
                    let names = elf.sections[table.link].range
                    var at = table.range.lowerBound
                    while at + 24 <= table.range.upperBound {
                        if let name = file.cString(in: names, at: Int(file.u32(at))), name.hasPrefix("modload__"),
                            let range = elf.fileRange(of: file.u64(at + 8), length: max(file.u64(at + 16), 1))
                        {
                            descriptorData.append(range)
                        }
                        at += 24
                    }
                }
                let arrays = elf.sections.filter { $0.name.hasPrefix("modload_") }.map { $0.address..<($0.address + UInt64($0.range.count)) }
                if let relocations = elf.section(named: ".rela.dyn") {
                    var at = relocations.range.lowerBound
                    while at + 24 <= relocations.range.upperBound {
                        let offset = file.u64(at), addend = file.u64(at + 16)
                        if arrays.contains(where: { $0.contains(offset) }), let start = elf.fileRange(of: addend, length: 1)?.lowerBound,
                            let end = raw[start...].firstIndex(of: 0)
                        {
                            descriptorData.append(start..<(end + 1))
                        }
                        at += 24
                    }
                }
            }
            allowed = Self.subtract(excluded, from: [0..<bytes.count], keeping: descriptorData)
            var structures: [(String, Range<Int>)] = [
                ("the ELF header", 0..<ElfImage.ehdrSize),
                ("the program headers", bytes.withUnsafeBytes { raw in
                    let r = ElfReader(bytes: raw); return Int(r.u64(32))..<Int(r.u64(32)) + Int(r.u16(56)) * ElfImage.phdrSize }),
                ("the section headers", bytes.withUnsafeBytes { raw in
                    let r = ElfReader(bytes: raw); return Int(r.u64(40))..<Int(r.u64(40)) + Int(r.u16(60)) * ElfImage.shdrSize }),
            ]
            let aimed = [".dynamic", ".dynsym", ".dynstr", ".gnu.hash", ".hash", ".gnu.version", ".gnu.version_r", ".gnu.version_d",
                         ".rela.dyn", ".rela.plt", ".init_array", ".fini_array", ".modload_info", ".shstrtab", ".symtab", ".comment",
                         "modload_exports", "modload_params", "modload_imports", "modload_aliases"]
            for name in aimed { if let section = elf.section(named: name), !section.range.isEmpty { structures.append((name, section.range)) } }
            for (index, range) in descriptorData.enumerated() { structures.append(("descriptor data \(index)", range)) }
            // Aimed mutations stay inside what may be mutated too.
            let allowed = self.allowed
            self.structures = structures.compactMap { name, range in
                let inside = allowed.compactMap { $0.clamped(to: range) }.filter { !$0.isEmpty }
                return inside.isEmpty ? nil : (name, inside)
            }
            skipped = "machine code, \(trusted.sorted().joined(separator: " ")) swift5_*, the symbols and addends of symbol relocations (\(excluded.map(\.count).reduce(0, +)) bytes)"
        }

        /// `ranges` minus `excluded`, plus `kept`.
        static func subtract(_ excluded: [Range<Int>], from ranges: [Range<Int>], keeping kept: [Range<Int>]) -> [Range<Int>] {
            var result = ranges
            for cut in excluded {
                result = result.flatMap { range -> [Range<Int>] in
                    guard range.overlaps(cut) else { return [range] }
                    return [range.lowerBound..<max(range.lowerBound, cut.lowerBound), min(range.upperBound, cut.upperBound)..<range.upperBound]
                        .filter { !$0.isEmpty }
                }
            }
            return result + kept
        }

        /// Applies one mutation; says which. (Stacked on a truncated mutant, a mutation may find
        /// its place gone: it changes nothing then.)
        func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix) -> String {
            let count = bytes.count
            func position(in ranges: [Range<Int>]) -> Int {
                let total = ranges.map(\.count).reduce(0, +)
                var pick = Int(random.next() % UInt64(max(total, 1)))
                for range in ranges {
                    if pick < range.count { return range.lowerBound + pick }
                    pick -= range.count
                }
                return 0
            }
            switch random.next() % 10 {
            case 0..<4:
                let at = position(in: allowed)
                let value = UInt8(truncatingIfNeeded: random.next() | 1)
                guard at < count else { return "unchanged" }
                bytes[at] ^= value
                return "byte \(at) ^= \(value)"
            case 4, 5:
                let at = position(in: allowed)
                let room = allowed.filter { $0.contains(at) }.map { $0.upperBound - at }.max() ?? 1
                let length = min(Int(random.next() % 15) + 2, room, count - at)
                guard length > 0 else { return "unchanged" }
                for index in at..<(at + length) { bytes[index] = UInt8(truncatingIfNeeded: random.next()) }
                return "\(length) bytes from \(at) randomized"
            case 6:
                guard count > 0 else { return "unchanged" }
                let length = Int(random.next() % UInt64(count))
                bytes.removeLast(bytes.count - length)
                return "truncated to \(length) bytes"
            default:
                guard !structures.isEmpty else { return "unchanged" }
                let (name, ranges) = structures[Int(random.next() % UInt64(structures.count))]
                let at = position(in: ranges)
                guard at < bytes.count else { return "unchanged" }
                let value = UInt8(truncatingIfNeeded: random.next() | 1)
                bytes[at] ^= value
                return "\(name): byte \(at) ^= \(value)"
            }
        }
    }

    /// A small deterministic generator (SplitMix64).
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }
}
