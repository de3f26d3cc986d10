import Logging

extension ModuleHost {
    /// How a host behaves. Every field has a default; `Configuration()` is a sensible host.
    public struct Configuration: Sendable {
        /// Where the host and its modules log. Each module's logger carries `module` metadata.
        /// Default: a logger labelled `modload`.
        public var logger: Logger

        /// How long a failed load's error is remembered, so that a herd of same-name loads
        /// arriving just *after* a failure gets that failure instead of retrying the init
        /// (the kernel's debug dedup keeps 60 s). `nil` (the default) turns the cache off.
        public var failedLoadCacheDuration: Duration?

        /// Record the holder labels passed to ``ModuleHost/acquire(_:holder:)`` so that refusals
        /// and ``ModuleHost/holders(of:)`` can say *who* holds a module. Costs a short lock on
        /// acquire and release of labelled references; off by default, which keeps both lock-free.
        public var tracksReferenceHolders: Bool

        /// Where ``ModuleHost/request(_:parameters:)`` finds modules and the providers of missing
        /// symbols. `nil` (the default) disables autoload: requests fail with `autoloadDisabled`.
        public var resolver: (any ModuleResolver)?

        /// The most top-level requests that run at once (the kernel's `kmod_concurrent_max`).
        /// Default 50.
        public var maxConcurrentRequests: Int

        /// How long a request waits for a free slot before failing `timedOut`. Default 5 s.
        public var requestSlotTimeout: Duration

        /// How long binding waits for the init of a `coming` exporter before failing `busy`.
        /// Default 30 s (the kernel's `resolve_symbol_wait`).
        public var symbolWaitTimeout: Duration

        /// Which module files load (``insert(file:parameters:)``): signed by a trusted key only, or
        /// anything, tainting the host 'E' for unsigned ones. Default: permissive, no keys.
        public var signaturePolicy: SignaturePolicy

        /// Makes a configuration; see each property for what the defaults mean.
        public init(
            logger: Logger = Logger(label: "modload"),
            failedLoadCacheDuration: Duration? = nil,
            tracksReferenceHolders: Bool = false,
            resolver: (any ModuleResolver)? = nil,
            maxConcurrentRequests: Int = 50,
            requestSlotTimeout: Duration = .seconds(5),
            symbolWaitTimeout: Duration = .seconds(30),
            signaturePolicy: SignaturePolicy = .permissive
        ) {
            precondition(maxConcurrentRequests >= 1, "maxConcurrentRequests must be at least 1")
            self.logger = logger
            self.failedLoadCacheDuration = failedLoadCacheDuration
            self.tracksReferenceHolders = tracksReferenceHolders
            self.resolver = resolver
            self.maxConcurrentRequests = maxConcurrentRequests
            self.requestSlotTimeout = requestSlotTimeout
            self.symbolWaitTimeout = symbolWaitTimeout
            self.signaturePolicy = signaturePolicy
        }
    }
}
