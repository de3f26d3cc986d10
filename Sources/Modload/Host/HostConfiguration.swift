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

        /// Makes a configuration; see each property for what the defaults mean.
        public init(
            logger: Logger = Logger(label: "modload"),
            failedLoadCacheDuration: Duration? = nil,
            tracksReferenceHolders: Bool = false
        ) {
            self.logger = logger
            self.failedLoadCacheDuration = failedLoadCacheDuration
            self.tracksReferenceHolders = tracksReferenceHolders
        }
    }
}
