import Modload
import ModloadDemo
import Testing

@Suite("modload boot")
struct BootTests {
    @Test(arguments: [1, 16, 288])
    func bootMergesTheFrequencyDriverBurst(cpus: Int) async throws {
        let (report, host) = try await Boot.run(.init(cpus: cpus, initDelay: .milliseconds(2)))
        #expect(report.requests == 1 + cpus * 3 + 11 + 1)
        // Every module asked for — directly, by alias, or as a dependency — ran init exactly once.
        #expect(report.inits.count == 14)
        #expect(report.inits.values.allSatisfy { $0 == 1 }, "\(report.inits)")
        // Both contended drivers failed with the init's error, for every request.
        #expect(report.failed == ["acpi_cpufreq": "initFailed", "pcc_cpufreq": "initFailed"])
        #expect(report.failedRequests == ["acpi_cpufreq": 2 * cpus, "pcc_cpufreq": cpus])
        #expect(report.failureReasons["acpi_cpufreq"]?.contains("intel_pstate is already the cpufreq driver") == true)
        // Every attempt (requests, and the dependency requests they made) either ran an init,
        // merged, hit the failure cache, or (late ones) found the module live.
        let attempts = host.statistics().values.map(\.attempts).reduce(0, +)
        #expect(attempts >= report.requests)
        #expect(report.mergedJoiners + report.cachedFailures <= attempts - report.inits.count)
        // Each failing driver's requests beyond the one that ran its init merged into it or hit
        // the failure cache — none ran a second init, at any number of CPUs.
        for (name, requests) in [("acpi_cpufreq", 2 * cpus), ("pcc_cpufreq", cpus)] {
            let s = try #require(host.statistics(of: name))
            #expect(s.attempts == requests && s.initCalls == 1 && s.mergedJoiners + s.cachedFailures == requests - 1, "\(name): \(s)")
        }
        let names = report.modules.map(\.name)
        #expect(!names.contains("acpi_cpufreq"))
        #expect(!names.contains("pcc_cpufreq"))
        #expect(report.modules.first { $0.name == "intel_pstate" }?.state == "live")
        #expect(report.modules.count == 12)
        #expect(report.modules.allSatisfy { $0.state == "live" })
        // The dependency chains, with their holders.
        let usedBy = Dictionary(uniqueKeysWithValues: report.modules.map { ($0.name, $0.usedBy) })
        #expect(usedBy["crc32c_generic"] == ["ext4", "jbd2"])
        #expect(usedBy["jbd2"] == ["ext4"])
        #expect(usedBy["mbcache"] == ["ext4"])
        #expect(usedBy["ptp"] == ["e1000e"])
        #expect(report.modules.first { $0.name == "crc32c_generic" }?.refcount == 2)
        #expect(host.listing().contains("2 ext4,jbd2"))
        #expect(report.taints == "")
    }

    @Test func bootRejectsBadOptions() async throws {
        await expectError(.invalidArgument) { _ = try await Boot.run(.init(cpus: 0)) }
        await expectError(.invalidArgument) { _ = try await Boot.run(.init(cpus: -3)) }
        await expectError(.invalidArgument) {
            _ = try await Boot.run(.init(cpus: 4, initDelay: .milliseconds(-1)))
        }
    }
}
