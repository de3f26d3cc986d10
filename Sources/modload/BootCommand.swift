import ArgumentParser
import Foundation
import Modload
import ModloadBench
import ModloadControl
import ModloadDemo

struct BootCommand: AsyncParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the demo machine: its module tree (Examples/boot), indexed by depmod, coldplugged through modprobe semantics.",
        discussion: """
            The tree's module files (C and Swift) are built from source on first run into \
            .build/modload-boot-tree/ (again when a source changes) and indexed. Early boot loads \
            intel_pstate; then every device asks for its driver by modalias and every CPU asks \
            for pcc_cpufreq once, acpi_cpufreq twice and its own modalias — all at once, each a \
            request through the tree's repository and modprobe.d (options, softdeps, a blacklisted \
            watchdog, a denied floppy driver). Both contended frequency drivers fail in init ("no \
            device"); Modload merges the duplicate requests so every init runs once. The report \
            gives the timeline, its critical path and the lsmod table; --builtin boots the \
            built-in catalog instead (no files).
            """
    )

    @Option(parsing: .unconditional, help: "CPUs, each requesting pcc_cpufreq once, acpi_cpufreq twice and its modalias.")
    var cpus = 288

    @Option(name: .customLong("init-ms"), parsing: .unconditional, help: "How long every module's init waits for its device, in milliseconds.")
    var initMs = 2.0

    @Flag(help: "Don't remember failed loads: late duplicate requests run the failing init again.")
    var noFailureCache = false

    @Option(help: ArgumentHelp("Also draw the timeline as an SVG picture into this file.", valueName: "file.svg"))
    var plot: String?

    @Flag(help: "Also run the same coldplug through a kmod-style baseline (serialized duplicates, one insmod at a time per request) and give the ratio.")
    var compare = false

    @Option(help: ArgumentHelp("Send the coldplug to the modload daemon on this socket (started on the tree: modload daemon -b $(modload boot --tree)) instead of a host of its own.", valueName: "path"))
    var socket: String?

    @Flag(help: "Boot the built-in catalog (definitions in memory, no module files) instead of the tree.")
    var builtin = false

    @Flag(help: "Build and index the tree if needed, print its path (a module root: -b for the other verbs), and exit.")
    var tree = false

    @Flag(help: "Print one JSON object instead of the report.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard cpus >= 1, cpus <= 65_536 else { throw ValidationError("--cpus must be between 1 and 65536 (got \(cpus))") }
        guard initMs >= 0, initMs <= 60_000 else {
            throw ValidationError("--init-ms must be between 0 and 60000 (got \(initMs))")
        }
        if builtin, plot != nil || compare || tree || socket != nil {
            throw ValidationError("--plot, --compare, --socket and --tree are about the module tree; --builtin boots no files")
        }
        if let plot {
            // Checked before the boot: a boot should not run to find it cannot write its picture.
            guard FileManager.default.createFile(atPath: plot, contents: nil) else {
                throw ValidationError("--plot \(plot): cannot write there")
            }
        }
    }

    func run() async throws {
        var configuration = Boot.hostConfiguration
        configuration.logger = global.bootstrapLogging()
        if noFailureCache { configuration.failedLoadCacheDuration = nil }
        let options = Boot.Options(cpus: cpus, initDelay: .microseconds(Int64((initMs * 1000).rounded())))
        if builtin {
            let (report, host) = try await Boot.run(options, configuration: configuration)
            print(json ? try jsonLine(report) : render(report, listing: host.listing()))
            return
        }
        let demo: DemoTree
        do {
            if !json && !tree { FileHandle.standardError.write(Data("modload boot: preparing the demo tree (built from Examples/boot on first run)…\n".utf8)) }
            demo = try await DemoTree.prepare()
        } catch let error as DemoTreeError {
            fail("\(error)")
        }
        if tree {
            print(demo.root.path)
            return
        }
        var report: Boot.Report
        let listing: String
        if let socket {
            do {
                let (booted, modules) = try await DaemonBoot.run(demo, options, socket: socket)
                report = booted
                listing = LsmodCommand.render(modules)
            } catch let error as ControlError {
                fail(error.reason)
            }
        } else {
            let (booted, host) = try await FileBoot.run(demo, options, configuration: configuration)
            report = booted
            listing = host.listing()
        }
        if compare {
            let baseline = try await BootBaseline.run(demo, options)
            report.baseline = Boot.Baseline(wallMs: baseline.wallMs, inits: baseline.inits, ratio: baseline.wallMs / max(report.wallMs, 1e-9))
        }
        if let plot {
            let title = "modload boot: \(cpus) CPUs, \(report.timeline?.count ?? 0) modules, init \(initMs) ms each"
            do {
                try BootPlot.svg(report, title: title).write(toFile: plot, atomically: true, encoding: .utf8)
            } catch {
                fail("--plot \(plot): cannot write it (\(String(cString: strerror(errno))))")
            }
        }
        print(json ? try jsonLine(report) : render(report, listing: listing))
    }

    private func render(_ report: Boot.Report, listing: String) -> String {
        var lines: [String] = []
        let what = report.root.map { "the module tree \($0)" } ?? "the built-in catalog"
        lines.append("booted \(cpus) CPUs from \(what) in \(String(format: "%.2f", report.wallMs)) ms (init \(initMs) ms per module)")
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
        for (label, refused) in [("blacklisted:    ", report.blacklisted), ("denied:         ", report.denied)] {
            guard let refused, !refused.isEmpty else { continue }
            lines.append(label + " " + refused.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) lookups refused)" }.joined(separator: ", "))
        }
        if let path = report.criticalPathMs, let modules = report.criticalPath {
            lines.append(String(format: "critical path:   %.2f ms (wall %.2f×): ", path, report.wallMs / max(path, 1e-9)) + modules.joined(separator: " → "))
        }
        if let baseline = report.baseline {
            lines.append(
                String(format: "kmod-style:      %.2f ms, %.0f× the boot's wall; init calls ", baseline.wallMs, baseline.ratio)
                    + baseline.inits.filter { $0.value > 1 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        if !report.taints.isEmpty { lines.append("taints:          \(report.taints)") }
        if let timeline = report.timeline {
            lines.append("")
            lines.append("timeline (ms from the first request): module, first request, init start → end, outcome")
            for entry in timeline {
                let span = entry.initStartMs.map { start in String(format: "%8.2f → %8.2f", start, entry.initEndMs ?? .nan) } ?? String(repeating: " ", count: 20)
                lines.append(
                    "  " + entry.module.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "%8.2f  ", entry.firstRequestMs) + span + "  "
                        + entry.outcome + (entry.error.map { " (\($0))" } ?? ""))
            }
        }
        lines.append("")
        lines.append(listing)
        return lines.joined(separator: "\n")
    }

    /// One line on stderr, exit status 1.
    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("modload boot: \(message)\n".utf8))
        Foundation.exit(1)
    }
}
