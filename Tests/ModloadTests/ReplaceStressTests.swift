#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Modload

/// Live replace and all-or-nothing sets on real threads: callers acquire and call a module in a
/// loop — counting and noncounting — while another thread replaces it again and again; threads
/// load overlapping sets at once, some bound to fail. CI also runs this suite under
/// ThreadSanitizer and AddressSanitizer.
@Suite("Replace and set stress on real threads", .serialized)
struct ReplaceStressTests {
    static let replaces = 50 * Stress.scale

    /// Every call lands on exactly one generation and never on one whose exit ran; no acquire
    /// fails; every old generation drains and goes exactly once, in event order.
    @Test(.timeLimit(.minutes(5)), arguments: [ModuleAccounting.counting, .noncounting])
    func callersKeepWorkingAcrossFiftyReplaces(accounting: ModuleAccounting) async throws {
        let host = try ModuleHost(configuration: .testing())
        let violations = Stress.Violations()
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        let generations = (1...Self.replaces + 1).map { ReplaceTests.Service(generation: $0, accounting: accounting) }
        try await host.insert(generations[0])
        let callers = 3
        let done = Atomic<Bool>(false)
        let calls = Atomic<Int>(0)
        await onThreads(callers + 1) { thread in
            if thread == callers {
                // The replacer: each drain waits for the callers' references (they are short).
                for next in generations.dropFirst() {
                    let outcome = blocking("replace to generation \(next.generation)") { () -> Result<ModuleHost.ReplaceOutcome, ModuleError> in
                        do throws(ModuleError) {
                            return .success(try await host.replace("svc", with: next, options: .init(drainTimeout: .seconds(30))))
                        } catch {
                            return .failure(error)
                        }
                    }
                    switch outcome {
                    case .success(let outcome):
                        if case .old(let holders) = outcome.previous { violations.add("generation \(outcome.previousGeneration) did not drain: \(holders.summary)") }
                    case .failure(let error):
                        violations.add("replace to \(next.generation) failed: \(error)")
                    }
                }
                done.store(true, ordering: .releasing)
                return
            }
            var seen = 0
            while !done.load(ordering: .acquiring) {
                do throws(ModuleError) {
                    let generation: Int
                    if accounting == .counting {
                        let ref = try host.acquire("svc")
                        guard let service = ref.definition(as: ReplaceTests.Service.self) else {
                            violations.add("reference on something that is not the service")
                            return
                        }
                        if !service.call() { violations.add("a call landed on generation \(service.generation) after its exit") }
                        generation = service.generation
                    } else {
                        generation = try host.withModule("svc", as: ReplaceTests.Service.self) { (service) throws(ModuleError) in
                            if !service.call() { violations.add("a call landed on generation \(service.generation) after its exit") }
                            return service.generation
                        }
                    }
                    // Generations only move forward for one caller.
                    if generation < seen { violations.add("caller \(thread) went back from generation \(seen) to \(generation)") }
                    seen = generation
                    calls.add(1, ordering: .relaxed)
                } catch {
                    violations.add("a call failed: \(error)")
                    return
                }
            }
        }
        #expect(violations.all.isEmpty, "\(violations.all)")
        // Every call landed on exactly one generation: the per-generation counts add up.
        #expect(generations.map(\.callCount).reduce(0, +) == calls.load(ordering: .acquiring))
        #expect(await eventually { host.modules.count == 1 })
        #expect(generations.dropLast().allSatisfy { $0.hasExited })
        #expect(!generations.last!.hasExited)
        #expect(host.info(of: "svc")?.generation == Self.replaces + 1)
        // Per generation, the events came in lifecycle order.
        var order: [Int: [String]] = [:]
        for event in log.all { if let generation = event.generation { order[generation, default: []].append(event.kind.rawValue) } }
        for generation in 2...Self.replaces {
            #expect(order[generation] == ["coming", "live", "old", "going", "gone"], "generation \(generation)")
        }
    }

    /// Overlapping sets loaded at once from threads, some with a member whose init fails: after
    /// each round the live modules are exactly the members of the sets that succeeded; no name
    /// is ever up twice at once, no exit runs without an init, events stay in lifecycle order.
    @Test(.timeLimit(.minutes(5)))
    func overlappingSetsFromThreadsAreAllOrNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let violations = Stress.Violations()
        let checker = Stress.LifecycleChecker(violations: violations)
        host.addObserver(named: "lifecycle-checker") { checker.observe($0) }
        let names = ["sa", "sb", "sc", "sd", "se", "broken"]
        let occupancy = Dictionary(uniqueKeysWithValues: names.map { ($0, Stress.Occupancy()) })
        let threads = 4
        for round in 0..<(20 * Stress.scale) {
            let succeeded = Locked(Set<String>())
            // Instances an outside thread got a reference on, and those of sets that failed: a
            // member of a failed set must never have been reachable. (Kept alive until the round
            // ends, so no identifier is reused by a later instance.)
            let acquired = Locked([ObjectIdentifier: Stress.Module]())
            let failed = Locked([ObjectIdentifier: Stress.Module]())
            let finished = Atomic<Int>(0)
            await onThreads(threads + 1) { thread in
                if thread == threads {
                    while finished.load(ordering: .acquiring) < threads {
                        for name in names {
                            guard let ref = try? host.acquire(name), let module = ref.definition(as: Stress.Module.self) else { continue }
                            acquired.withLock { $0[ObjectIdentifier(module)] = module }
                        }
                    }
                    return
                }
                defer { finished.add(1, ordering: .releasing) }
                var generator = SystemRandomNumberGenerator()
                let picked = Array(names.shuffled(using: &generator).prefix(Int.random(in: 2...3, using: &generator)))
                let members = picked.map {
                    ModuleSetMember.definition(
                        // A failing instance holds its occupancy for good: it gets one of its own.
                        Stress.Module(
                            name: $0, fails: $0 == "broken", occupancy: $0 == "broken" ? Stress.Occupancy() : occupancy[$0]!,
                            violations: violations))
                }
                let result = blocking("set \(picked) in round \(round)") { () -> Result<SetOutcome, ModuleError> in
                    do throws(ModuleError) {
                        return .success(try await host.load(members, mode: .allOrNothing))
                    } catch {
                        return .failure(error)
                    }
                }
                switch result {
                case .success(let outcome):
                    if picked.contains("broken") { violations.add("a set with the broken member succeeded: \(picked)") }
                    if Set(outcome.members.map(\.module)) != Set(picked) { violations.add("set \(picked) answered \(outcome.members.map(\.module))") }
                    succeeded.withLock { $0.formUnion(picked) }
                case .failure(let error):
                    if error.code != .initFailed && error.code != .noDevice { violations.add("set \(picked) failed with \(error)") }
                    for member in members {
                        guard case .definition(let definition) = member.source, let module = definition as? Stress.Module else { continue }
                        failed.withLock { $0[ObjectIdentifier(module)] = module }
                    }
                }
            }
            let reached = Set(acquired.withLock { $0.keys }).intersection(failed.withLock { $0.keys })
            if !reached.isEmpty { violations.add("round \(round): \(reached.count) members of failed sets were acquired from outside") }
            let live = Set(host.modules.filter { $0.state == .live }.map(\.name))
            let expected = succeeded.withLock { $0 }
            if live != expected { violations.add("round \(round): live \(live.sorted()), but the sets that succeeded hold \(expected.sorted())") }
            if host.modules.contains(where: { $0.state != .live }) { violations.add("round \(round): \(host.modules.map { "\($0.name) \($0.state)" })") }
            for name in live { _ = try? await host.unload(name) }
            #expect(host.modules.isEmpty)
        }
        #expect(violations.all.isEmpty, "\(violations.all)")
    }
}
