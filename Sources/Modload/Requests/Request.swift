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
        let resolutions = try resolver.resolve(nameOrAlias)
        guard let first = resolutions.first else {
            throw ModuleError(.notFound, module: nameOrAlias, reason: "no module has this name or alias")
        }
        if resolutions.count == 1 { return try await load(first, parameters: parameters) }
        // An alias several modules match (a device two drivers claim): each is loaded, in
        // parallel; the request succeeds if one does, and otherwise fails with the first's error.
        let results = await withTaskGroup(of: (Int, Result<LoadOutcome, ModuleError>).self) { group in
            for (index, resolution) in resolutions.enumerated() {
                group.addTask {
                    do throws(ModuleError) {
                        return (index, .success(try await self.load(resolution, parameters: parameters)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results: [(Int, Result<LoadOutcome, ModuleError>)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        for case .success(let outcome) in results { return outcome }
        return try results[0].get()
    }

    /// Loads one resolution of a request: its `pre` soft dependencies, the module (configured
    /// parameters first, then the caller's), its `post` soft dependencies.
    private func load(_ resolution: ModuleResolution, parameters: String) async throws(ModuleError) -> LoadOutcome {
        eventHub.emit(ModuleEvent(kind: .requested, module: Self.canonical(resolution.module)))
        let chain = SoftDependencyChain.current.union([Self.canonical(resolution.module)])
        try await requestSoftDependencies(resolution.softDependencies.pre, of: resolution.module, chain: chain)
        let merged = [resolution.parameters, parameters].filter { !$0.isEmpty }.joined(separator: " ")
        let outcome = try await loadResolved(resolution, merged: merged, callerParameters: parameters)
        try await requestSoftDependencies(resolution.softDependencies.post, of: resolution.module, chain: chain)
        return outcome
    }

    /// The module of `resolution` itself, with `merged` parameters.
    private func loadResolved(_ resolution: ModuleResolution, merged: String, callerParameters parameters: String) async throws(ModuleError) -> LoadOutcome {
        let outcome: LoadOutcome
        switch resolution.source {
        case .definition(let definition):
            outcome = try await load(definition, parameters: merged, for: .request)
        case .file(let path):
            // A live module — or one whose load is in progress — needs no second look at its file
            // (checking and mapping it again would cost a full open); with parameters of the
            // caller's own, the load checks them.
            if parameters.isEmpty, let live = liveOutcome(of: resolution.module) {
                noteLoaded(live.module)
                outcome = live
            } else if parameters.isEmpty, let joined = try await joinRunningLoad(of: resolution.module) {
                outcome = joined
            } else {
                outcome = try await loadFile(path, parameters: merged, for: .request)
            }
        }
        return outcome
    }

    /// Requests each soft dependency in turn, skipping those already on this chain (a loop of
    /// softdeps ends); a failure is logged, not thrown — as kmod ignores errors of softdeps.
    private func requestSoftDependencies(_ names: [String], of module: String, chain: Set<String>) async throws(ModuleError) {
        for name in names where !chain.contains(Self.canonical(name)) {
            let result = await SoftDependencyChain.$current.withValue(chain) {
                await DependencyLoad.$current.withValue(true) { () async -> Result<LoadOutcome, ModuleError> in
                    do throws(ModuleError) { return .success(try await request(name)) } catch { return .failure(error) }
                }
            }
            if case .failure(let error) = result {
                if error.code == .cancelled { throw error }
                logger.notice(
                    "soft dependency could not be loaded", metadata: ["module": "\(module)", "softdep": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// `alreadyLive` if `module` is live and not being unloaded (one read of its state word).
    private func liveOutcome(of module: String) -> LoadOutcome? {
        guard let name = try? ModuleName(validating: module),
            table.read({ $0.withModule(name) { $0.isCallable } }) == true
        else { return nil }
        return LoadOutcome(module: name.canonical, how: .alreadyLive, parameterWarnings: [])
    }

    private static func canonical(_ name: String) -> String {
        (try? ModuleName(validating: name))?.canonical ?? name
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

/// The modules a chain of soft-dependency requests is requesting (task-local): a softdep that
/// leads back to one of them is skipped, so `a pre: b` with `b pre: a` terminates.
enum SoftDependencyChain {
    @TaskLocal static var current: Set<String> = []
}
