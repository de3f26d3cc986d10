#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Modload

/// The harness the stress suites share: modules that check from inside that at most one instance
/// of a name is loaded at a time, a record of violations, outcome tallies, and the final checks
/// that tie what callers were told to what the host counted.
enum Stress {
    /// Multiplies every stress loop; CI raises it (`MODLOAD_STRESS_SCALE`) for the sanitizer runs.
    static let scale = max(1, getenv("MODLOAD_STRESS_SCALE").flatMap { Int(String(cString: $0)) } ?? 1)

    /// Set by CI for the sanitizer runs (`thread` or `address`): long loops that measure nothing
    /// about concurrency run shorter there.
    static let sanitizer: String? = getenv("MODLOAD_SANITIZER").map { String(cString: $0) }

    /// A module that checks, from inside, that at most one instance of its name is ever between
    /// init and the end of its life (the end of exit, or the host's report that its load failed),
    /// and counts its own calls.
    final class Module: ModuleDefinition {
        let name: String
        let fails: Bool
        let occupancy: Occupancy
        let violations: Violations
        private let inits = Atomic<Int>(0)
        private let exits = Atomic<Int>(0)
        private let succeeded = Atomic<Bool>(false)

        init(name: String, fails: Bool, occupancy: Occupancy, violations: Violations) {
            self.name = name
            self.fails = fails
            self.occupancy = occupancy
            self.violations = violations
        }

        var initCalls: Int { inits.load(ordering: .acquiring) }
        var exitCalls: Int { exits.load(ordering: .acquiring) }
        var initSucceeded: Bool { succeeded.load(ordering: .acquiring) }

        func initialize(_ context: ModuleContext) async throws {
            if inits.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue > 1 {
                violations.add("\(name): init ran twice on one instance")
            }
            if occupancy.count.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue > 1 {
                violations.add("\(name): two instances between init and exit at once")
            }
            for _ in 0..<Int.random(in: 0...3) { await Task.yield() }
            // A failing instance occupies the name until the host reports the failure
            // (``Run/observe(_:)``), not just until it throws.
            if fails { throw ModuleError(.noDevice, reason: "stress failure") }
            succeeded.store(true, ordering: .releasing)
        }

        func exit(_ context: ModuleContext) async {
            if exits.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue > 1 {
                violations.add("\(name): exit ran twice")
            }
            if !initSucceeded { violations.add("\(name): exit without a successful init") }
            await Task.yield()
            occupancy.count.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        }
    }

    /// How many instances of one name are between init and the end of their life.
    final class Occupancy: Sendable {
        let count = Atomic<Int>(0)
    }

    /// What went wrong, in words (the first 50).
    final class Violations: Sendable {
        private let list = Locked([String]())
        func add(_ text: String) { list.withLock { if $0.count < 50 { $0.append(text) } } }
        var all: [String] { list.withLock { $0 } }
    }

    /// Shared state of one stress run on one host.
    final class Run: Sendable {
        let host: ModuleHost
        let names = ["alpha", "beta", "gamma"]
        let occupancy: [String: Occupancy]
        let violations = Violations()
        let created = Locked([Module]())
        let loadCalls = Atomic<Int>(0)
        /// The most references one caller (thread) holds at once, times the callers: a count
        /// above it is an underflowed or corrupted count.
        let maximumReferences: Int

        init(host: ModuleHost, callers: Int) {
            self.host = host
            self.maximumReferences = callers
            occupancy = Dictionary(uniqueKeysWithValues: names.map { ($0, Occupancy()) })
            host.addObserver(named: "stress-occupancy") { [occupancy] event in
                // The host reports a failed load after its record is gone from every lookup path
                // but before the name is free: the failing instance's occupancy ends here.
                if event.kind == .loadFailed, event.error?.code == .initFailed {
                    occupancy[event.module]?.count.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                }
            }
        }

        func newModule(_ name: String) -> Module {
            let module = Module(
                name: name, fails: Int.random(in: 0..<5) == 0, occupancy: occupancy[name]!, violations: violations)
            created.withLock { $0.append(module) }
            return module
        }

        /// How each operation ended ("insert exists", "ensureLoaded loaded", …), counted where the
        /// answer is delivered: to prove the run reached the paths it stresses, and to tie the
        /// answers to the host's own counters in ``finish()``.
        let outcomes = Locked([String: Int]())

        func tally(_ operation: String, _ result: String, _ error: ModuleError?, allowed: Set<String>) {
            outcomes.withLock { $0["\(operation) \(error?.code.name ?? result)", default: 0] += 1 }
            if let error, !allowed.contains(error.code.name) {
                violations.add("\(operation): unexpected \(error)")
            }
        }

        func count(_ path: String) -> Int { outcomes.withLock { $0[path, default: 0] } }

        /// A held reference must point at a module whose exit has not run. It may see `going`
        /// (a drain is waiting for it), and `gone` only if it was taken while the module was
        /// coming and that init then failed.
        func checkHeld(_ ref: borrowing ModuleReference) {
            guard let module = ref.definition(as: Module.self) else { return }
            if module.exitCalls != 0 { violations.add("\(ref.name): reference held across exit") }
            let state = ref.state
            if state == .gone && module.initSucceeded {
                violations.add("\(ref.name): reference sees gone after a successful init")
            }
            if state == .unformed { violations.add("\(ref.name): reference to an unformed module") }
        }

        /// A listing must show no unformed module and no count that cannot be: below −1, −1 on a
        /// live module no unload has begun on (frozen without an unload: a lost base), or above
        /// the references the callers can hold (an underflow reads as about 2^56).
        func checkListing() {
            for info in host.modules {
                let lostBase = info.refcount == -1 && info.state == .live && !info.isUnloading
                if info.refcount < -1 || lostBase || info.refcount > maximumReferences || info.state == .unformed {
                    violations.add("\(info.name): listed as \(info.state)\(info.isUnloading ? " (unloading)" : "") with refcount \(info.refcount)")
                }
            }
        }

        /// After all threads joined: unload what is left, then check every count.
        func finish() async {
            var finalUnloads = 0
            for info in host.modules {
                do throws(ModuleError) {
                    try await host.unload(info.name, mode: .failFast)
                    finalUnloads += 1
                } catch {
                    violations.add("final unload of \(info.name): \(error)")
                }
            }
            #expect(host.modules.isEmpty)
            let modules = created.withLock { $0 }
            let stats = host.statistics()
            for module in modules {
                if module.initCalls > 1 || module.exitCalls > 1 {
                    violations.add("\(module.name): init \(module.initCalls)×, exit \(module.exitCalls)×")
                }
                if module.initSucceeded != (module.exitCalls == 1) {
                    violations.add("\(module.name): init succeeded \(module.initSucceeded), exit \(module.exitCalls)×")
                }
            }
            for name in names {
                let mine = modules.filter { $0.name == name }
                let s = stats[name] ?? ModuleStatistics()
                #expect(s.initCalls == mine.filter { $0.initCalls == 1 }.count, "\(name) init calls")
                #expect(s.loads == mine.filter(\.initSucceeded).count, "\(name) loads")
                #expect(s.unloads == mine.filter { $0.exitCalls == 1 }.count, "\(name) unloads")
                #expect((s.failures["initFailed"] ?? 0) == mine.filter { $0.initCalls == 1 && !$0.initSucceeded }.count)
                #expect(s.referenceUnderflows == 0, "\(name): a release without an acquire")
                #expect(occupancy[name]!.count.load(ordering: .acquiring) == 0)
            }
            // What callers were told agrees with what the host counted: every load that ran an
            // init was answered `loaded` to exactly one caller, every unload `ok` to one.
            let loads = stats.values.map(\.loads).reduce(0, +)
            let unloads = stats.values.map(\.unloads).reduce(0, +)
            #expect(count("insert loaded") + count("ensureLoaded loaded") == loads)
            #expect(count("unload ok") + count("drain ok") + count("force ok") + finalUnloads == unloads)
            #expect(stats.values.map(\.attempts).reduce(0, +) == loadCalls.load(ordering: .acquiring))
            #expect(violations.all == [])
        }
    }

    /// Checks, per name, that transition events form a legal lifecycle: coming → live → going →
    /// gone, coming → going → gone → loadFailed, and a new `coming` only after the previous
    /// incarnation's `gone`. (A refused unload emits no transition at all.)
    final class LifecycleChecker: Sendable {
        private let last = Locked([String: ModuleEvent.Kind]())
        private let violations: Violations

        init(violations: Violations) { self.violations = violations }

        func observe(_ event: ModuleEvent) {
            let allowedAfter: [ModuleEvent.Kind: Set<ModuleEvent.Kind?>] = [
                .coming: [nil, .gone, .loadFailed],
                .live: [.coming],
                .going: [.coming, .live],
                .gone: [.going],
                // A load that failed before formation was never visible: only `loadFailed`.
                .loadFailed: [nil, .gone, .loadFailed],
            ]
            guard let allowed = allowedAfter[event.kind] else { return }  // attempt events
            last.withLock { last in
                let previous = last[event.module]
                if !allowed.contains(previous) {
                    violations.add("\(event.module): \(event.kind) after \(previous.map(\.rawValue) ?? "nothing")")
                }
                last[event.module] = event.kind
            }
        }
    }
}
