#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import Modload

/// Stress on real threads ("concurrency is proven, not hoped"). Plain POSIX threads make
/// random calls — async ones block their thread while the work runs on the concurrency pool —
/// and invariants are checked throughout and at the end. CI also runs this suite under
/// `--sanitize=thread`.
@Suite("Stress on real threads", .serialized)
struct StressTests {
    static var scale: Int { Stress.scale }
    typealias Violations = Stress.Violations

    /// One answer of a blocking load: the outcome's `how`, or the error.
    static func loadAnswer(_ body: @escaping @Sendable () async throws(ModuleError) -> LoadOutcome) -> (String, ModuleError?) {
        blocking("a load") { () -> (String, ModuleError?) in
            do throws(ModuleError) { return (try await body().how.rawValue, nil) } catch { return ("", error) }
        }
    }

    /// One answer of a blocking unload.
    static func unloadAnswer(
        _ host: ModuleHost, _ name: String, _ mode: ModuleHost.UnloadMode
    ) -> (outcome: ModuleHost.UnloadOutcome?, error: ModuleError?) {
        blocking("unload \(name) (\(mode))") { () -> (ModuleHost.UnloadOutcome?, ModuleError?) in
            do throws(ModuleError) { return (try await host.unload(name, mode: mode), nil) } catch { return (nil, error) }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func randomOperationsKeepEveryInvariant() async throws {
        let threads = 8
        let run = Stress.Run(host: try ModuleHost(configuration: .testing(tracksReferenceHolders: true)), callers: threads)
        let checker = Stress.LifecycleChecker(violations: run.violations)
        run.host.addObserver(named: "lifecycle-checker") { checker.observe($0) }
        let operations = 2_000 * Self.scale
        await onThreads(threads) { thread in
            let host = run.host
            var held: ModuleReference? = nil
            for _ in 0..<operations {
                let name = run.names.randomElement()!
                switch Int.random(in: 0..<100) {
                case 0..<20:
                    let module = run.newModule(name)
                    run.loadCalls.add(1, ordering: .relaxed)
                    let (how, error) = Self.loadAnswer { () throws(ModuleError) in try await host.insert(module) }
                    run.tally("insert", how, error, allowed: ["exists", "busy", "initFailed"])
                case 20..<35:
                    let module = run.newModule(name)
                    run.loadCalls.add(1, ordering: .relaxed)
                    let (how, error) = Self.loadAnswer { () throws(ModuleError) in try await host.ensureLoaded(module) }
                    run.tally("ensureLoaded", how, error, allowed: ["busy", "initFailed"])
                case 35..<60:
                    do throws(ModuleError) {
                        let ref = try host.acquire(name, holder: "thread-\(thread)")
                        run.checkHeld(ref)
                        if let old = held.take() { old.release() }  // at most one held per thread
                        held = consume ref
                        run.tally("acquire", "ok", nil, allowed: [])
                    } catch {
                        run.tally("acquire", "", error, allowed: ["notFound", "busy"])
                    }
                case 60..<72:
                    if let ref = held.take() {
                        run.checkHeld(ref)
                        ref.release()
                    }
                case 72..<87:
                    let (_, error) = Self.unloadAnswer(host, name, .failFast)
                    run.tally("unload", "ok", error, allowed: ["notFound", "busy", "wouldBlock"])
                case 87..<92:
                    let (_, error) = Self.unloadAnswer(host, name, .drain(timeout: .microseconds(Int64.random(in: 50...2000))))
                    run.tally("drain", "ok", error, allowed: ["notFound", "busy", "timedOut"])
                default:
                    run.checkListing()
                    _ = host.listing()
                    if let report = try? host.holders(of: name), report.references < 0 || report.references > threads {
                        run.violations.add("\(name): \(report.references) references in the holders report")
                    }
                }
            }
            if let ref = held.take() { ref.release() }
        }
        // The run must have reached every path it exists to stress (each happens thousands of
        // times in a normal run; zero means the test has stopped testing).
        for path in [
            "insert loaded", "insert exists", "insert busy", "ensureLoaded loaded", "ensureLoaded alreadyLive",
            "ensureLoaded initFailed", "acquire ok", "unload ok", "unload wouldBlock", "drain ok", "drain timedOut",
        ] {
            #expect(run.count(path) > 0, "never reached: \(path)")
        }
        #expect(run.host.statistics().values.map(\.mergedJoiners).reduce(0, +) > 0)
        await run.finish()
        #expect(run.host.taints.isEmpty)
    }

    @Test(.timeLimit(.minutes(5)))
    func forcedUnloadsNeverBreakReferences() async throws {
        // Force may take a module from under its holders. What must still hold: every answer is
        // one the API allows; a reference a forced unload overrode stays valid memory and says
        // `gone`, its module's exit ran exactly once, and releasing it frees the record (no
        // underflow); the host is tainted exactly when references were overridden — and the
        // run must actually have overridden some, or it tested nothing.
        let threads = 6
        let run = Stress.Run(host: try ModuleHost(configuration: .testing()), callers: threads)
        let overridden = Atomic<Int>(0)
        let releasedAfterForce = Atomic<Int>(0)
        await onThreads(threads) { _ in
            let host = run.host
            var held: ModuleReference? = nil
            for _ in 0..<400 * Self.scale {
                let name = run.names.randomElement()!
                switch Int.random(in: 0..<10) {
                case 0..<3:
                    let module = run.newModule(name)
                    run.loadCalls.add(1, ordering: .relaxed)
                    let (how, error) = Self.loadAnswer { () throws(ModuleError) in try await host.ensureLoaded(module) }
                    run.tally("ensureLoaded", how, error, allowed: ["busy", "initFailed"])
                case 3..<6:
                    do throws(ModuleError) {
                        let ref = try host.acquire(name)
                        if let old = held.take() { old.release() }
                        held = consume ref
                        run.tally("acquire", "ok", nil, allowed: [])
                    } catch {
                        run.tally("acquire", "", error, allowed: ["notFound", "busy"])
                    }
                case 6..<8:
                    if let ref = held.take() {
                        if ref.state == .gone, let module = ref.definition(as: Stress.Module.self) {
                            // Taken from under us by force (or taken while coming, init failed).
                            if module.initSucceeded {
                                if module.exitCalls != 1 { run.violations.add("\(name): gone, exit ran \(module.exitCalls)×") }
                                releasedAfterForce.add(1, ordering: .relaxed)
                            }
                        }
                        ref.release()
                    }
                default:
                    let (outcome, error) = Self.unloadAnswer(host, name, .force)
                    run.tally("force", "ok", error, allowed: ["notFound", "busy"])
                    overridden.add(outcome?.overriddenReferences ?? 0, ordering: .relaxed)
                }
            }
            if let ref = held.take() { ref.release() }
        }
        #expect(overridden.load(ordering: .relaxed) > 0, "no forced unload ever overrode a reference")
        #expect(releasedAfterForce.load(ordering: .relaxed) > 0, "no overridden reference was ever released")
        for path in ["ensureLoaded loaded", "acquire ok", "force ok"] {
            #expect(run.count(path) > 0, "never reached: \(path)")
        }
        await run.finish()
        #expect(run.host.taints.contains(.forcedUnload))
    }

    @Test(.timeLimit(.minutes(5)))
    func simultaneousInsertsFromThreadsMergeEveryRound() async throws {
        // The kmod selftest on real threads: each round, every thread inserts the same name at
        // once. Exactly one init per round; one caller gets the result, the rest exists/busy —
        // and in failing rounds, where late callers may start a fresh load after the failure,
        // never two inits at the same time.
        let host = try ModuleHost(configuration: .testing())
        let threads = 8
        let rounds = 150 * Self.scale
        let violations = Violations()
        let inInit = Atomic<Int>(0)
        let overlapping: @Sendable (ModuleContext) async -> Void = { _ in
            if inInit.add(1, ordering: .acquiringAndReleasing).newValue > 1 {
                violations.add("two inits of selftest at once")
            }
            for _ in 0..<3 { await Task.yield() }
            inInit.subtract(1, ordering: .acquiringAndReleasing)
        }
        for round in 0..<rounds {
            let fails = round % 3 == 0
            let modules = (0..<threads).map { _ in TestModule("selftest", failure: fails ? noDevice : nil, onInit: overlapping) }
            let arrived = Atomic<Int>(0)
            let codes = Locked([String]())
            await onThreads(threads) { index in
                arrived.add(1, ordering: .acquiringAndReleasing)
                while arrived.load(ordering: .acquiring) < threads { sched_yield() }
                let module = modules[index]
                let code = blocking("insert selftest, round \(round)") { () -> String in
                    do throws(ModuleError) { try await host.insert(module) } catch { return error.code.name }
                    return "ok"
                }
                codes.withLock { $0.append(code) }
            }
            let answers = codes.withLock { $0 }.sorted()
            let inits = modules.map(\.initCalls).reduce(0, +)
            // A caller that arrives after the outcome is decided starts a fresh load (after a
            // failure) or sees a live module: both allowed; what's forbidden is a concurrent
            // second init or a lost answer.
            if fails {
                if answers.filter({ $0 == "initFailed" }).count != inits {
                    violations.add("round \(round): \(inits) inits but answers \(answers)")
                }
                if !answers.allSatisfy({ $0 == "initFailed" || $0 == "busy" }) {
                    violations.add("round \(round): unexpected answers \(answers)")
                }
                if host.state(of: "selftest") != nil { violations.add("round \(round): failed module left behind") }
            } else {
                if inits != 1 || answers.filter({ $0 == "ok" }).count != 1
                    || answers.filter({ $0 == "exists" }).count != threads - 1
                {
                    violations.add("round \(round): \(inits) inits, answers \(answers)")
                }
                if Self.unloadAnswer(host, "selftest", .failFast).error != nil {
                    violations.add("round \(round): the module would not unload")
                }
            }
        }
        #expect(violations.all == [])
    }

    @Test(.timeLimit(.minutes(5)))
    func manyThreadsLoadAndUnloadAtOnceAsBlockingCalls() async throws {
        // The way a C caller or a daemon's connection threads call the host: 64 plain threads,
        // each blocked in its call, all released at the same instant every round, mixing loads,
        // requests and unloads of the same few names.
        let threads = 64
        let run = Stress.Run(host: try ModuleHost(configuration: .testing()), callers: threads)
        let checker = Stress.LifecycleChecker(violations: run.violations)
        run.host.addObserver(named: "lifecycle-checker") { checker.observe($0) }
        let rounds = 40 * Self.scale
        let arrived = Atomic<Int>(0)
        await onThreads(threads) { thread in
            let host = run.host
            for round in 0..<rounds {
                // Everyone waits for everyone, then all call at once.
                arrived.add(1, ordering: .acquiringAndReleasing)
                while arrived.load(ordering: .acquiring) < threads * (round + 1) { sched_yield() }
                let name = run.names[(thread + round) % run.names.count]
                switch (thread + round * 7) % 4 {
                case 0:
                    let module = run.newModule(name)
                    run.loadCalls.add(1, ordering: .relaxed)
                    let (how, error) = Self.loadAnswer { () throws(ModuleError) in try await host.insert(module) }
                    run.tally("insert", how, error, allowed: ["exists", "busy", "initFailed"])
                case 1:
                    let module = run.newModule(name)
                    run.loadCalls.add(1, ordering: .relaxed)
                    let (how, error) = Self.loadAnswer { () throws(ModuleError) in try await host.ensureLoaded(module) }
                    run.tally("ensureLoaded", how, error, allowed: ["busy", "initFailed"])
                case 2:
                    let (_, error) = Self.unloadAnswer(host, name, .failFast)
                    run.tally("unload", "ok", error, allowed: ["notFound", "busy", "wouldBlock"])
                default:
                    let (_, error) = Self.unloadAnswer(host, name, .drain(timeout: .milliseconds(1)))
                    run.tally("drain", "ok", error, allowed: ["notFound", "busy", "timedOut"])
                    run.checkListing()
                }
            }
        }
        for path in ["insert loaded", "insert exists", "ensureLoaded joined", "unload ok"] {
            #expect(run.count(path) > 0, "never reached: \(path)")
        }
        #expect(run.host.statistics().values.map(\.mergedJoiners).reduce(0, +) > 0)
        await run.finish()
    }

    /// A module for the reader/writer stress: counts its releases, poisons itself on exit.
    final class ChurnModule: ModuleDefinition {
        let name: String
        let accounting: ModuleAccounting
        private let dead = Atomic<Bool>(false)
        private let released: Counter

        init(name: String, accounting: ModuleAccounting, released: Counter) {
            self.name = name
            self.accounting = accounting
            self.released = released
        }

        var isDead: Bool { dead.load(ordering: .acquiring) }
        func initialize(_ context: ModuleContext) async throws {}
        func exit(_ context: ModuleContext) async { dead.store(true, ordering: .releasing) }
        deinit { released.add() }
    }

    @Test(.timeLimit(.minutes(5)))
    func readersNeverTouchWhatWritersTookAway() async throws {
        // Readers look modules up, list them, take references and call noncounting modules,
        // hundreds of thousands of times, while writers load and unload the same names. A call
        // or a held reference must never see a module whose exit ran; every definition is
        // released exactly once in the end. (Under ASan, touching released memory also aborts.)
        let host = try ModuleHost(configuration: .testing())
        let counting = ["c0", "c1", "c2"]
        let noncounting = ["n0", "n1", "n2"]
        let created = Counter()
        let released = Counter()
        let readerOps = Counter()
        let calls = Counter()
        let violations = Violations()
        let target = 300_000 * Self.scale
        let readers = 4
        await onThreads(readers + 2) { index in
            if index >= readers {
                // Writers: churn until the readers are done.
                while readerOps.count < target {
                    let isCounting = Bool.random()
                    let name = (isCounting ? counting : noncounting).randomElement()!
                    if Bool.random() {
                        created.add()
                        let module = ChurnModule(
                            name: name, accounting: isCounting ? .counting : .noncounting, released: released)
                        _ = blocking { (try? await host.ensureLoaded(module)) != nil }
                    } else {
                        let mode: ModuleHost.UnloadMode = Bool.random() ? .failFast : .drain(timeout: .microseconds(200))
                        _ = blocking { (try? await host.unload(name, mode: mode)) != nil }
                    }
                }
                return
            }
            while readerOps.count < target {
                readerOps.add()
                switch Int.random(in: 0..<10) {
                case 0..<4:
                    let name = noncounting.randomElement()!
                    _ = try? host.withModule(name, as: ChurnModule.self) { module in
                        calls.add()
                        if module.isDead { violations.add("\(name): called after exit") }
                        spin(Int.random(in: 0..<50))
                        if module.isDead { violations.add("\(name): exit ran during a call") }
                    }
                case 4..<7:
                    let name = counting.randomElement()!
                    if let ref = try? host.acquire(name) {
                        if ref.definition(as: ChurnModule.self)?.isDead == true {
                            violations.add("\(name): reference to an exited module")
                        }
                        ref.release()
                    }
                case 7, 8:
                    let name = (counting + noncounting).randomElement()!
                    if let info = host.info(of: name), info.name != name || info.refcount < -1 {
                        violations.add("\(name): inconsistent info \(info)")
                    }
                    _ = host.state(of: name)
                default:
                    for info in host.modules where info.state == .unformed {
                        violations.add("\(info.name): unformed module listed")
                    }
                    _ = host.statistics()
                }
            }
        }
        // Unload what is left, then every definition must have been released exactly once.
        for info in host.modules {
            _ = try? await host.unload(info.name, mode: .drain(timeout: .seconds(10)))
        }
        await Quiescence.barrier()
        #expect(host.modules.isEmpty)
        #expect(violations.all == [])
        #expect(calls.count > 0)
        #expect(released.count == created.count)
    }

    @Test(.timeLimit(.minutes(5)))
    func requestsAndUnloadsKeepTheDependencyGraphSound() async throws {
        // A catalog with chains and a diamond; threads request by name and alias, unload random
        // modules (fail-fast and drain), and look around. Invariants: a module's exporters stay
        // in place while it holds them, with its reference counted; at the end nothing waits,
        // nothing is in flight, and everything unloads leaf-first.
        let modules: [Linked] = [
            Linked("crc", exports: [ExportedSymbol("crc", 1)]),
            Linked("journal", exports: [ExportedSymbol("journal", 2)], imports: [ImportedSymbol("crc", as: Int.self)]),
            Linked("fs", imports: [ImportedSymbol("journal", as: Int.self), ImportedSymbol("crc", as: Int.self)], aliases: ["fs-*"]),
            Linked("clock", exports: [ExportedSymbol("clock", 3)]),
            Linked("nic", imports: [ImportedSymbol("clock", as: Int.self)], aliases: ["pci:v8086*"]),
            Linked("bridge", imports: [ImportedSymbol("clock", as: Int.self), ImportedSymbol("journal", as: Int.self)]),
        ]
        let host = try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(modules), maxConcurrentRequests: 3))
        let names = modules.map(\.name)
        let requests = ["fs", "fs-ext4", "nic", "pci:v8086d15b8", "bridge", "crc", "journal", "clock"]
        let violations = Violations()
        let operations = Counter()
        let outcomes = Locked([String: Int]())
        await onThreads(6) { _ in
            for _ in 0..<(400 * Self.scale) {
                operations.add()
                switch Int.random(in: 0..<10) {
                case 0..<5:
                    let target = requests.randomElement()!
                    let error = blocking { () -> ModuleError? in
                        do throws(ModuleError) { try await host.request(target) } catch { return error }
                        return nil
                    }
                    outcomes.withLock { $0["request \(error?.code.name ?? "ok")", default: 0] += 1 }
                    // Requests race unloads of their dependencies: a dependency may be going away.
                    if let error, !["busy", "notFound", "timedOut"].contains(error.code.name) {
                        violations.add("request \(target): \(error)")
                    }
                case 5..<8:
                    let name = names.randomElement()!
                    let mode: ModuleHost.UnloadMode = Bool.random() ? .failFast : .drain(timeout: .microseconds(300))
                    let error = blocking { () -> ModuleError? in
                        do throws(ModuleError) { try await host.unload(name, mode: mode) } catch { return error }
                        return nil
                    }
                    outcomes.withLock { $0["unload \(error?.code.name ?? "ok")", default: 0] += 1 }
                    if let error, !["busy", "notFound", "wouldBlock", "timedOut"].contains(error.code.name) {
                        violations.add("unload \(name): \(error)")
                    }
                default:
                    // Per record, not per name (names are reused as modules reload): while an
                    // importer holds an exporter — seen before and after — the exporter is not
                    // going or gone, and its count includes the importer's reference.
                    let records = host.table.read { snapshot in snapshot.modules.values.map { $0.takeUnretainedValue() } }
                    for importer in records {
                        for exporter in importer.targets {
                            let state = exporter.state
                            let references = exporter.refs.reading.references
                            guard importer.targets.contains(where: { $0 === exporter }) else { continue }
                            if state == .going || state == .gone {
                                violations.add("\(importer.name) holds \(exporter.name), which is \(state)")
                            }
                            if references < 1 {
                                violations.add("\(exporter.name) has \(references) references while \(importer.name) holds one")
                            }
                        }
                    }
                    _ = host.listing()
                }
            }
        }
        #expect(violations.all == [])
        let seen = outcomes.withLock { $0 }
        for path in ["request ok", "unload ok", "unload wouldBlock"] {
            #expect(seen[path, default: 0] > 0, "never reached: \(path)")
        }
        #expect(host.table.write { $0.waits.isEmpty && $0.running.isEmpty })
        #expect(host.requestStatistics.inFlight == 0)
        #expect(host.requestStatistics.peak <= 3)
        // Everything unloads, leaves first: one pass per level of the graph (three), bounded.
        for _ in 0..<names.count where !host.modules.isEmpty {
            for info in host.modules where info.usedBy.isEmpty {
                do throws(ModuleError) {
                    try await host.unload(info.name, mode: .drain(timeout: .seconds(5)))
                } catch {
                    Issue.record("final unload of \(info.name): \(error)")
                }
            }
        }
        #expect(host.modules.isEmpty, "left loaded: \(host.modules.map(\.name))")
        for module in modules { #expect(module.inits.count == module.exits.count, "\(module.name)") }
    }

    /// Unload attempts that never succeed, for the introspection test: fail-fast (refused: the
    /// word must not change at all), and drains that time out (the base is removed and restored).
    enum RefusedUnload: CaseIterable, Sendable {
        case failFast, drainTimingOut
    }

    @Test(.timeLimit(.minutes(5)), arguments: RefusedUnload.allCases, [false, true])
    func introspectionNeverReadsATornReferenceCount(unload: RefusedUnload, secondHolder: Bool) async throws {
        // One reference is held throughout; one thread keeps trying to unload (always refused),
        // one (if `secondHolder`) takes and drops a second reference, two read info, listing and
        // holders. Every figure a reader gets must have been true at one instant: a module shows
        // exactly the references held — 1, or 1–2 with the second holder — never 0 (one is
        // held), never −1, whether or not an unload is under way.
        let host = try ModuleHost(configuration: .testing())
        try await host.insert(TestModule("held"))
        let held = try host.acquire("held")
        let stop = Atomic<Bool>(false)
        let violations = Violations()
        let reads = Counter()
        let refusals = Counter()
        let target = 40_000 * Self.scale
        let allowed = secondHolder ? 1...2 : 1...1
        let counts: Set<Substring> = secondHolder ? ["1", "2"] : ["1"]
        await onThreads(4) { thread in
            switch thread {
            case 0:
                // The unloader: every attempt is refused, by the held reference or the deadline.
                while !stop.load(ordering: .acquiring) {
                    let code = blocking { () -> String in
                        do throws(ModuleError) {
                            switch unload {
                            case .failFast: try await host.unload("held")
                            case .drainTimingOut: try await host.unload("held", mode: .drain(timeout: .microseconds(20)))
                            }
                        } catch { return error.code.name }
                        return "ok"
                    }
                    if code != (unload == .failFast ? "wouldBlock" : "timedOut") {
                        violations.add("unload answered \(code)")
                    }
                    refusals.add()
                }
            case 1:
                // A second holder, so the count moves under the unloader's compare-and-swap.
                while secondHolder && !stop.load(ordering: .acquiring) {
                    if let extra = try? host.acquire("held") { extra.release() }
                }
            default:
                while reads.count < target {
                    reads.add()
                    guard let info = host.info(of: "held") else {
                        violations.add("held: not listed while a reference is held")
                        continue
                    }
                    if info.state != .live || !allowed.contains(info.refcount) {
                        violations.add("held: \(info.state), unloading \(info.isUnloading), refcount \(info.refcount)")
                    }
                    if reads.count % 16 == 0 {
                        // Module, Size, Used by, State: the used-by count is the third column.
                        let line = host.listing().split(separator: "\n").first { $0.hasPrefix("held ") }
                        let columns = line?.split(separator: " ") ?? []
                        if columns.count < 4 || !counts.contains(columns[2]) {
                            violations.add("listing: \(line ?? "no line")")
                        }
                        if let report = try? host.holders(of: "held"), report.references < 1 || report.isEmpty {
                            violations.add("holders: \(report.summary) (\(report.references))")
                        }
                    }
                }
                stop.store(true, ordering: .releasing)
            }
        }
        #expect(violations.all == [])
        #expect(refusals.count > 0)
        #expect(host.info(of: "held")?.refcount == 1 && host.info(of: "held")?.isUnloading == false)
        held.release()
        try await host.unload("held")
    }
}
