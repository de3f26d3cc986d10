import Modload
import ModloadDemo
import Testing

@Suite("modload boot")
struct BootTests {
    @Test(arguments: [1, 16, 288])
    func bootMergesTheFrequencyDriverBurst(cpus: Int) async throws {
        let host = ModuleHost(configuration: Boot.hostConfiguration)
        let report = try await Boot.run(.init(cpus: cpus, initDelay: .milliseconds(2)), on: host)
        #expect(report.requests == 1 + cpus * 3 + 11)
        // Every requested module's init ran exactly once.
        #expect(report.inits.count == 9)
        #expect(report.inits.values.allSatisfy { $0 == 1 }, "\(report.inits)")
        // Both contended drivers failed with the init's error, for every request.
        #expect(report.failed == ["acpi_cpufreq": "initFailed", "pcc_cpufreq": "initFailed"])
        #expect(report.failedRequests == ["acpi_cpufreq": 2 * cpus, "pcc_cpufreq": cpus])
        #expect(report.failureReasons["acpi_cpufreq"]?.contains("intel_pstate is already the cpufreq driver") == true)
        // Requests either merged, hit the failure cache, or (late ordinary ones) found the module
        // live; none ran an init.
        #expect(report.mergedJoiners > 0)
        #expect(report.mergedJoiners + report.cachedFailures <= report.requests - report.inits.count)
        let names = report.modules.map(\.name)
        #expect(!names.contains("acpi_cpufreq"))
        #expect(!names.contains("pcc_cpufreq"))
        #expect(report.modules.first { $0.name == "intel_pstate" }?.state == "live")
        #expect(report.modules.count == 7)
        #expect(report.modules.allSatisfy { $0.state == "live" && $0.refcount == 0 })
        #expect(report.taints == "")
    }

    @Test func bootRejectsBadOptions() async {
        await expectError(.invalidArgument) { _ = try await Boot.run(.init(cpus: 0), on: ModuleHost(configuration: .testing())) }
        await expectError(.invalidArgument) { _ = try await Boot.run(.init(cpus: -3), on: ModuleHost(configuration: .testing())) }
        await expectError(.invalidArgument) {
            _ = try await Boot.run(.init(cpus: 4, initDelay: .milliseconds(-1)), on: ModuleHost(configuration: .testing()))
        }
    }
}
