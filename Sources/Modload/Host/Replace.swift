/// Replacing a live module with a new generation while its callers keep working (docs/design.md
/// §16; Erlang's current and old code, OSGi's update and refresh).
///
/// 1. **Admit** under the table lock: the module is live, not loading, unloading or being
///    replaced; an old generation still draining refuses with `notPurged` — unless the purge is
///    brutal, which first takes that old generation down. The name is marked *replacing* (unloads
///    and other replaces of it are refused) and the new generation gets its record, outside the
///    table: nobody can find it yet.
/// 2. **Prepare** the new generation with no lock held: bind its imports to live modules, form it
///    (its exporters referenced, its exports only checked — they are published at the switch),
///    the `coming` observers, init, then the definition's state handover
///    (``ModuleDefinition/takeOver(from:_:)``). Any failure: the new generation's exit runs if its
///    init had, it goes (`going`, `gone`, `loadFailed`), and the current one stays current,
///    untouched.
/// 3. **Switch**, one publication: the name and the exports point at the new generation, which is
///    live. Then the previous one turns *old* in a second step — its base removed — so a reader
///    that found it in the snapshot before the switch and is refused finds the new one when it
///    looks again. Existing references and calls keep working on the old generation; importers
///    stay bound to it (and keep it pinned) until they are refreshed.
/// 4. **Refresh** the importers of the old generation, if asked (``refresh(_:drainTimeout:)``).
/// 5. **Drain** the old generation up to the deadline; then `going`, its exit, `gone`, unlinked,
///    its image released. A soft drain that times out leaves it old and names its holders (it goes
///    by itself when the last of them lets go); a brutal one revokes the remaining references —
///    their state reads `gone`, their memory stays valid — and takes it down, unless modules are
///    still bound to it.
extension ModuleHost {
    /// How a replace treats the generation it replaces.
    public struct ReplaceOptions: Sendable, Equatable {
        /// What to do with an old generation whose holders do not let go in time.
        public enum Purge: Sendable, Equatable {
            /// Keep it old (never kill by default): the outcome names its holders, and it goes
            /// when the last one lets go. A later replace meanwhile fails with `notPurged`.
            case soft
            /// Revoke the references still held (they read `gone`), run its exit and free it —
            /// and, for a later replace, purge an old generation still draining first. Modules
            /// bound to it are never revoked: refresh them.
            case brutal
        }

        /// How long to wait for the old generation's holders to let go.
        public var drainTimeout: Duration
        /// What to do when they do not.
        public var purge: Purge
        /// Refresh the old generation's importers after the switch, so they rebind to the new
        /// one (``ModuleHost/refresh(_:drainTimeout:)``) and the old one can drain.
        public var refreshDependents: Bool

        /// Options with the defaults: a 5-second soft drain, no refresh.
        public init(drainTimeout: Duration = .seconds(5), purge: Purge = .soft, refreshDependents: Bool = false) {
            self.drainTimeout = drainTimeout
            self.purge = purge
            self.refreshDependents = refreshDependents
        }
    }

    /// What became of the generation a replace replaced.
    public enum PreviousGeneration: Sendable, Equatable {
        /// Drained and gone: its exit ran, its image (for a module file) was released.
        case gone(drainedReferences: Int, image: ImageRelease?)
        /// Brutal purge: the references still held were revoked, then it went.
        case revoked(references: Int, image: ImageRelease?)
        /// Still old: these hold it. It goes by itself when the last one lets go.
        case old(HoldersReport)
    }

    /// What a replace did.
    public struct ReplaceOutcome: Sendable {
        /// The module's canonical name.
        public let module: String
        /// The generation now current.
        public let generation: Int
        /// The generation it replaced.
        public let previousGeneration: Int
        /// What became of that generation.
        public let previous: PreviousGeneration
        /// The importers refreshed onto the new generation, in reload order.
        public let refreshed: [String]
        /// Why the refresh asked for (``ReplaceOptions/refreshDependents``) stopped, if it did;
        /// the replace itself succeeded.
        public let refreshFailure: ModuleError?
        /// What parsing the new generation's parameters warned about.
        public let parameterWarnings: [String]
        /// For a module file: what the new file is.
        public let file: ModuleFileInfo?
    }

    /// Replaces the live module `name` with a new generation made from `definition`.
    ///
    /// - Parameters:
    ///   - name: the module to replace; `definition.name` must be the same name.
    ///   - definition: the new generation.
    ///   - parameters: its parameters, checked as for a load.
    ///   - options: drain deadline, purge, refresh.
    /// - Throws: `invalidArgument` (bad name, parameters, a definition of another name, a negative
    ///   deadline), `notFound` (not loaded), `busy` (loading, unloading or being replaced),
    ///   `notPurged` (an old generation still drains and the purge is soft), then whatever
    ///   preparing the new generation failed with (binding, `duplicateSymbol`, `initFailed`, a
    ///   veto, a throwing state handover). After any error the current generation is as it was.
    ///
    /// Cancelling the caller's task before the switch makes the replace fail where it is waiting
    /// (binding), with the current generation untouched; after the switch it only ends the wait
    /// for the drain — the old generation stays old, even under a brutal purge, and goes by itself.
    @discardableResult
    public func replace(
        _ name: String, with definition: some ModuleDefinition, parameters: String = "",
        options: ReplaceOptions = ReplaceOptions()
    ) async throws(ModuleError) -> ReplaceOutcome {
        try await replaceGeneration(name, with: definition, parameters: parameters, options: options)
    }

    /// Replaces the live module `name` with a new generation loaded from the module file at `path`
    /// (checked and mapped as for ``insert(file:parameters:)``, its module named `name`).
    ///
    /// The file must be another version than the current generation's: one file version is one
    /// image in a host, and two generations sharing an image would share the module's globals.
    ///
    /// - Throws: the file errors of ``insert(file:parameters:)`` (nothing changed), `invalidArgument`
    ///   for the very file version the current generation runs, then as
    ///   ``replace(_:with:parameters:options:)``.
    @discardableResult
    public func replace(
        _ name: String, withFile path: String, parameters: String = "", options: ReplaceOptions = ReplaceOptions()
    ) async throws(ModuleError) -> ReplaceOutcome {
        let file = try ModuleFile.check(path, policy: configuration.signaturePolicy)
        let (image, descriptor) = try file.map(for: serial)
        files.count(mapped: 1)
        let module = FileModule(file: file, image: image, descriptor: descriptor, loads: files)
        let current = try? ModuleName(validating: name)
        if let current, table.read({ $0.withModule(current) { ($0.definition as? FileModule)?.image.base == image.base } }) == true {
            _ = module.releaseImageIfUnclaimed()
            throw ModuleError(
                .invalidArgument, module: current.canonical, file: path,
                reason: "runs this very file version already; a replace needs a changed file (the two generations would share one image and its globals)")
        }
        do {
            return try await replaceGeneration(name, with: module, parameters: parameters, options: options)
        } catch {
            _ = module.releaseImageIfUnclaimed()
            var error = error
            if error.file == nil { error.file = path }
            throw error
        }
    }

    private func replaceGeneration(
        _ name: String, with definition: any ModuleDefinition, parameters text: String, options: ReplaceOptions
    ) async throws(ModuleError) -> ReplaceOutcome {
        let name = try ModuleName(validating: name)
        let key = name.canonical
        let given = try ModuleName(validating: definition.name)
        guard given == name else {
            throw ModuleError(
                .invalidArgument, module: key, reason: "cannot be replaced by a module named \(given.canonical)")
        }
        guard options.drainTimeout >= .zero else {
            throw ModuleError(.invalidArgument, module: key, reason: "drain timeout must not be negative (got \(options.drainTimeout))")
        }
        let parsed = ParameterParser.parse(text, specification: definition.parameters)
        for warning in parsed.warnings { logger.notice("\(warning)", metadata: ["module": "\(name)"]) }
        guard parsed.errors.isEmpty else {
            throw ModuleError(
                .invalidArgument, module: key,
                reason: "bad parameters: " + (parsed.errors + parsed.warnings).joined(separator: "; "))
        }

        // 1. Admit.
        let (current, next, oldToPurge) = try table.write {
            (t: inout ModuleTable.Writer) throws(ModuleError) -> (ModuleRecord, RunningLoad, ModuleRecord?) in
            guard let current = t.module(name), current.state != .unformed else {
                throw ModuleError(.notFound, module: key, reason: "is not loaded")
            }
            guard current.state == .live, t.running[name] == nil, !current.isUnloading else {
                throw ModuleError(.busy, module: key, state: current.state, reason: "is loading or being unloaded; replace it once it is live")
            }
            guard !t.replacing.contains(name) else {
                throw ModuleError(.busy, module: key, state: .live, reason: "is already being replaced")
            }
            let old = t.oldGeneration(name)
            if let old, options.purge == .soft {
                throw ModuleError(
                    .notPurged, module: key, state: .old, holders: holdersReport(of: old),
                    reason: "generation \(old.generation) is still old and draining; wait for it to go, or purge it brutally")
            }
            t.replacing.insert(name)
            let statistics = t.statistics(for: name)
            let context = ModuleContext(
                name: key, logger: moduleLogger(for: name), imports: .none, parameters: parsed.parameters, host: self)
            let record = ModuleRecord(
                name: name, generation: t.nextGeneration(of: name), definition: definition, context: context,
                statistics: statistics, tracksHolders: configuration.tracksReferenceHolders,
                parameterWarnings: parsed.warnings)
            return (current, RunningLoad(record: record), old)
        }
        // The mark ends with the switch, or with the replace's failure.
        var switched = false
        defer { if !switched { table.write { t in _ = t.replacing.remove(name) } } }
        let record = next.record
        (definition as? any FileBackedDefinition)?.claim()
        if let oldToPurge {
            // A third generation while an old one drains: the brutal purge takes it down first.
            if case .old(let holders) = await finishOld(oldToPurge, brutal: true) {
                await failLoad(next, ModuleError(.notPurged, module: key, reason: "its old generation could not be purged"), remember: false)
                throw ModuleError(
                    .notPurged, module: key, state: .old, holders: holders,
                    reason: "generation \(oldToPurge.generation) is still bound to by modules; refresh them first")
            }
        }

        // 2. Prepare the new generation.
        let prepared: ModuleError? = await LoadScope.$current.withValue(LoadScope(host: ObjectIdentifier(self), load: next)) {
            let bindings: [ResolvedImport]
            do throws(ModuleError) {
                bindings = try await bindImports(of: next)
            } catch {
                return error
            }
            if let error = table.write({ t in form(record, with: bindings, in: &t, exports: .atSwitch(replacing: name)) }) {
                return error
            }
            if !record.definition.taints.isEmpty {
                logger.warning("module taints the host", metadata: ["module": "\(name)", "taints": "\(record.definition.taints)"])
            }
            return await observeAndInitialize(record)
        }
        if let prepared {
            await failLoad(next, prepared, remember: false)
            throw prepared
        }
        do {
            try await record.definition.takeOver(from: current.definition, record.context)
        } catch {
            let failure = ModuleError(
                .initFailed, module: key, state: .coming,
                reason: "state handover from generation \(current.generation) failed; generation \(current.generation) stays current",
                underlying: error)
            await record.definition.exit(record.context)
            await failLoad(next, failure, remember: false)
            throw failure
        }

        // 3. Switch: one publication, then the previous generation turns old.
        record.releaseHostReference()  // the init reference, while still coming
        let conflict = table.write { t -> (symbol: String, owner: ModuleName)? in
            if let conflict = t.conflictingExport(of: record, except: name) { return conflict }
            t.makeCurrent(record)
            t.switchExports(from: current, to: record)
            record.setState(.live)
            t.replacing.remove(name)
            return nil
        }
        switched = conflict == nil
        if let (symbol, owner) = conflict {
            // Another module published one of its exports while it was prepared.
            let failure = ModuleError(
                .duplicateSymbol, module: key, state: .coming, reason: "exports \(symbol), which \(owner) exported meanwhile")
            record.acquireHeld(holder: nil)  // failLoad removes base + init reference
            await record.definition.exit(record.context)
            await failLoad(next, failure, remember: false)
            throw failure
        }
        let signal = current.armDrainSignal()
        let held = table.write { _ in current.refs.retire() }
        // The new generation was wanted by whoever wanted the old one (modprobe -r's rule).
        record.noteLoaded(asDependency: current.loadedAsDependency)
        record.statistics.loads.add(1, ordering: .relaxed)
        metrics.loads.increment()
        logger.debug("module replaced", metadata: ["module": "\(name)", "generation": "\(record.generation)"])
        eventHub.emit(ModuleEvent(kind: .live, module: key, generation: record.generation))
        eventHub.emit(ModuleEvent(kind: .old, module: key, generation: current.generation))
        next.outcome.complete(.success(()))

        // 4. Refresh the importers of the old generation.
        var refreshed: [String] = []
        var refreshFailure: ModuleError?
        if options.refreshDependents {
            do throws(ModuleError) {
                refreshed = try await refresh([key], drainTimeout: options.drainTimeout)
            } catch {
                refreshFailure = error
            }
        }

        // 5. Drain the old generation.
        var previous: PreviousGeneration
        if held == 0 || table.read({ _ in current.refs.reading.isFrozen }) {
            previous = await finishOld(current, brutal: false)
        } else {
            switch await signal.wait(timeout: options.drainTimeout) {
            case .value:
                previous = await finishOld(current, brutal: false)
            case .timedOut:
                previous = options.purge == .brutal ? await finishOld(current, brutal: true) : .old(holdersReport(of: current))
            case .cancelled:
                // The caller stopped waiting: never a purge it did not wait for.
                previous = .old(holdersReport(of: current))
            }
        }
        if case .old = previous { finishWhenDrained(current, signal: signal) }
        if case .gone(_, let image) = previous { previous = .gone(drainedReferences: held, image: image) }
        return ReplaceOutcome(
            module: key, generation: record.generation, previousGeneration: current.generation, previous: previous,
            refreshed: refreshed, refreshFailure: refreshFailure, parameterWarnings: parsed.warnings,
            file: (record.definition as? FileModule)?.file)
    }

    /// An old generation left to drain by itself: it goes when the last holder lets go.
    private func finishWhenDrained(_ old: ModuleRecord, signal: Completion<Void>) {
        Task { [weak self] in
            _ = await signal.wait()
            _ = await self?.finishOld(old, brutal: false)
        }
    }

    /// Takes an old generation down — `going`, its exit, `gone`, unlinked, image released — once
    /// its count froze, or (brutal) revoking the references still held. Exactly one caller takes
    /// it down (the one that moves it from `old` to `going`); modules still bound to it keep it old.
    @discardableResult
    func finishOld(_ old: ModuleRecord, brutal: Bool) async -> PreviousGeneration {
        let key = old.name.canonical
        let taken = table.write { t -> (taken: Bool, references: Int) in
            let reading = old.refs.reading
            guard old.state == .old else { return (false, 0) }
            let bound = !(t.dependents[old.key] ?? []).isEmpty
            guard reading.isFrozen || (brutal && !bound) else { return (false, reading.references) }
            old.setState(.going)
            return (true, reading.references)
        }
        guard taken.taken else {
            // Still old and held — or already taken down by another caller (a brutal replace).
            return old.state == .old ? .old(holdersReport(of: old)) : .gone(drainedReferences: 0, image: nil)
        }
        // Whoever still waits for the drain (a soft replace's finisher) wakes and finds it taken.
        let signal = old.drainSignal
        old.disarmDrainSignal()
        signal?.complete(())
        if taken.references > 0 {
            taint(.forcedUnload)
            logger.warning(
                "old generation purged with references held; host tainted",
                metadata: ["module": "\(key)", "generation": "\(old.generation)", "references": "\(taken.references)"])
        }
        // Noncounting callers that found it before it turned old finish first.
        if old.accounting == .noncounting { await Quiescence.synchronize() }
        eventHub.emit(ModuleEvent(kind: .going, module: key, generation: old.generation))
        await old.definition.exit(old.context)
        old.statistics.unloads.add(1, ordering: .relaxed)
        metrics.unloads.increment()
        eventHub.emit(ModuleEvent(kind: .gone, module: key, generation: old.generation))
        let orphaned = unlink(old)
        let image = await (old.definition as? any FileBackedDefinition)?.release(referencesRemain: orphaned)
        return taken.references > 0 ? .revoked(references: taken.references, image: image) : .gone(drainedReferences: 0, image: image)
    }

    /// Reloads the modules bound to the old generations of `names` — and those bound to them, in
    /// turn — so they bind to the current generations (OSGi's `refreshBundles`): unloaded
    /// dependents first (each drained up to `drainTimeout`), then loaded again in the opposite
    /// order, from the same definition or module file, with the same parameters. A name with no
    /// old generation has nothing to refresh.
    ///
    /// - Returns: the modules reloaded, in reload order.
    /// - Throws: the first unload or reload that failed, naming the module. An unload refusal
    ///   stops the refresh and reloads what was already unloaded (so nothing is left down that
    ///   was up); a reload failure leaves that module and those after it unloaded.
    @discardableResult
    public func refresh(_ names: [String], drainTimeout: Duration = .seconds(5)) async throws(ModuleError) -> [String] {
        var roots: [ModuleKey] = []
        for name in names {
            let name = try ModuleName(validating: name)
            roots += table.read { $0.old.keys.filter { $0.name == name } }
        }
        // The importers' closure, dependents before what they use (unload order).
        struct Reload { let name: String; let definition: any ModuleDefinition; let file: String?; let parameters: String }
        let order: [Reload] = table.read { snapshot in
            var visited = Set<ModuleKey>()
            var postorder: [ModuleKey] = []
            func visit(_ key: ModuleKey) {
                for importer in snapshot.dependents[key] ?? [] where visited.insert(importer).inserted {
                    visit(importer)
                    postorder.append(importer)
                }
            }
            for root in roots { visit(root) }
            return postorder.compactMap { key in
                snapshot.withModule(key.name) { r in
                    r.generation == key.generation
                        ? Reload(name: key.name.canonical, definition: r.definition, file: r.file, parameters: r.parameters.text)
                        : nil
                } ?? nil
            }
        }
        var unloaded: [Reload] = []
        for module in order {
            do throws(ModuleError) {
                try await unload(module.name, mode: .drain(timeout: drainTimeout))
                unloaded.append(module)
            } catch {
                for reload in unloaded.reversed() { _ = try? await self.reload(reload.definition, file: reload.file, parameters: reload.parameters) }
                throw ModuleError(
                    error.code, module: module.name, state: error.state, holders: error.holders,
                    reason: "refresh stopped: could not unload it (reloaded what it had unloaded)", underlying: error)
            }
        }
        var reloaded: [String] = []
        for module in unloaded.reversed() {
            do throws(ModuleError) {
                try await reload(module.definition, file: module.file, parameters: module.parameters)
                reloaded.append(module.name)
            } catch {
                throw ModuleError(
                    error.code, module: module.name,
                    reason: "refresh could not load it again"
                        + (reloaded.isEmpty ? "" : " (reloaded before it: \(reloaded.joined(separator: ", ")))"),
                    underlying: error)
            }
        }
        return reloaded
    }

    /// Loads a refreshed module again: from its file, or its definition.
    private func reload(_ definition: any ModuleDefinition, file: String?, parameters: String) async throws(ModuleError) {
        if let file {
            try await ensureLoaded(file: file, parameters: parameters)
        } else {
            _ = try await load(definition, parameters: parameters, for: .ensureLoaded)
        }
    }
}
