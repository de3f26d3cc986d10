import Modload

/// The catalog of built-in modules `modload boot` brings up: a machine whose CPU frequency is
/// already driven by `intel_pstate`, so that `acpi_cpufreq` and `pcc_cpufreq` — requested by udev
/// once per CPU and device — fail in init with "no device" (seed 002), plus ordinary drivers that
/// load fine.
public struct DemoSystem: Sendable {
    /// The cpufreq driver slot the three frequency drivers compete for.
    public let cpufreq: CpufreqCore
    /// Every module of the system, by canonical name.
    public let catalog: [String: DemoModule]

    /// The modules whose init fails at boot because `intel_pstate` is already registered.
    public static let contendedCpufreqDrivers = ["acpi_cpufreq", "pcc_cpufreq"]

    /// Builds the catalog; every module's init takes `initDelay`.
    public init(initDelay: Duration) {
        let cpufreq = CpufreqCore(drivers: ["intel_pstate", "acpi_cpufreq", "pcc_cpufreq"])
        self.cpufreq = cpufreq
        let modules = [
            DemoModule(
                name: "intel_pstate", description: "Intel P-state CPU frequency driver", size: 45_056,
                role: .cpufreqDriver(cpufreq), initDelay: initDelay),
            DemoModule(
                name: "acpi_cpufreq", description: "ACPI processor P-states frequency driver", size: 32_768,
                role: .cpufreqDriver(cpufreq), initDelay: initDelay),
            DemoModule(
                name: "pcc_cpufreq", description: "Processor Clocking Control frequency driver", size: 20_480,
                role: .cpufreqDriver(cpufreq), initDelay: initDelay),
            DemoModule(name: "nvme", description: "NVM Express block device driver", size: 53_248, role: .driver, initDelay: initDelay),
            DemoModule(name: "e1000e", description: "Intel PRO/1000 network driver", size: 315_392, role: .driver, initDelay: initDelay),
            DemoModule(name: "xhci_hcd", description: "USB 3 host controller driver", size: 331_776, role: .driver, initDelay: initDelay),
            DemoModule(name: "ahci", description: "AHCI SATA low-level driver", size: 49_152, role: .driver, initDelay: initDelay),
            DemoModule(name: "snd_hda_intel", description: "Intel HD Audio driver", size: 61_440, role: .driver, initDelay: initDelay),
            DemoModule(name: "i2c_i801", description: "Intel 82801 SMBus driver", size: 36_864, role: .driver, initDelay: initDelay),
        ]
        catalog = Dictionary(uniqueKeysWithValues: modules.map { ($0.name, $0) })
    }

    /// The requests udev makes during coldplug: per CPU one `pcc_cpufreq` and two `acpi_cpufreq`
    /// (seed 002's 288 + 576 on a 288-CPU machine), and one request per device for ordinary
    /// drivers (4 NVMe namespaces, 2 NICs, 2 USB controllers, one each of the rest).
    public func coldplugRequests(cpus: Int) -> [String] {
        var requests: [String] = []
        requests.reserveCapacity(cpus * 3 + 10)
        for _ in 0..<cpus {
            requests.append("pcc_cpufreq")
            requests.append("acpi_cpufreq")
            requests.append("acpi_cpufreq")
        }
        let devices = ["nvme": 4, "e1000e": 2, "xhci_hcd": 2, "ahci": 1, "snd_hda_intel": 1, "i2c_i801": 1]
        for (module, count) in devices.sorted(by: { $0.key < $1.key }) {
            requests.append(contentsOf: repeatElement(module, count: count))
        }
        return requests
    }
}
