import Foundation
import Modload
import ModloadBench
import ModloadControl
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

/// `modload boot` of the module tree: real module files built from Examples/boot, indexed,
/// coldplugged through the repository; the timeline, its plot rendered by a real renderer, and
/// the kmod-style baseline.
@Suite("modload boot: the module tree", .serialized)
struct FileBootTests {
    static let devices = FileBoot.devices.map(\.count).reduce(0, +)

    @Test func theTreeBootsThroughTheRepositoryWithItsConfiguration() async throws {
        let tree = try await DemoTree.prepare()
        // Few CPUs: this suite shares the test process's two pool threads with every other suite
        // (the 288-CPU storm runs in CI's own `modload boot` step).
        let cpus = 4
        let (report, host) = try await FileBoot.run(tree, .init(cpus: cpus, initDelay: .milliseconds(1)))
        #expect(report.requests == 1 + cpus * 4 + Self.devices + 1)
        #expect(report.root == tree.root.path)
        // Every module asked for ran init exactly once — the failing drivers included; the
        // blacklisted and denied ones never.
        #expect(report.inits.count == 40, "\(report.inits.keys.sorted())")
        #expect(report.inits.values.allSatisfy { $0 == 1 }, "\(report.inits)")
        #expect(report.inits["iTCO_wdt"] == nil && report.inits["floppy"] == nil)
        #expect(report.failed == ["acpi_cpufreq": "initFailed", "pcc_cpufreq": "initFailed", "iTCO_wdt": "notFound", "floppy": "permissionDenied"])
        #expect(report.failedRequests["acpi_cpufreq"] == 2 * cpus && report.failedRequests["pcc_cpufreq"] == cpus)
        #expect(report.blacklisted == ["iTCO_wdt": 1] && report.denied == ["floppy": 1])
        // Everything else is live, with its users.
        let names = Set(report.modules.map(\.name))
        #expect(report.modules.count == 38 && report.modules.allSatisfy { $0.state == "live" }, "\(names.sorted())")
        #expect(names.isDisjoint(with: ["acpi_cpufreq", "pcc_cpufreq", "iTCO_wdt", "floppy"]))
        let usedBy = Dictionary(uniqueKeysWithValues: report.modules.map { ($0.name, $0.usedBy) })
        #expect(usedBy["cpufreq"] == ["intel_pstate"])
        #expect(usedBy["ptp"] == ["e1000e", "igb"])
        #expect(usedBy["crc32c_generic"] == ["ext4", "jbd2"])
        #expect(usedBy["snd_hda_codec"] == ["snd_hda_codec_realtek", "snd_hda_intel"])
        #expect(usedBy["hid"] == ["hid_generic", "usbhid"])
        // The tree's modprobe.d applied, and --init-ms given to every module.
        #expect(host.info(of: "snd_hda_intel")?.parameters.text.contains("power_save=1") == true)
        #expect(host.info(of: "kvm_intel")?.parameters.bool("nested") == true)
        #expect(host.info(of: "nvme")?.parameters.int("io_queue_depth") == 256)
        #expect(host.info(of: "ext4")?.parameters.int("init_us") == 1000)

        // The timeline: one entry per module asked for, in order; inits after what they use.
        let timeline = try #require(report.timeline)
        #expect(timeline.count == 40, "\(timeline.map(\.module))")
        #expect(timeline.map(\.firstRequestMs) == timeline.map(\.firstRequestMs).sorted())
        let byName = Dictionary(uniqueKeysWithValues: timeline.map { ($0.module, $0) })
        for entry in timeline {
            let start = try #require(entry.initStartMs, "\(entry.module) has no init start")
            let end = try #require(entry.initEndMs, "\(entry.module) has no init end")
            #expect(entry.firstRequestMs <= start && start <= end, "\(entry)")
            #expect(entry.outcome == (FileBoot.contendedCpufreqDrivers.contains(entry.module) ? "failed" : "live"), "\(entry)")
            for used in host.info(of: entry.module)?.uses ?? [] {
                // (A module's `live` is delivered just after it goes live, so a user may already be
                // `coming` when it is timed: its init's start is what is ordered.)
                let before = try #require(byName[used]?.initStartMs)
                #expect(before < start, "\(entry.module) began init at \(start) ms, before \(used) began at \(before) ms")
                #expect(entry.after.contains(used))
            }
        }
        #expect(byName["acpi_cpufreq"]?.requests == 2 * cpus && byName["snd_hda_codec_realtek"]?.after.contains("snd_hda_intel") == true)
        let path = try #require(report.criticalPath)
        #expect(Array(path.prefix(2)) == ["cpufreq", "intel_pstate"], "\(path)")
        #expect((report.criticalPathMs ?? 0) > 0 && (report.criticalPathMs ?? .infinity) <= report.wallMs)

        // After boot: the blacklisted module still loads by name; the denied one never does.
        await expectError(.notFound) { try await host.request("platform:iTCO_wdt") }
        try await host.request("iTCO_wdt")
        #expect(host.state(of: "iTCO_wdt") == .live)
        await expectError(.permissionDenied) { try await host.request("floppy") }
        await expectError(.permissionDenied) { try await host.request("pnp:dPNP0700") }
        #expect(host.state(of: "floppy") == nil)
    }

    @Test func theBootGoesToARunningDaemonWithSocket() async throws {
        let tree = try await DemoTree.prepare()
        let daemon = try await DaemonProcess(root: tree.root.path, ["--failure-cache", "60"])
        let cpus = 4
        let (report, modules) = try await DaemonBoot.run(tree, .init(cpus: cpus, initDelay: .milliseconds(1)), socket: daemon.socket)
        #expect(report.requests == 1 + cpus * 4 + Self.devices + 1)
        #expect(report.inits.count == 40 && report.inits.values.allSatisfy { $0 == 1 }, "\(report.inits)")
        #expect(report.failed == ["acpi_cpufreq": "initFailed", "pcc_cpufreq": "initFailed", "iTCO_wdt": "notFound", "floppy": "permissionDenied"])
        #expect(report.failedRequests["acpi_cpufreq"] == 2 * cpus)
        #expect(modules.count == 38 && modules.allSatisfy { $0.state == "live" } && report.modules.count == 38)
        // The timeline comes from the daemon's Monitor stream.
        let timeline = try #require(report.timeline)
        #expect(timeline.count == 40 && timeline.allSatisfy { $0.initStartMs != nil && $0.initEndMs != nil }, "\(timeline.filter { $0.initStartMs == nil || $0.initEndMs == nil })")
        #expect(Array((report.criticalPath ?? []).prefix(2)) == ["cpufreq", "intel_pstate"])
        #expect(try await daemon.stop() == 0)
    }

    @Test func theTreeIsBuiltOnceAndReused() async throws {
        let first = try await DemoTree.prepare()
        let again = try await DemoTree.prepare()
        #expect(!again.built && again.root == first.root)
        #expect(FileManager.default.fileExists(atPath: first.root.path + "/kernel/fs/ext4/ext4.so"))
        #expect(FileManager.default.fileExists(atPath: first.root.path + "/modprobe.d/boot.conf"))
    }

    @Test func theKmodStyleBaselineRunsEveryDuplicateInitInTurn() async throws {
        let tree = try await DemoTree.prepare()
        let cpus = 4
        let baseline = try await BootBaseline.run(tree, .init(cpus: cpus, initDelay: .zero))
        // Before the merge fix, every request of a failing driver ran its init again.
        #expect(baseline.inits["acpi_cpufreq"] == 2 * cpus && baseline.inits["pcc_cpufreq"] == cpus, "\(baseline.inits)")
        #expect(baseline.inits.filter { !FileBoot.contendedCpufreqDrivers.contains($0.key) }.values.allSatisfy { $0 == 1 })
        #expect(baseline.inits.count == 40)
        // The failing drivers' requests, the blacklisted and the denied one.
        #expect(baseline.failedRequests == 3 * cpus + 2)
    }

    @Test func thePlotRendersWithARealRenderer() async throws {
        let tree = try await DemoTree.prepare()
        let (report, _) = try await FileBoot.run(tree, .init(cpus: 4, initDelay: .zero))
        let svg = BootPlot.svg(report, title: "test <boot> & plot")
        #expect(svg.contains("test &lt;boot&gt; &amp; plot"))
        for entry in report.timeline ?? [] { #expect(svg.contains(">\(entry.module)"), "\(entry.module)") }
        let folder = try ModuleFolder()
        try svg.write(toFile: folder.path + "/boot.svg", atomically: true, encoding: .utf8)
        let renderer = try #require(
            ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "rsvg-convert is not installed (Debian: apt-get install librsvg2-bin)")
        let run = try await Programs.run(renderer, [folder.path + "/boot.svg", "-o", folder.path + "/boot.png"])
        #expect(run.status == 0, "\(run.standardError)")
        let png = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/boot.png"))
        #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(png.count) bytes")
    }
}
