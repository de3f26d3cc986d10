import Modload

/// The catalog of built-in modules `modload boot` brings up: a machine whose CPU frequency is
/// already driven by `intel_pstate`, so that `acpi_cpufreq` and `pcc_cpufreq` — requested by udev
/// once per CPU and device — fail in init with "no device" (the 288-CPU boot, docs/design.md §1);
/// devices that udev asks for by modalias; and dependency chains a request resolves: `ext4` needs
/// `jbd2` (which needs `crc32c_generic`), `mbcache` and `crc32c_generic`; `e1000e` needs the `ptp`
/// clock.
public struct DemoSystem: Sendable {
    /// The cpufreq driver slot the three frequency drivers compete for.
    public let cpufreq: CpufreqCore
    /// Every module of the system, by canonical name.
    public let catalog: [String: DemoModule]
    /// The resolver over the catalog (names, aliases, symbols).
    public let resolver: ModuleCatalog

    /// The modules whose init fails at boot because `intel_pstate` is already registered.
    public static let contendedCpufreqDrivers = ["acpi_cpufreq", "pcc_cpufreq"]

    /// Builds the catalog; every module's init takes `initDelay`.
    public init(initDelay: Duration) {
        let cpufreq = CpufreqCore(drivers: ["intel_pstate", "acpi_cpufreq", "pcc_cpufreq"])
        self.cpufreq = cpufreq
        let d = initDelay
        let modules = [
            DemoModule(
                name: "intel_pstate", description: "Intel P-state CPU frequency driver", size: 45_056,
                role: .cpufreqDriver(cpufreq), initDelay: d),
            DemoModule(
                name: "acpi_cpufreq", description: "ACPI processor P-states frequency driver", size: 32_768,
                role: .cpufreqDriver(cpufreq), aliases: ["acpi*:ACPI0007:*"], initDelay: d),
            DemoModule(
                name: "pcc_cpufreq", description: "Processor Clocking Control frequency driver", size: 20_480,
                role: .cpufreqDriver(cpufreq), aliases: ["acpi*:LNXCPU:*"], initDelay: d),
            DemoModule(
                name: "nvme", description: "NVM Express block device driver", size: 53_248,
                aliases: ["pci:v*d*sv*sd*bc01sc08i02*"], initDelay: d),
            DemoModule(
                name: "e1000e", description: "Intel PRO/1000 network driver", size: 315_392,
                aliases: ["pci:v00008086d000015B8sv*sd*bc*sc*i*"], imports: ["ptp_clock_register"], initDelay: d),
            DemoModule(
                name: "ptp", description: "PTP hardware clock support", size: 24_576,
                exports: ["ptp_clock_register"], initDelay: d),
            DemoModule(
                name: "xhci_hcd", description: "USB 3 host controller driver", size: 331_776,
                aliases: ["pci:v*d*sv*sd*bc0Csc03i30*"], initDelay: d),
            DemoModule(
                name: "ahci", description: "AHCI SATA low-level driver", size: 49_152,
                aliases: ["pci:v*d*sv*sd*bc01sc06i01*"], initDelay: d),
            DemoModule(
                name: "snd_hda_intel", description: "Intel HD Audio driver", size: 61_440,
                aliases: ["pci:v00008086d0000A348sv*sd*bc*sc*i*"], initDelay: d),
            DemoModule(
                name: "i2c_i801", description: "Intel 82801 SMBus driver", size: 36_864,
                aliases: ["pci:v00008086d0000A323sv*sd*bc*sc*i*"], initDelay: d),
            DemoModule(
                name: "ext4", description: "Fourth Extended Filesystem", size: 1_003_520,
                aliases: ["fs-ext4"], imports: ["jbd2_journal_start", "crc32c", "mb_cache_create"], initDelay: d),
            DemoModule(
                name: "jbd2", description: "Journalling block device", size: 196_608,
                exports: ["jbd2_journal_start"], imports: ["crc32c"], initDelay: d),
            DemoModule(
                name: "mbcache", description: "Metadata block cache", size: 16_384,
                exports: ["mb_cache_create"], initDelay: d),
            DemoModule(
                name: "crc32c_generic", description: "CRC32c checksum", size: 12_288,
                exports: ["crc32c"], initDelay: d),
        ]
        catalog = Dictionary(uniqueKeysWithValues: modules.map { ($0.name, $0) })
        resolver = try! ModuleCatalog(modules)  // the catalog above is well-formed by construction
    }

    /// The requests udev makes during coldplug: per CPU one `pcc_cpufreq` and two `acpi_cpufreq`
    /// (the 288-CPU boot's 288 + 576), one modalias per device for the rest (4 NVMe
    /// namespaces, 2 NICs, 2 USB controllers, one each of the others), and the mount of the root
    /// filesystem.
    public func coldplugRequests(cpus: Int) -> [String] {
        var requests: [String] = []
        requests.reserveCapacity(cpus * 3 + 12)
        for _ in 0..<cpus {
            requests.append("pcc_cpufreq")
            requests.append("acpi_cpufreq")
            requests.append("acpi_cpufreq")
        }
        let devices = [
            ("pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02", 4),  // NVMe namespaces
            ("pci:v00008086d000015B8sv00008086sd00002068bc02sc00i00", 2),  // Intel NICs
            ("pci:v00008086d0000A36Dsv00008086sd00007270bc0Csc03i30", 2),  // USB 3 controllers
            ("pci:v00008086d0000A352sv00008086sd00007270bc01sc06i01", 1),  // SATA controller
            ("pci:v00008086d0000A348sv00008086sd00007270bc04sc03i00", 1),  // HD Audio
            ("pci:v00008086d0000A323sv00008086sd00007270bc0Csc05i00", 1),  // SMBus
        ]
        for (alias, count) in devices { requests.append(contentsOf: repeatElement(alias, count: count)) }
        requests.append("fs-ext4")  // mounting the root filesystem
        return requests
    }
}
