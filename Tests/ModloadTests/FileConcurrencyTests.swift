#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import ModloadExampleBuilder
@testable import Modload

/// Concurrent loads of module files, on real threads: same-file loads share the winner's exact
/// result (the kernel's idempotent load); different files of one module name merge by name; a
/// stress of loads, unloads and references leaves nothing mapped. CI runs this suite under
/// ThreadSanitizer and AddressSanitizer too.
@Suite("Module files: concurrency", .serialized)
struct FileConcurrencyTests {
    /// A host whose resolver has a `gate` module: the C example's init requests it (`request=gate`)
    /// and so stays in init until the test opens the gate.
    func gatedHost() throws -> (ModuleHost, Completion<Void>, EventLog) {
        let gate = Completion<Void>()
        let catalog = try ModuleCatalog([TestModule("gate", gate: gate)])
        let host = try ModuleHost(configuration: .testing(resolver: catalog))
        let log = EventLog()
        host.addObserver(named: "log") { log.record($0) }
        return (host, gate, log)
    }

    static let callers = 16

    @Test func concurrentLoadsOfOneFileRunOneInitAndShareTheResult() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let (host, gate, log) = try gatedHost()
        let results = Locked([Result<LoadOutcome, ModuleError>]())
        let opener = Task {
            #expect(await eventually { host.fileStatistics.attempts == Self.callers }, "not every caller reached the host")
            gate.complete(())
        }
        await onThreads(Self.callers) { _ in
            let result = blocking { () -> Result<LoadOutcome, ModuleError> in
                do throws(ModuleError) { return .success(try await host.insert(file: path, parameters: "request=gate")) } catch {
                    return .failure(error)
                }
            }
            results.withLock { $0.append(result) }
        }
        await opener.value
        let all = results.withLock { $0 }
        #expect(all.count == Self.callers)
        // The same result for every caller — insert semantics included: nobody got `exists` —
        // except that one ran the init and the others are told they joined it.
        let outcomes = try all.map { try $0.get() }
        #expect(outcomes.filter { $0.how == .loaded }.count == 1)
        #expect(outcomes.filter { $0.how == .joined }.count == Self.callers - 1)
        let first = outcomes[0]
        for outcome in outcomes {
            #expect(outcome.module == first.module && outcome.file == first.file && outcome.parameterWarnings == first.parameterWarnings)
        }
        #expect(host.fileStatistics.mergedJoiners == Self.callers - 1)
        #expect(log.kinds(for: "checksum") == [.coming, .live])
        #expect(try host.call("checksum", "checksum_inits", as: Counter32.self) { $0() } == 1)
        #expect(try await host.unload("checksum").image == .unmapped)
    }

    @Test func concurrentFailingLoadsOfOneFileAllGetTheSameError() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum)
        let (host, gate, log) = try gatedHost()
        let errors = Locked([String]())
        let opener = Task {
            #expect(await eventually { host.fileStatistics.attempts == Self.callers }, "not every caller reached the host")
            gate.complete(())
        }
        await onThreads(Self.callers) { index in
            let text = blocking { () -> String in
                do throws(ModuleError) {
                    // Half insert, half ensure-loaded: each kind merges with its own kind.
                    if index % 2 == 0 {
                        try await host.insert(file: path, parameters: "request=gate fail=y")
                    } else {
                        try await host.ensureLoaded(file: path, parameters: "request=gate fail=y")
                    }
                    return "succeeded"
                } catch {
                    return "\(error.code): \(error)"
                }
            }
            errors.withLock { $0.append(text) }
        }
        await opener.value
        let all = errors.withLock { $0 }
        #expect(all.count == Self.callers)
        // Two merged loads (insert, ensure-loaded), which merge by name into one init: every
        // ensure-loaded caller gets the init's error; the insert callers get the winner's exact
        // result if the insert won, or busy (insmod semantics) if it joined the other load.
        let initFailure = all.filter { $0.hasPrefix("initFailed") }
        #expect(!initFailure.isEmpty && Set(initFailure).count == 1)
        #expect(all.allSatisfy { $0.hasPrefix("initFailed") || $0.hasPrefix("busy") })
        #expect(log.kinds(for: "checksum").filter { $0 == .coming }.count == 1)
        #expect(host.modules.filter { $0.name == "checksum" }.isEmpty)
        #expect(mappings(of: path).isEmpty)
    }

    @Test func cancellingOneCallerOfAMergedFileLoadLeavesTheLoadToTheOthers() async throws {
        let folder = try ModuleFolder()
        let path = try await folder.copy(.checksum, as: "libchecksum-cancel.so")
        let (host, gate, _) = try gatedHost()
        let winner = Task { try await host.insert(file: path, parameters: "request=gate") }
        #expect(await eventually { host.fileStatistics.attempts == 1 })
        let joiner = Task { try await host.insert(file: path, parameters: "request=gate") }
        #expect(await eventually { host.fileStatistics.mergedJoiners == 1 })
        joiner.cancel()
        let error = await expectError(.cancelled) { try await joiner.value }
        #expect(error?.file == path)
        #expect(host.state(of: "checksum") != .live)  // the load goes on, still held at the gate
        gate.complete(())
        #expect(try await winner.value.how == .loaded)
        #expect(host.state(of: "checksum") == .live)
        #expect(try await host.unload("checksum").image == .unmapped)
    }

    @Test func stressLoadsUnloadsAndReferencesOnTwoFilesOfOneModule() async throws {
        let folder = try ModuleFolder()
        let files = [try await folder.copy(.checksum, as: "libchecksum-a.so"), try await folder.copy(.checksum, as: "libchecksum-b.so")]
        let host = try ModuleHost(configuration: .testing())
        let answered = Atomic<Int>(0)
        let unexpected = Locked([String]())
        let operations = 60 * StressTests.scale
        await onThreads(6) { thread in
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<operations {
                let file = files[Int.random(in: 0..<2, using: &generator)]
                let choice = Int.random(in: 0..<10, using: &generator)
                let outcome: String? = blocking {
                    do throws(ModuleError) {
                        switch choice {
                        case 0..<3: try await host.insert(file: file)
                        case 3..<5: try await host.ensureLoaded(file: file)
                        case 5..<8: _ = try await host.unload("checksum", mode: choice == 7 ? .drain(timeout: .milliseconds(5)) : .failFast)
                        default:
                            let reference = try host.acquire("checksum", holder: "thread \(thread)")
                            // A reference may be taken while init runs (the kernel's try-get
                            // succeeds on coming); call in only once the module is live.
                            guard reference.state == .live else { return nil }
                            let crc = try reference.export("checksum_crc32c", as: Crc32c.self)
                            guard crc(0, "123456789", 9) == 0xe306_9283 else { return "wrong checksum" }
                            reference.release()
                        }
                        return nil
                    } catch {
                        switch error.code {
                        case .exists, .busy, .notFound, .wouldBlock, .timedOut: return nil  // the races the test provokes
                        default: return "\(error)"
                        }
                    }
                }
                answered.add(1, ordering: .relaxed)
                if let outcome { unexpected.withLock { $0.append(outcome) } }
            }
        }
        #expect(answered.load(ordering: .relaxed) == 6 * operations)
        #expect(unexpected.withLock { $0 }.isEmpty, "\(unexpected.withLock { $0 }.prefix(5))")
        if host.state(of: "checksum") != nil { _ = try await host.unload("checksum", mode: .drain(timeout: .seconds(5))) }
        let statistics = try #require(host.statistics(of: "checksum"))
        // Every module that went live was unloaded; every image was released; nothing stays mapped.
        let images = host.fileStatistics
        #expect(images.mapped > 0 && images.retired == 0)
        #expect(images.unmapped >= 1 && images.unmapped <= images.mapped)  // loads of a live file share its object
        #expect(ImageRegistry.shared.objects(of: host.serial) == 0)
        #expect(statistics.loads == statistics.unloads)
        for file in files { #expect(mappings(of: file).isEmpty) }
        #expect(mappings(of: files[0]).isEmpty && mappings(of: files[1]).isEmpty)
    }
}
