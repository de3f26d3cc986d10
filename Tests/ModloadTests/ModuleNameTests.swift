import Testing
@testable import Modload

@Suite("Module names")
struct ModuleNameTests {
    @Test func dashAndUnderscoreAreOneCharacter() throws {
        #expect(try ModuleName(validating: "acpi-cpufreq").canonical == "acpi_cpufreq")
        #expect(try ModuleName(validating: "acpi-cpufreq") == ModuleName(validating: "acpi_cpufreq"))
        #expect(try ModuleName(validating: "Snd-HDA_1").canonical == "Snd_HDA_1")
    }

    @Test func equalNamesHashEquallyAndTheHashSpreads() throws {
        #expect(try ModuleName(validating: "acpi-cpufreq").hash == ModuleName(validating: "acpi_cpufreq").hash)
        // 10,000 similar names: no two share a hash (a 64-bit hash colliding here would mean it
        // ignores bytes).
        let hashes = Set(try (0..<10_000).map { try ModuleName(validating: "module_\($0)").hash })
        #expect(hashes.count == 10_000)
        // The trie uses the hash five bits at a time from the low end: the low bits must spread.
        let buckets = Set(hashes.map { $0 & 0x3ff })
        #expect(buckets.count > 900)
    }

    @Test func fiftyFiveBytesIsTheLimit() throws {
        let longest = String(repeating: "a", count: 55)
        #expect(try ModuleName(validating: longest).canonical == longest)
    }

    @Test(arguments: [
        ("", "empty"),
        (String(repeating: "a", count: 56), "56 bytes"),
        ("fs/ext4", "forbidden character at byte 2"),
        ("has space", "forbidden character at byte 3"),
        ("ext4.ko", "forbidden character at byte 4"),
        ("caf\u{e9}", "forbidden character at byte 3"),
        ("nul\u{0}x", "forbidden character at byte 3"),
    ])
    func malformedNamesAreRejectedWithAReason(name: String, expected: String) {
        #expect {
            _ = try ModuleName(validating: name)
        } throws: { error in
            guard let error = error as? ModuleError else { return false }
            return error.code == .invalidArgument && error.reason.contains(expected)
        }
    }

    @Test func badNamesLeaveTheHostUnchanged() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("kept"))
        let before = host.listing()
        for bad in ["", String(repeating: "x", count: 56), "a/b", "a b"] {
            await expectError(.invalidArgument) { try await host.insert(TestModule(bad)) }
            await expectError(.invalidArgument) { try await host.ensureLoaded(TestModule(bad)) }
            await expectError(.invalidArgument) { _ = try host.acquire(bad) }
            await expectError(.invalidArgument) { try await host.unload(bad) }
            await expectError(.invalidArgument) { _ = try host.holders(of: bad) }
            #expect(host.info(of: bad) == nil)
            #expect(host.state(of: bad) == nil)
        }
        #expect(host.listing() == before)
        #expect(Set(host.statistics().keys) == ["kept"])
    }

    @Test func hostMatchesNamesAcrossDashAndUnderscore() async throws {
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("snd-hda"))
        await expectError(.exists) { try await host.insert(TestModule("snd_hda")) }
        let ref = try host.acquire("snd-hda")
        #expect(ref.name == "snd_hda")
        #expect(host.info(of: "snd_hda")?.refcount == 1)
    }
}
