import Logging

extension ModuleHost {
    /// How a host behaves. Every field has a default; `Configuration()` is a sensible host. The
    /// values are checked when a host is made from them (``ModuleHost/init(configuration:)``).
    public struct Configuration: Sendable {
        /// Where the host and its modules log. Each module's logger carries `module` metadata.
        /// Default: a logger that discards everything, as libraries do — pass your own to see the
        /// host's messages. Levels: `debug` for what the caller already receives (a module live,
        /// unloaded, a load failed, an unload refused); `notice` for parameter warnings (unknown
        /// parameters ignored, also in ``LoadOutcome/parameterWarnings``); `warning` for what
        /// taints the host (a forced unload overriding references, an unsigned module file) and for
        /// problems nobody else hears of (an observer that threw on a non-vetoable event, a module
        /// file's exit leaving references behind); `error` for a module file misusing the host
        /// functions; `critical` for a reference released twice.
        public var logger: Logger

        /// How long a failed load's error is remembered, so that a herd of same-name loads
        /// arriving just *after* a failure gets that failure instead of retrying the init
        /// (the kernel's debug dedup keeps 60 s). `nil` (the default) turns the cache off; a
        /// duration must be positive.
        public var failedLoadCacheDuration: Duration?

        /// Record the holder labels passed to ``ModuleHost/acquire(_:holder:)`` so that refusals
        /// and ``ModuleHost/holders(of:)`` can say *who* holds a module. Costs a short lock on
        /// acquire and release of labelled references; off by default, which keeps both lock-free.
        public var tracksReferenceHolders: Bool

        /// Where ``ModuleHost/request(_:parameters:)`` finds modules and the providers of missing
        /// symbols. `nil` (the default) disables autoload: requests fail with `autoloadDisabled`.
        public var resolver: (any ModuleResolver)?

        /// The most top-level requests that run at once (the kernel's `kmod_concurrent_max`).
        /// Default 50; at least 1.
        public var maxConcurrentRequests: Int

        /// How long a request waits for a free slot before failing `timedOut`. Default 5 s; not
        /// negative.
        public var requestSlotTimeout: Duration

        /// How long binding waits for the init of a `coming` exporter before failing `busy`.
        /// Default 30 s (the kernel's `resolve_symbol_wait`); not negative.
        public var symbolWaitTimeout: Duration

        /// Which module files load (``insert(file:parameters:)``): signed by a trusted key only, or
        /// anything, tainting the host 'E' for unsigned ones. Default: permissive, no keys.
        public var signaturePolicy: SignaturePolicy

        /// Makes a configuration; see each property for what the defaults mean.
        public init(
            logger: Logger = Configuration.silentLogger,
            failedLoadCacheDuration: Duration? = nil,
            tracksReferenceHolders: Bool = false,
            resolver: (any ModuleResolver)? = nil,
            maxConcurrentRequests: Int = 50,
            requestSlotTimeout: Duration = .seconds(5),
            symbolWaitTimeout: Duration = .seconds(30),
            signaturePolicy: SignaturePolicy = .permissive
        ) {
            self.logger = logger
            self.failedLoadCacheDuration = failedLoadCacheDuration
            self.tracksReferenceHolders = tracksReferenceHolders
            self.resolver = resolver
            self.maxConcurrentRequests = maxConcurrentRequests
            self.requestSlotTimeout = requestSlotTimeout
            self.symbolWaitTimeout = symbolWaitTimeout
            self.signaturePolicy = signaturePolicy
        }

        /// The default logger: labelled `modload`, discarding everything.
        public static var silentLogger: Logger {
            Logger(label: "modload", factory: { _ in SwiftLogNoOpLogHandler() })
        }

        /// Checks every value; the error names the field, what it must be, and what it was.
        func validate() throws(ModuleError) {
            func invalid(_ field: String, _ rule: String, _ value: Any) -> ModuleError {
                ModuleError(.invalidArgument, reason: "host configuration: \(field) \(rule) (got \(value))")
            }
            if maxConcurrentRequests < 1 { throw invalid("maxConcurrentRequests", "must be at least 1", maxConcurrentRequests) }
            if requestSlotTimeout < .zero { throw invalid("requestSlotTimeout", "must not be negative", requestSlotTimeout) }
            if symbolWaitTimeout < .zero { throw invalid("symbolWaitTimeout", "must not be negative", symbolWaitTimeout) }
            if let duration = failedLoadCacheDuration, duration <= .zero {
                throw invalid("failedLoadCacheDuration", "must be positive, or nil to turn the cache off", duration)
            }
        }
    }
}
