import Modload
import ModloadRepository

/// `modload boot`: the demo machine booting its module tree (``DemoTree``) as Linux boots with
/// udev and modprobe.
///
/// 1. **Configure**: the tree's `modprobe.d`, plus `options MODULE init_us=N` for every module of
///    the index (`--init-ms`: how long each init waits for its device).
/// 2. **Host**: a ``ModuleHost`` whose resolver is the tree's ``ModuleRepository`` — requests by
///    name or alias, dependencies from `modules.dep`, soft dependencies, blacklist and deny: the
///    same modprobe path the daemon's Load takes — and an observer recording the timeline.
/// 3. **Boot**: early boot requests `intel_pstate`; then coldplug, all at once: every device's
///    modalias, the root filesystem, and per CPU `pcc_cpufreq` once, `acpi_cpufreq` twice and its
///    own modalias (``coldplugRequests(cpus:)``).
/// 4. **Report**: the built-in boot's figures, plus the timeline, its critical path, and the
///    lookups the configuration refused (counted by ``ModuleRepository/screen(_:)``, the check
///    `resolve` itself makes).
public enum FileBoot {
    /// The devices coldplug finds, each asking for its driver by modalias, and how many of each.
    public static let devices: [(modalias: String, count: Int)] = [
        ("pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02", 4),  // NVMe namespaces → nvme
        ("pci:v00008086d000015B8sv00008086sd00002068bc02sc00i00", 2),  // Intel I219 NICs → e1000e
        ("pci:v00008086d00001533sv00008086sd00000001bc02sc00i00", 1),  // Intel I210 NIC → igb
        ("pci:v00008086d0000A36Dsv00008086sd00007270bc0Csc03i30", 2),  // USB 3 controllers → xhci_pci
        ("pci:v00008086d0000A352sv00008086sd00007270bc01sc06i01", 1),  // SATA controller → ahci
        ("scsi:t-0x00", 2),  // two SATA disks → sd_mod
        ("pci:v00008086d0000A348sv00008086sd00007270bc04sc03i00", 1),  // HD Audio → snd_hda_intel
        ("hdaudio:v10EC0269r00100001a01", 1),  // its Realtek codec → snd_hda_codec_realtek
        ("pci:v00008086d0000A323sv00008086sd00007270bc0Csc05i00", 1),  // SMBus → i2c_i801
        ("usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00", 1),  // a USB keyboard → usbhid
        ("hid:b0003g0001v0000046Dp0000C31C", 1),  // its HID device → hid_generic
        ("input:b0003v046DpC31Ce0110-e0,1,4,11,14,k71,72,73", 2),  // its input devices → evdev
        ("platform:iTCO_wdt", 1),  // the chipset's watchdog → blacklisted
        ("pnp:dPNP0700", 1),  // a floppy controller → denied
    ]

    /// Every CPU's modalias (feature 0085 is VMX: kvm_intel; family 6 matches intel_pstate).
    public static let cpuModalias = "cpu:type:x86,ven0000fam0006mod0055:feature:,0000,0001,0002,0085"

    /// The module early boot asks for before coldplug (it takes the cpufreq slot).
    public static let earlyBoot = "intel_pstate"

    /// The modules whose init fails at boot because `intel_pstate` holds the cpufreq slot.
    public static let contendedCpufreqDrivers = DemoSystem.contendedCpufreqDrivers

    /// Coldplug's requests: per CPU `pcc_cpufreq`, `acpi_cpufreq` twice and its modalias (the
    /// 288-CPU boot's 864, plus 288), every device's modalias, and the root filesystem.
    public static func coldplugRequests(cpus: Int) -> [String] {
        var requests: [String] = []
        requests.reserveCapacity(cpus * 4 + 24)
        for _ in 0..<cpus { requests += ["pcc_cpufreq", "acpi_cpufreq", "acpi_cpufreq", cpuModalias] }
        for (alias, count) in devices { requests += repeatElement(alias, count: count) }
        requests.append("fs-ext4")  // mounting the root filesystem
        return requests
    }

    /// The tree's configuration with every module's `init_us` (step 1).
    public static func modprobeConfiguration(of root: ModuleRoot, index: ModuleIndex, initDelay: Duration) -> ModprobeConfiguration {
        var configuration = ModprobeConfiguration(directories: [root.configurationDirectory])
        let microseconds = Int(milliseconds(initDelay) * 1000)
        configuration.add(
            parsing: index.entries.map { "options \($0.name) init_us=\(microseconds)\n" }.joined(),
            file: "(modload boot --init-ms)")
        return configuration
    }

    /// Boots `tree` into a new host configured with `configuration` (plus the tree's repository as
    /// its resolver) and returns the report and the host.
    public static func run(
        _ tree: DemoTree, _ options: Boot.Options, configuration: ModuleHost.Configuration = Boot.hostConfiguration
    ) async throws -> (report: Boot.Report, host: ModuleHost) {
        guard options.cpus >= 1 else {
            throw ModuleError(.invalidArgument, reason: "--cpus must be at least 1 (got \(options.cpus))")
        }
        guard options.initDelay >= .zero else { throw ModuleError(.invalidArgument, reason: "--init-ms must not be negative") }
        // 1. Configure.
        let repository = try repository(of: tree, initDelay: options.initDelay)
        // 2. Host.
        var configuration = configuration
        configuration.resolver = repository
        let host = try ModuleHost(configuration: configuration)
        let recorder = TimelineRecorder(host)
        // 3. Boot.
        let requests = coldplugRequests(cpus: options.cpus)
        let screened = screenings(of: requests, in: repository)
        let coldplug = await Boot.coldplug(
            host, early: earlyBoot, requests: requests, moduleOf: { screened[$0]?.found.first?.name })
        // 4. Report.
        var report = report(of: host, coldplug: coldplug, requests: requests.count + 1)
        complete(
            &report, tree: tree, repository: repository, screenings: screened, requests: requests, recorder: recorder,
            started: coldplug.started)
        return (report, host)
    }

    /// What every boot of the tree reports beyond the counts: the lookups the configuration
    /// refused, the timeline and its critical path.
    static func complete(
        _ report: inout Boot.Report, tree: DemoTree, repository: ModuleRepository, screenings: [String: ModuleRepository.Screening],
        requests: [String], recorder: TimelineRecorder, started: ContinuousClock.Instant
    ) {
        var blacklisted: [String: Int] = [:]
        var denied: [String: Int] = [:]
        for request in requests + [earlyBoot] {
            guard let screening = screenings[request], screening.allowed.isEmpty else { continue }
            for refused in screening.blacklisted { blacklisted[refused.module, default: 0] += 1 }
            for refused in screening.denied { denied[refused.module, default: 0] += 1 }
        }
        report.root = tree.root.path
        report.blacklisted = blacklisted
        report.denied = denied
        let timeline = recorder.timeline(from: started) { module in predecessors(of: module, in: repository) }
        // Early boot's phase: intel_pstate and what it waits for, all the way down.
        var early: Set<String> = []
        var pending = [earlyBoot]
        while let module = pending.popLast() {
            if early.insert(module).inserted { pending += predecessors(of: module, in: repository) }
        }
        let path = CriticalPath.of(timeline, phases: [early])
        report.timeline = timeline
        report.criticalPathMs = path.ms
        report.criticalPath = path.modules
    }

    /// The tree's repository for a boot: its index, its configuration with `initDelay` (step 1).
    public static func repository(of tree: DemoTree, initDelay: Duration) throws(ModuleError) -> ModuleRepository {
        let index: ModuleIndex
        do throws(RepositoryError) { index = try ModuleIndex.load(from: tree.root) } catch {
            throw ModuleError(.invalidFile, reason: "the demo tree's index: \(error)")
        }
        return ModuleRepository(root: tree.root, index: index, configuration: modprobeConfiguration(of: tree.root, index: index, initDelay: initDelay))
    }

    /// Every distinct request's screening (what the configuration refuses of it).
    static func screenings(of requests: [String], in repository: ModuleRepository) -> [String: ModuleRepository.Screening] {
        var screenings: [String: ModuleRepository.Screening] = [:]
        for request in Set(requests + [earlyBoot]) { screenings[request] = repository.screen(request) }
        return screenings
    }

    /// What `module` waits for in a boot of `repository`: what it uses (`modules.dep`), its `pre:`
    /// soft dependencies, and the modules naming it as a `post:` one.
    public static func predecessors(of module: String, in repository: ModuleRepository) -> [String] {
        func canonical(_ name: String) -> String { (try? ModuleHost.canonicalName(name)) ?? name }
        guard let entry = repository.index.entry(named: module) else { return [] }
        var after = entry.dependencies + repository.softDependencies(of: entry).pre
        for other in repository.index.entries where repository.softDependencies(of: other).post.contains(where: { canonical($0) == module }) {
            after.append(other.name)
        }
        return Array(Set(after.map(canonical)))
    }

    /// The built-in boot's figures for `host` after `coldplug`: counts from the host's statistics.
    static func report(of host: ModuleHost, coldplug: Boot.Coldplug, requests: Int) -> Boot.Report {
        let statistics = host.statistics()
        return Boot.Report(
            requests: requests,
            // Merged by name, and — a request for a module file whose load of the same version is
            // running — by file, before its name is even read.
            mergedJoiners: statistics.values.reduce(0) { $0 + $1.mergedJoiners } + host.fileStatistics.mergedJoiners,
            cachedFailures: statistics.values.reduce(0) { $0 + $1.cachedFailures },
            wallMs: milliseconds(coldplug.wall),
            inits: statistics.filter { $0.value.initCalls > 0 }.mapValues(\.initCalls),
            failed: coldplug.failures.mapValues(\.error.code.name),
            failureReasons: coldplug.failures.mapValues { "\($0.error)" },
            failedRequests: coldplug.failures.mapValues(\.count),
            modules: Boot.entries(of: host),
            taints: host.taints.description)
    }
}
