#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import Testing
@testable import Modload

extension ModuleHost.Configuration {
    /// A host configuration for tests: logs go nowhere (refusals and forced unloads are expected).
    static func testing(
        failedLoadCacheDuration: Duration? = nil, tracksReferenceHolders: Bool = false,
        resolver: (any ModuleResolver)? = nil, maxConcurrentRequests: Int = 50,
        requestSlotTimeout: Duration = .seconds(5), symbolWaitTimeout: Duration = .seconds(30)
    ) -> Self {
        .init(
            logger: Logger(label: "modload-test", factory: { _ in SwiftLogNoOpLogHandler() }),
            failedLoadCacheDuration: failedLoadCacheDuration,
            tracksReferenceHolders: tracksReferenceHolders,
            resolver: resolver, maxConcurrentRequests: maxConcurrentRequests,
            requestSlotTimeout: requestSlotTimeout, symbolWaitTimeout: symbolWaitTimeout)
    }
}

extension ModuleHost {
    /// A host for helpers that cannot throw (the testing configurations are valid by construction).
    static func forTesting(_ configuration: Configuration = .testing()) -> ModuleHost {
        try! ModuleHost(configuration: configuration)
    }
}

/// A module whose init and exit tests can steer and count.
final class TestModule: ModuleDefinition {
    let name: String
    let version: String
    /// If set, init suspends until this is completed (so tests can act while the module is coming).
    let gate: Completion<Void>?
    /// If set, init throws this after the gate.
    let failure: ModuleError?
    /// If set, exit suspends until this is completed (so tests can act while the module is going).
    let exitGate: Completion<Void>?
    /// Called at the start of init (before the gate), e.g. to check host state from inside init.
    let onInit: (@Sendable (ModuleContext) async -> Void)?

    private let inits = Atomic<Int>(0)
    private let exits = Atomic<Int>(0)
    /// Completed when init has started, for tests that must wait until a load is in progress.
    let initStarted = Completion<Void>()
    /// Completed when exit has started.
    let exitStarted = Completion<Void>()

    init(
        _ name: String, version: String = "1.0", gate: Completion<Void>? = nil,
        failure: ModuleError? = nil, exitGate: Completion<Void>? = nil, onInit: (@Sendable (ModuleContext) async -> Void)? = nil
    ) {
        self.name = name
        self.version = version
        self.gate = gate
        self.failure = failure
        self.exitGate = exitGate
        self.onInit = onInit
    }

    var initCalls: Int { inits.load(ordering: .acquiring) }
    var exitCalls: Int { exits.load(ordering: .acquiring) }

    func initialize(_ context: ModuleContext) async throws {
        inits.add(1, ordering: .acquiringAndReleasing)
        initStarted.complete(())
        await onInit?(context)
        if let gate { _ = await gate.wait() }
        if let failure { throw failure }
    }

    func exit(_ context: ModuleContext) async {
        exits.add(1, ordering: .acquiringAndReleasing)
        exitStarted.complete(())
        if let exitGate { _ = await exitGate.wait() }
    }
}

/// Table keys from literals in tests that look inside the table (`t.running["m"]`).
extension ModuleName: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        try! self.init(validating: value)
    }
}

extension ModuleHost {
    /// A context for records tests build by hand.
    func testContext(for name: ModuleName) -> ModuleContext {
        ModuleContext(name: name.canonical, logger: moduleLogger(for: name), imports: .none, parameters: .none, host: self)
    }
}

/// A shareable atomic counter (an `Atomic` itself cannot go in arrays or be copied).
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    init(_ initial: Int = 0) { value.store(initial, ordering: .relaxed) }
    func add(_ n: Int = 1) { value.add(n, ordering: .acquiringAndReleasing) }
    func store(_ n: Int) { value.store(n, ordering: .releasing) }
    var count: Int { value.load(ordering: .acquiring) }
}

/// Burns a little time without sleeping. (No global state: a lazily initialized global here once
/// parked threads inside read sections in `swift_once` under TSan.)
func spin(_ iterations: Int) {
    let sink = Atomic<Int>(0)
    for _ in 0..<iterations { sink.add(1, ordering: .relaxed) }
}

/// "No such device", the typical init failure.
let noDevice = ModuleError(.noDevice, reason: "no device")

/// Waits (bounded, about 10 s) until `condition` holds; returns whether it did.
func eventually(_ condition: @Sendable () -> Bool) async -> Bool {
    for _ in 0..<10_000 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// Collects events from an observer, for asserting sequences.
final class EventLog: Sendable {
    private let events = Locked([ModuleEvent]())
    func record(_ event: ModuleEvent) { events.withLock { $0.append(event) } }
    func kinds(for module: String) -> [ModuleEvent.Kind] {
        events.withLock { $0.filter { $0.module == module }.map(\.kind) }
    }
    var all: [ModuleEvent] { events.withLock { $0 } }
}

/// Runs `operation`, expecting it to throw a `ModuleError` with `code`; returns the error.
@discardableResult
func expectError<Result>(
    _ code: ModuleError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ operation: () async throws -> Result
) async -> ModuleError? {
    do {
        _ = try await operation()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as ModuleError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a ModuleError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A log handler that keeps what it is given ("LEVEL module: message"), for tests of what the
/// host logs.
final class CapturingLogs: Sendable {
    private let lines = Locked([String]())

    var messages: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "modload-test") { _ in Handler(owner: self) }
    }

    private struct Handler: LogHandler {
        let owner: CapturingLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let module = event.metadata?["module"] ?? metadata["module"]
            owner.lines.withLock { $0.append("\(event.level) \(module.map { "\($0): " } ?? "")\(event.message)") }
        }
    }
}
