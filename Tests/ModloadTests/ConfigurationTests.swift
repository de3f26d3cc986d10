import Logging
import Testing
@testable import Modload

/// A host is made only from a configuration whose every value is in range; a bad one is an
/// error naming the field, never a crash.
@Suite("Host configuration")
struct ConfigurationTests {
    /// One out-of-range setting, and the words its error must use.
    enum BadSetting: CaseIterable, Sendable {
        case noRequestSlots, negativeRequestSlots, negativeSlotTimeout, negativeSymbolWait, zeroFailureCache

        func apply(to c: inout ModuleHost.Configuration) {
            switch self {
            case .noRequestSlots: c.maxConcurrentRequests = 0
            case .negativeRequestSlots: c.maxConcurrentRequests = -5
            case .negativeSlotTimeout: c.requestSlotTimeout = .seconds(-1)
            case .negativeSymbolWait: c.symbolWaitTimeout = .milliseconds(-1)
            case .zeroFailureCache: c.failedLoadCacheDuration = .zero
            }
        }

        var message: String {
            switch self {
            case .noRequestSlots: "maxConcurrentRequests must be at least 1 (got 0)"
            case .negativeRequestSlots: "maxConcurrentRequests must be at least 1 (got -5)"
            case .negativeSlotTimeout: "requestSlotTimeout must not be negative (got -1.0 seconds)"
            case .negativeSymbolWait: "symbolWaitTimeout must not be negative (got -0.001 seconds)"
            case .zeroFailureCache: "failedLoadCacheDuration must be positive, or nil to turn the cache off (got 0.0 seconds)"
            }
        }
    }

    @Test(arguments: BadSetting.allCases)
    func aValueOutOfRangeIsAnErrorNamingTheField(setting: BadSetting) {
        var configuration = ModuleHost.Configuration.testing()
        setting.apply(to: &configuration)
        do {
            _ = try ModuleHost(configuration: configuration)
            Issue.record("a host was made with \(setting)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.description == "host configuration: \(setting.message)")
        }
    }

    @Test func theDefaultLoggerDiscards() {
        // A library stays quiet unless its user hands it a logger.
        #expect(ModuleHost().configuration.logger.handler is SwiftLogNoOpLogHandler)
        #expect(ModuleHost.Configuration().logger.handler is SwiftLogNoOpLogHandler)
    }
}
