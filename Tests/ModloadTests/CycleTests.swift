import Testing
@testable import Modload

/// Dependency cycles fail at once, naming every module in the ring (docs/design.md §6).
@Suite("Cycle detection", .timeLimit(.minutes(1)))
struct CycleTests {
    private func catalogHost(_ definitions: [any ModuleDefinition]) throws -> ModuleHost {
        try ModuleHost(configuration: .testing(resolver: try ModuleCatalog(definitions)))
    }

    private func assertNothingLeft(_ host: ModuleHost, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(host.modules.isEmpty, sourceLocation: sourceLocation)
        #expect(host.table.write { $0.waits.isEmpty && $0.running.isEmpty }, sourceLocation: sourceLocation)
        #expect(host.requestStatistics.inFlight == 0, sourceLocation: sourceLocation)
    }

    @Test func aModuleWhoseInitRequestsItselfFailsAtOnce() async throws {
        let selfish = Linked("selfish") { context in
            try await context.host!.request("selfish")
        }
        let host = try catalogHost([selfish])
        let error = await expectError(.initFailed) { try await host.request("selfish") }
        let cause = try #require(error?.underlying as? ModuleError)
        #expect(cause.code == .deadlock)
        #expect(cause.reason == "dependency cycle: selfish → selfish (each waits for the next one's load)")
        #expect(selfish.inits.count == 1)
        assertNothingLeft(host)
    }

    @Test func twoModulesImportingFromEachOtherFailAtOnce() async throws {
        let a = Linked("mod_a", exports: [ExportedSymbol("a_sym", 1)], imports: [ImportedSymbol("b_sym", as: Int.self)])
        let b = Linked("mod_b", exports: [ExportedSymbol("b_sym", 2)], imports: [ImportedSymbol("a_sym", as: Int.self)])
        let host = try catalogHost([a, b])
        let error = await expectError(.deadlock) { try await host.request("mod_a") }
        #expect(error?.description == "mod_a: dependency cycle: mod_a → mod_b → mod_a (each waits for the next one's load)")
        #expect(a.inits.count == 0 && b.inits.count == 0)
        assertNothingLeft(host)
    }

    @Test func aRingOfThreeFailsNamingAllThree() async throws {
        let a = Linked("ring_a", exports: [ExportedSymbol("a", 1)], imports: [ImportedSymbol("b", as: Int.self)])
        let b = Linked("ring_b", exports: [ExportedSymbol("b", 2)], imports: [ImportedSymbol("c", as: Int.self)])
        let c = Linked("ring_c", exports: [ExportedSymbol("c", 3)], imports: [ImportedSymbol("a", as: Int.self)])
        let host = try catalogHost([a, b, c])
        let error = await expectError(.deadlock) { try await host.request("ring_b") }
        // The ring is said once, from the module asked for, however deep the requests nested.
        #expect(error?.description == "ring_b: dependency cycle: ring_b → ring_c → ring_a → ring_b (each waits for the next one's load)")
        #expect(error?.cycle == ["ring_b", "ring_c", "ring_a", "ring_b"])
        #expect(a.inits.count + b.inits.count + c.inits.count == 0)
        assertNothingLeft(host)
    }

    @Test func aRingReachedThroughAnotherModuleIsSaidOnceWithThePathIntoIt() async throws {
        let a = Linked("ring_a", exports: [ExportedSymbol("a", 1)], imports: [ImportedSymbol("b", as: Int.self)])
        let b = Linked("ring_b", exports: [ExportedSymbol("b", 2)], imports: [ImportedSymbol("c", as: Int.self)])
        let c = Linked("ring_c", exports: [ExportedSymbol("c", 3)], imports: [ImportedSymbol("a", as: Int.self)])
        let top = Linked("top", imports: [ImportedSymbol("b", as: Int.self)])
        let host = try catalogHost([a, b, c, top])
        let error = await expectError(.deadlock) { try await host.request("top") }
        #expect(error?.description == "top: dependency cycle: ring_b → ring_c → ring_a → ring_b (each waits for the next one's load); reached through top → ring_b")
        #expect(top.inits.count == 0)
        assertNothingLeft(host)
    }

    @Test func anInitWaitingForItsOwnImporterFailsAtOnce() async throws {
        // `clock` is coming; its init requests `ptp`, which imports from `clock` and so waits for
        // clock's init: a ring through an init, found the moment it closes.
        let ptp = Linked("ptp", imports: [ImportedSymbol("ticks", as: Int.self)])
        let clock = Linked("clock", exports: [ExportedSymbol("ticks", 7)]) { context in
            try await context.host!.request("ptp")
        }
        let host = try catalogHost([clock, ptp])
        let error = await expectError(.initFailed) { try await host.request("clock") }
        let cause = try #require(error?.underlying as? ModuleError)
        #expect(cause.code == .deadlock || (cause.underlying as? ModuleError)?.code == .deadlock, "\(cause)")
        #expect("\(cause)".contains("clock") && "\(cause)".contains("ptp"))
        #expect(ptp.inits.count == 0)
        assertNothingLeft(host)
    }

    @Test func aDiamondIsNotACycle() async throws {
        let base = Linked("base", exports: [ExportedSymbol("base", 0)])
        let left = Linked("left", exports: [ExportedSymbol("left", 1)], imports: [ImportedSymbol("base", as: Int.self)])
        let right = Linked("right", exports: [ExportedSymbol("right", 2)], imports: [ImportedSymbol("base", as: Int.self)])
        let top = Linked("top", imports: [ImportedSymbol("left", as: Int.self), ImportedSymbol("right", as: Int.self)])
        let host = try catalogHost([base, left, right, top])
        try await host.request("top")
        #expect(base.inits.count == 1)
        #expect(host.info(of: "base")?.usedBy == ["left", "right"])
        #expect(host.info(of: "top")?.uses == ["left", "right"])
        #expect(host.table.write { $0.waits.isEmpty })
    }

    @Test func aTaskAnInitStartsButDoesNotAwaitIsNotPartOfItsLoad() async throws {
        // A bus driver's init starts a probe of a device driver that imports from the bus driver,
        // and goes on without awaiting it. No cycle: the probe waits for the bus's init to end.
        let probed = Completion<Result<Void, ModuleError>>()
        let device = Linked("device", imports: [ImportedSymbol("bus_register", as: Int.self)])
        let bus = Linked("bus", exports: [ExportedSymbol("bus_register", 1)]) { context in
            let host = context.host!
            Task {
                do throws(ModuleError) {
                    try await host.request("device")
                    probed.complete(.success(()))
                } catch {
                    probed.complete(.failure(error))
                }
            }
            // Stay coming until the probe's load waits for this init (its edge in the graph).
            guard await eventually({ host.table.write { !$0.waits.isEmpty } }) else {
                throw ModuleError(.timedOut, reason: "the probe never waited for the bus")
            }
        }
        let host = try catalogHost([bus, device])
        try await host.request("bus")
        guard case .value(let result) = await probed.wait() else { Issue.record("probe never answered"); return }
        #expect(throws: Never.self) { try result.get() }
        #expect(host.info(of: "bus")?.usedBy == ["device"])
        #expect(host.table.write { $0.waits.isEmpty })
    }

    @Test func aRingThroughAnUnstructuredTaskEndsInsteadOfHanging() async throws {
        // The ring goes through a task the init starts and then awaits: invisible to the wait
        // graph, so it is bounded by symbolWaitTimeout instead.
        let selfish = Linked("selfish") { context in
            let host = context.host!
            _ = try await Task { try await host.request("selfish") }.value
        }
        let host = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([selfish]), symbolWaitTimeout: .milliseconds(50)))
        let error = await expectError(.initFailed) { try await host.request("selfish") }
        #expect((error?.underlying as? ModuleError)?.code == .busy)
        assertNothingLeft(host)
    }

    @Test func aRingAcrossTwoHostsEndsInsteadOfHanging() async throws {
        // Each host has its own wait graph, so a ring through two hosts is not seen; the waits
        // made for another host's load are bounded by symbolWaitTimeout.
        let hosts = Locked<(ModuleHost?, ModuleHost?)>((nil, nil))
        let a = Linked("cross_a") { _ in try await hosts.withLock { $0.1 }!.request("cross_b") }
        let b = Linked("cross_b") { _ in try await hosts.withLock { $0.0 }!.request("cross_a") }
        let first = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([a]), symbolWaitTimeout: .milliseconds(50)))
        let second = try ModuleHost(
            configuration: .testing(resolver: try ModuleCatalog([b]), symbolWaitTimeout: .milliseconds(50)))
        hosts.withLock { $0 = (first, second) }
        await expectError(.initFailed) { try await first.request("cross_a") }
        assertNothingLeft(first)
        // The other host's side of the ring ends on its own bounded wait, moments later.
        #expect(await eventually { second.modules.isEmpty && second.requestStatistics.inFlight == 0 })
        assertNothingLeft(second)
    }
}
