#if canImport(Glibc)
import Glibc
#endif
import CModloadABI
import Foundation
import ModloadExampleBuilder
import Testing
@testable import Modload

/// The module-file reader under random mutation for a bounded time: the fuzz run CI makes on
/// every submission (`MODLOAD_FUZZ_SECONDS=60 swift test --filter FileFuzzTests`), skipped
/// otherwise. A mutation driver (see ``FileMutationTests`` for what is mutated and why), not
/// libFuzzer: a coverage-instrumented build of the package and its dependencies would cost CI
/// another full build.
///
/// Each iteration stacks one to four mutations on an example file (the seed corpus: the built
/// examples) and runs the whole check of ``ModuleFile`` on it — ELF, dynamic tables, signature,
/// metadata — and, for a C mutant that passes, maps it and reads its descriptor (no entry point
/// runs), then releases it; and reads a descriptor of random bytes in a mapped module, whose
/// pointers go anywhere. The run is a process of its own; a crash fails the test, names the seed
/// and keeps the mutant under `.build/modload-fuzz/` to reproduce.
@Suite("Module files: fuzzing")
struct FileFuzzTests {
    static let seconds = ProcessInfo.processInfo.environment["MODLOAD_FUZZ_SECONDS"].flatMap(Double.init)

    @Test(.enabled(if: seconds != nil, "set MODLOAD_FUZZ_SECONDS to fuzz"), .timeLimit(.minutes(10)))
    func theReaderSurvivesRandomMutants() async throws {
        var corpus: [String] = []
        for example in ExampleBuilder.Example.allCases { corpus.append(try await ExampleBuilder.shared.path(of: example)) }
        let keep = ExampleBuilder.shared.packageRoot + "/.build/modload-fuzz"
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
        let seed = UInt64(ProcessInfo.processInfo.environment["MODLOAD_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0 ... .max)
        let seconds = Self.seconds ?? 0
        let output = try ChildProcesses.Output()
        defer { output.remove() }
        let result = await ChildProcesses.oneAtATime {
            await #expect(processExitsWith: .success) {
                [corpus = corpus as [String], keep = keep as String, seed = seed as UInt64, seconds = seconds as Double,
                 out = output.standardOutputPath as String, err = output.standardErrorPath as String] in
                ChildProcesses.redirectOutput(standardOutput: out, standardError: err)
                exit(FileFuzzTests.fuzz(corpus: corpus, keep: keep, seed: seed, seconds: seconds))
            }
        }
        let report = output.standardOutput
        print("fuzz (seed \(seed)): \(report)")
        if result != nil, !report.contains("iterations") {
            let last = output.standardError.split(separator: "\n").suffix(2)
            Issue.record("the fuzz run stopped (seed \(seed)) at: \(last.joined(separator: " | ")); the mutant is in \(keep)")
        }
        if result == nil, let what = try? String(contentsOfFile: keep + "/current-mutant.so.txt", encoding: .utf8) {
            Issue.record("the fuzz run crashed at \(what)(the mutant: \(keep)/current-mutant.so)")
        }
    }

    static func fuzz(corpus: [String], keep: String, seed: UInt64, seconds: Double) -> Int32 {
        var random = FileMutationTests.SplitMix(seed: seed)
        let files = corpus.compactMap { path in (try? ModuleFolder.bytes(of: path)).map { (path, $0, FileMutationTests.Targets($0)) } }
        let policy = SignaturePolicy.permissive
        let deadline = Date().addingTimeInterval(seconds)
        let current = keep + "/current-mutant.so"
        var iterations = 0, refused = 0, mapped = 0, descriptors = 0
        // A mapped C module, for descriptors of random bytes.
        let checksum = files.first { $0.0.hasSuffix("libchecksum.so") }
        let checked = checksum.flatMap { try? ModuleFile.check($0.0, policy: policy) }
        let host = checked.flatMap { try? $0.map(for: 0) }
        while Date() < deadline {
            iterations += 1
            let (source, bytes, targets) = files[Int(random.next() % UInt64(files.count))]
            var mutant = bytes
            var what: [String] = []
            for _ in 0...(random.next() % 4) { what.append(targets.mutate(&mutant, &random)) }
            guard (try? Data(mutant).write(to: URL(fileURLWithPath: current))) != nil else { return 2 }
            try? Data("iteration \(iterations) (seed \(seed)): \(source): \(what)\n".utf8).write(to: URL(fileURLWithPath: current + ".txt"))
            if iterations % 256 == 0 { FileHandle.standardError.write(Data("iteration \(iterations): \(source): \(what)\n".utf8)) }
            do throws(ModuleError) {
                let file = try ModuleFile.check(current, policy: policy)
                if !file.elf.containsSwift {
                    let (image, _) = try file.map(for: 0)
                    mapped += 1
                    _ = image.release()
                }
            } catch {
                refused += 1
            }
            if let (image, _) = host, let elf = checked?.elf {
                var noise = [UInt8](repeating: 0, count: MemoryLayout<modload_descriptor>.size)
                for index in noise.indices { noise[index] = UInt8(truncatingIfNeeded: random.next()) }
                // Half the pointers near the module, so some land inside it.
                for slot in stride(from: 8, to: noise.count - 8, by: 8) where random.next() % 2 == 0 {
                    let near = UInt64(image.base) &+ (random.next() % 0x8000)
                    for byte in 0..<8 { noise[slot + byte] = UInt8(truncatingIfNeeded: near >> (8 * UInt64(byte))) }
                }
                noise[0] = 2; noise[1] = 0; noise[2] = 0; noise[3] = 0  // abi_version 2, so the reader goes on
                _ = noise.withUnsafeBytes { raw in
                    try? MappedDescriptor.read(raw.baseAddress!, base: image.base, image: elf, agreeingWith: nil, file: "noise")
                }
                descriptors += 1
            }
        }
        unlink(current)
        unlink(current + ".txt")
        print("\(iterations) iterations: \(refused) refused, \(mapped) mapped and released, \(descriptors) random descriptors read")
        return 0
    }
}
