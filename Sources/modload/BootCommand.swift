import ArgumentParser
import Foundation
import Modload
import ModloadDemo

struct BootCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the demo system: every CPU asks for its frequency drivers at once (the 288-CPU boot, docs/design.md §1).",
        discussion: """
            intel_pstate loads first. Then udev coldplug requests pcc_cpufreq once and acpi_cpufreq \
            twice per CPU, every device's driver by modalias, and the root filesystem (ext4, which \
            pulls in jbd2, mbcache and crc32c_generic), all concurrently. Both contended frequency \
            drivers fail in init ("no device"); Modload merges the duplicate requests so each init \
            runs once.
            """
    )

    @Option(parsing: .unconditional, help: "CPUs, each requesting pcc_cpufreq once and acpi_cpufreq twice.")
    var cpus = 288

    @Option(name: .customLong("init-ms"), parsing: .unconditional, help: "How long every module's init takes, in milliseconds.")
    var initMs = 2.0

    @Flag(help: "Don't remember failed loads: late duplicate requests run the failing init again.")
    var noFailureCache = false

    @Flag(help: "Print one JSON object instead of the report.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard cpus >= 1, cpus <= 65_536 else { throw ValidationError("--cpus must be between 1 and 65536 (got \(cpus))") }
        guard initMs >= 0, initMs <= 60_000 else {
            throw ValidationError("--init-ms must be between 0 and 60000 (got \(initMs))")
        }
    }

    func run() async throws {
        var configuration = Boot.hostConfiguration
        configuration.logger = global.bootstrapLogging()
        if noFailureCache { configuration.failedLoadCacheDuration = nil }
        let options = Boot.Options(cpus: cpus, initDelay: .microseconds(Int64((initMs * 1000).rounded())))
        let (report, host) = try await Boot.run(options, configuration: configuration)
        if json {
            print(try jsonLine(report))
        } else {
            print(render(report, listing: host.listing()))
        }
    }

    private func render(_ report: Boot.Report, listing: String) -> String {
        var lines: [String] = []
        lines.append("booted \(cpus) CPUs in \(String(format: "%.2f", report.wallMs)) ms (init \(initMs) ms per module)")
        lines.append("requests:        \(report.requests)")
        lines.append("merged joiners:  \(report.mergedJoiners)")
        if report.cachedFailures > 0 { lines.append("cached failures: \(report.cachedFailures) (answered from the failure cache)") }
        lines.append("init calls:      " + report.inits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        if report.failed.isEmpty {
            lines.append("failures:        none")
        } else {
            lines.append("failures:")
            for (module, reason) in report.failureReasons.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(module): \(report.failedRequests[module] ?? 0) requests failed: \(reason)")
            }
        }
        if !report.taints.isEmpty { lines.append("taints:          \(report.taints)") }
        lines.append("")
        lines.append(listing)
        return lines.joined(separator: "\n")
    }
}
