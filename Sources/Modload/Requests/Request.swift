/// Requests: "make sure module X is live" by name or alias, loading what it needs (the kernel's
/// `request_module`, docs/design.md §6).
extension ModuleHost {
    /// The longest name or alias a request accepts, in bytes.
    public static let maximumRequestLength = 255

    /// Makes sure the module `nameOrAlias` resolves to is live, requesting first the modules that
    /// provide the symbols it imports (independent ones in parallel). Same-name requests (and
    /// loads) merge; at most ``Configuration/maxConcurrentRequests`` top-level requests run at
    /// once. Requests may be made from inside a module's init (``ModuleContext/host``).
    ///
    /// Cycles: a request that would wait, on behalf of a load, for a load that waits for it —
    /// through imports, dependency requests, or a request the init awaits — fails at once with
    /// `deadlock`. A ring through a task the init *starts* (or through another host) cannot be
    /// seen; those waits are bounded by ``Configuration/symbolWaitTimeout`` instead, and a
    /// `Task.detached` leaves the host no trace of the load at all.
    ///
    /// - Throws: `invalidArgument` (empty, over-long or blank-containing name, or bad parameters
    ///   — before a slot is taken), `autoloadDisabled` (no resolver configured), `notFound` (no
    ///   module has that name or alias, or a dependency is missing), `timedOut` (no request slot
    ///   within ``Configuration/requestSlotTimeout``), `deadlock` (a dependency cycle, named), and
    ///   every error of ``ensureLoaded(_:parameters:)``.
    /// - Returns: whether this request loaded the module, joined a load of it, or found it live.
    @discardableResult
    public func request(_ nameOrAlias: String, parameters: String = "") async throws(ModuleError) -> LoadOutcome {
        let length = nameOrAlias.utf8.count
        guard length > 0 else { throw ModuleError(.invalidArgument, reason: "request for an empty module name") }
        guard length <= Self.maximumRequestLength else {
            throw ModuleError(
                .invalidArgument,
                reason: "request for \"\(nameOrAlias.prefix(20))…\": \(length) bytes; the limit is \(Self.maximumRequestLength)")
        }
        guard !nameOrAlias.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw ModuleError(.invalidArgument, reason: "request for \(String(reflecting: nameOrAlias)): names and aliases contain no blanks")
        }
        guard let resolver = configuration.resolver else {
            throw ModuleError(
                .autoloadDisabled, module: nameOrAlias,
                reason: "cannot be requested: autoload is disabled (the host has no resolver)")
        }
        guard let definition = resolver.definition(for: nameOrAlias) else {
            throw ModuleError(.notFound, module: nameOrAlias, reason: "no module has this name or alias")
        }
        return try await load(definition, parameters: parameters, for: .request)
    }

    /// How the request cap is doing.
    public struct RequestStatistics: Sendable, Equatable {
        /// ``Configuration/maxConcurrentRequests``.
        public let capacity: Int
        /// Requests holding a slot now.
        public let inFlight: Int
        /// The most requests that ever held slots at once (never above `capacity`).
        public let peak: Int
        /// Requests waiting for a slot now.
        public let waiting: Int
        /// Requests that gave up waiting for a slot.
        public let timeouts: Int
    }

    /// The request cap's counters.
    public var requestStatistics: RequestStatistics { requestSlots.statistics }
}
