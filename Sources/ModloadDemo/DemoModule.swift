import Modload
import Synchronization

/// A built-in module of the demo system. Its init takes `initDelay` (standing for the work a real
/// driver does: reading firmware tables, probing hardware) and then does what its role says. It
/// counts its own init and exit calls, so a report can check the host's claims against what the
/// modules saw.
public final class DemoModule: ModuleDefinition {
    /// What the module does when it initializes.
    public enum Role: Sendable {
        /// Loads fine.
        case driver
        /// A CPU frequency driver: registers itself as *the* cpufreq driver, and fails with
        /// `noDevice` if another one is already registered (as acpi_cpufreq and pcc_cpufreq do
        /// when intel_pstate is active).
        case cpufreqDriver(CpufreqCore)
    }

    public let name: String
    public let version: String
    public let description: String
    public let license = "GPL"
    public let size: Int
    public let aliases: [String]
    public let exports: [ExportedSymbol]
    public let imports: [ImportedSymbol]
    let role: Role
    let initDelay: Duration

    private let initCount = Atomic<Int>(0)
    private let exitCount = Atomic<Int>(0)

    /// Makes a demo module.
    public init(
        name: String, version: String = "1.0", description: String, size: Int, role: Role = .driver,
        aliases: [String] = [], exports: [String] = [], imports: [String] = [], initDelay: Duration
    ) {
        self.name = name
        self.version = version
        self.description = description
        self.size = size
        self.role = role
        self.aliases = aliases
        // Demo symbols are service handles: a number standing for the function table behind them.
        self.exports = exports.enumerated().map { ExportedSymbol($1, $0 + 1) }
        self.imports = imports.map { ImportedSymbol($0, as: Int.self) }
        self.initDelay = initDelay
    }

    /// How many times the host ran this module's init.
    public var initCalls: Int { initCount.load(ordering: .relaxed) }
    /// How many times the host ran this module's exit.
    public var exitCalls: Int { exitCount.load(ordering: .relaxed) }

    public func initialize(_ context: ModuleContext) async throws {
        initCount.add(1, ordering: .relaxed)
        if initDelay > .zero { try await Task.sleep(for: initDelay) }
        if case .cpufreqDriver(let core) = role {
            try core.register(context.name)
        }
    }

    public func exit(_ context: ModuleContext) async {
        exitCount.add(1, ordering: .relaxed)
        if case .cpufreqDriver(let core) = role {
            core.unregister(context.name)
        }
    }
}

/// The single cpufreq driver slot, exclusive like the kernel's `cpufreq_register_driver`.
public final class CpufreqCore: Sendable {
    private let drivers: [String]
    /// Index + 1 into `drivers` of the registered driver; 0 when none.
    private let active = Atomic<Int>(0)

    /// Makes a slot that knows the given driver names.
    public init(drivers: [String]) { self.drivers = drivers }

    /// The registered driver, if any.
    public var activeDriver: String? {
        let index = active.load(ordering: .acquiring)
        return index == 0 ? nil : drivers[index - 1]
    }

    func register(_ name: String) throws {
        guard let index = drivers.firstIndex(of: name) else {
            throw ModuleError(.invalidArgument, reason: "\(name) is not a known cpufreq driver")
        }
        let (registered, current) = active.compareExchange(
            expected: 0, desired: index + 1, ordering: .acquiringAndReleasing)
        if !registered {
            throw ModuleError(
                .noDevice, reason: "no device: \(drivers[current - 1]) is already the cpufreq driver")
        }
    }

    func unregister(_ name: String) {
        guard let index = drivers.firstIndex(of: name) else { return }
        _ = active.compareExchange(expected: index + 1, desired: 0, ordering: .acquiringAndReleasing)
    }
}
