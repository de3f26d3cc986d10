import Synchronization

/// Loading a set of modules all or nothing (docs/design.md §16; Erlang's `atomic_load`, split as
/// `prepare_loading` / `finish_loading`).
///
/// **Prepare** (``ModuleHost/prepare(_:firstTime:)``) changes nothing anyone can see:
/// 1. members named by name or alias are resolved, with their dependency closures;
/// 2. module files are checked and mapped, in parallel (nothing of them runs);
/// 3. names and parameters are checked, and duplicates in the set refused;
/// 4. members already live are set aside (or refused, with `firstTime`);
/// 5. exports are checked against each other and the live ones, imports bound on paper against
///    the live exports and the set's own;
/// 6. the members are put in dependency order; a cycle fails, naming it.
/// Any failure releases what was mapped and reports **every** member's error.
///
/// **Commit** (``ModuleHost/commit(_:)``):
/// 1. **Admit** every member under one table lock, or none: a member another caller is loading
///    now is *joined*; the others get provisional records and reserved exports — their names
///    taken, their exports visible only to fellow members (an outside load of a member's name
///    or symbol waits for the set; an outside acquire or call gets `busy`).
/// 2. **Init** in dependency order, independent members in parallel: each binds, forms and runs
///    its init once the members it uses are up. After a failure no further init starts.
/// 3. **Publish**: every member turns live in one critical section, then `live` goes out for
///    each and every waiting caller is answered.
/// 4. **Or roll back**: the members that came up are taken down in the reverse of the order they
///    came up — their cleanup, then their exit — and every member goes (`going`, `gone`). A
///    member whose cleanup refuses is left `old` (never live) and the host tainted
///    ``TaintFlags/rollbackFailed``. The error names the failing member and the rolled-back ones.
extension ModuleHost {
    /// Loads `members` as a set.
    ///
    /// - ``SetLoadMode/allOrNothing``: ``prepare(_:firstTime:)`` then ``commit(_:)``.
    /// - ``SetLoadMode/bestEffort``: each member loaded in parallel with `modprobe` semantics
    ///   (``request(_:parameters:)`` for names, ``ensureLoaded(_:parameters:)`` otherwise); the
    ///   outcome lists the failures, nothing is rolled back.
    ///
    /// - Throws: for all-or-nothing, the errors of ``prepare(_:firstTime:)`` and ``commit(_:)``;
    ///   for best effort, only `invalidArgument` for an empty set.
    @discardableResult
    public func load(_ members: [ModuleSetMember], mode: SetLoadMode, firstTime: Bool = false) async throws(ModuleError) -> SetOutcome {
        guard !members.isEmpty else { throw ModuleError(.invalidArgument, reason: "a set needs at least one member") }
        switch mode {
        case .allOrNothing:
            return try await commit(try await prepare(members, firstTime: firstTime))
        case .bestEffort:
            let results = await withTaskGroup(of: (Int, Result<LoadOutcome, ModuleError>).self) { group in
                for (index, member) in members.enumerated() {
                    group.addTask { (index, await self.loadBestEffort(member, firstTime: firstTime)) }
                }
                var results: [(Int, Result<LoadOutcome, ModuleError>)] = []
                for await result in group { results.append(result) }
                return results.sorted { $0.0 < $1.0 }.map(\.1)
            }
            var loaded: [LoadOutcome] = []
            var failures: [ModuleError] = []
            for result in results {
                switch result {
                case .success(let outcome): loaded.append(outcome)
                case .failure(let error): failures.append(error)
                }
            }
            return SetOutcome(members: loaded, failures: failures)
        }
    }

    private func loadBestEffort(_ member: ModuleSetMember, firstTime: Bool) async -> Result<LoadOutcome, ModuleError> {
        do throws(ModuleError) {
            let caller: LoadCaller = firstTime ? .insert : .ensureLoaded
            switch member.source {
            case .named(let name):
                if firstTime, let live = try? ModuleName(validating: name), state(of: live.canonical) == .live {
                    throw ModuleError(.exists, module: live.canonical, state: .live, reason: "is already loaded")
                }
                return .success(try await request(name, parameters: member.parameters))
            case .definition(let definition):
                return .success(try await load(definition, parameters: member.parameters, for: caller))
            case .file(let path):
                return .success(try await loadFile(path, parameters: member.parameters, for: caller))
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: Prepare

    /// Prepares an all-or-nothing load of `members` (steps 1–6 above): nothing outside the host
    /// — and nothing inside it — changes; module files are checked and mapped, and stay mapped
    /// until the set is committed or released.
    ///
    /// - Parameters:
    ///   - members: what to load: definitions, module files, names or aliases.
    ///   - firstTime: a member already live is an error (`exists`), as with
    ///     `modprobe --first-time`; otherwise it is left as it is and reported as already live.
    /// - Throws: one error naming every member that failed — its ``ModuleError/memberErrors``
    ///   lists them all, step by step in the order above; its code is the first one's. Nothing
    ///   stays mapped.
    public func prepare(_ members: [ModuleSetMember], firstTime: Bool = false) async throws(ModuleError) -> PreparedModuleSet {
        guard !members.isEmpty else { throw ModuleError(.invalidArgument, reason: "a set needs at least one member") }
        var errors: [ModuleError] = []

        // 1. Resolve names and aliases, with their closures (what a module uses first).
        enum Source { case definition(any ModuleDefinition), file(String) }
        var sources: [(source: Source, parameters: String, explicit: Bool)] = []
        var resolvedNames = Set<String>()
        for member in members {
            switch member.source {
            case .definition(let definition): sources.append((.definition(definition), member.parameters, true))
            case .file(let path): sources.append((.file(path), member.parameters, true))
            case .named(let requested):
                guard let resolver = configuration.resolver else {
                    errors.append(ModuleError(.autoloadDisabled, module: requested, reason: "cannot be resolved: the host has no resolver"))
                    continue
                }
                let resolutions: [ModuleResolution]
                do throws(ModuleError) {
                    resolutions = try resolver.resolve(requested)
                } catch {
                    errors.append(error)
                    continue
                }
                if resolutions.isEmpty {
                    errors.append(ModuleError(.notFound, module: requested, reason: "no module of that name or alias is known"))
                }
                for resolution in resolutions {
                    var chain: [(ModuleResolution, String)] = []
                    for dependency in resolver.dependencies(of: resolution.module) {
                        do throws(ModuleError) {
                            if let found = try resolver.resolve(dependency).first { chain.append((found, found.parameters)) }
                        } catch {
                            errors.append(error)
                        }
                    }
                    let merged = [resolution.parameters, member.parameters].filter { !$0.isEmpty }.joined(separator: " ")
                    chain.append((resolution, merged))
                    for (index, (found, parameters)) in chain.enumerated() {
                        let explicit = index == chain.count - 1
                        // A dependency another member's closure already brought is listed once.
                        guard resolvedNames.insert(found.module).inserted || explicit else { continue }
                        switch found.source {
                        case .definition(let definition): sources.append((.definition(definition), parameters, explicit))
                        case .file(let path): sources.append((.file(path), parameters, explicit))
                        }
                    }
                }
            }
        }

        // 2. Check and map module files, in parallel (nothing of them runs).
        let policy = configuration.signaturePolicy
        let host = serial
        let fileResults = await withTaskGroup(of: (Int, Result<FileModule, ModuleError>).self) { group in
            for (index, entry) in sources.enumerated() {
                guard case .file(let path) = entry.source else { continue }
                let loads = files
                group.addTask {
                    do throws(ModuleError) {
                        let file = try ModuleFile.check(path, policy: policy)
                        let (image, descriptor) = try file.map(for: host)
                        loads.count(mapped: 1)
                        return (index, .success(FileModule(file: file, image: image, descriptor: descriptor, loads: loads)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results: [Int: Result<FileModule, ModuleError>] = [:]
            for await (index, result) in group { results[index] = result }
            return results
        }
        var candidates: [PreparedModuleSet.Member] = []
        var mapped: [FileModule] = []
        for (index, entry) in sources.enumerated() {
            let definition: any ModuleDefinition
            switch entry.source {
            case .definition(let given): definition = given
            case .file:
                switch fileResults[index]! {
                case .success(let module):
                    mapped.append(module)
                    definition = module
                case .failure(let error):
                    errors.append(error)
                    continue
                }
            }
            // 3. Names and parameters.
            let name: ModuleName
            do throws(ModuleError) {
                name = try ModuleName(validating: definition.name)
            } catch {
                errors.append(error)
                continue
            }
            let parsed = ParameterParser.parse(entry.parameters, specification: definition.parameters)
            guard parsed.errors.isEmpty else {
                errors.append(
                    ModuleError(
                        .invalidArgument, module: name.canonical,
                        reason: "bad parameters: " + (parsed.errors + parsed.warnings).joined(separator: "; ")))
                continue
            }
            if let earlier = candidates.firstIndex(where: { $0.name == name }) {
                // Brought twice by closures, or listed again after a closure brought it: once.
                if entry.explicit && candidates[earlier].explicit {
                    errors.append(ModuleError(.invalidArgument, module: name.canonical, reason: "is listed twice in the set"))
                }
                continue
            }
            candidates.append(
                PreparedModuleSet.Member(
                    name: name, definition: definition, parameters: parsed.parameters, warnings: parsed.warnings,
                    explicit: entry.explicit, uses: []))
        }

        // 4–5. Against the table: members already live, exports, imports.
        var alreadyLive: [String] = []
        table.read { snapshot in
            var exporters: [String: Int] = [:]
            candidates = candidates.filter { member in
                guard let existing = snapshot.modules[member.name]?.takeUnretainedValue(), existing.state != .unformed else {
                    return true
                }
                if existing.state == .live && !existing.isUnloading && !existing.isProvisional {
                    if firstTime {
                        errors.append(ModuleError(.exists, module: member.name.canonical, state: .live, reason: "is already loaded"))
                    } else {
                        alreadyLive.append(member.name.canonical)
                    }
                    return false
                }
                // Loading, failing or being unloaded: commit decides, under the table lock (a load
                // still running is joined, a module being unloaded refuses the set).
                return true
            }
            for (index, member) in candidates.enumerated() {
                for export in member.definition.exports {
                    if let other = exporters[export.name] {
                        errors.append(
                            ModuleError(
                                .duplicateSymbol, module: member.name.canonical,
                                reason: "exports \(export.name), which \(candidates[other].name) in the same set exports"))
                    } else if let owner = snapshot.symbols[export.name]?.exporter, owner != member.name {
                        errors.append(
                            ModuleError(.duplicateSymbol, module: member.name.canonical, reason: "exports \(export.name), which \(owner) already exports"))
                    } else {
                        exporters[export.name] = index
                    }
                }
            }
            for index in candidates.indices {
                let member = candidates[index]
                for symbol in member.definition.imports {
                    if let exporter = exporters[symbol.name] {
                        let export = candidates[exporter].definition.exports.first { $0.name == symbol.name }!
                        if export.signature != symbol.signature {
                            errors.append(
                                ModuleError(
                                    .symbolMismatch, module: member.name.canonical,
                                    reason: "imports \(symbol.name) as \(symbol.signature), but \(candidates[exporter].name) exports it as \(export.signature)"))
                        } else if exporter != index, !candidates[index].uses.contains(exporter) {
                            candidates[index].uses.append(exporter)
                        }
                    } else if let entry = snapshot.symbols[symbol.name],
                        let owner = snapshot.modules[entry.exporter]?.takeUnretainedValue(), owner.isCallable
                    {
                        if entry.signature != symbol.signature {
                            errors.append(
                                ModuleError(
                                    .symbolMismatch, module: member.name.canonical,
                                    reason: "imports \(symbol.name) as \(symbol.signature), but \(owner.name) exports it as \(entry.signature)"))
                        }
                    } else {
                        errors.append(
                            ModuleError(
                                .notFound, module: member.name.canonical,
                                reason: "needs unknown symbol \(symbol.name) (neither the set nor a loaded module exports it)"))
                    }
                }
            }
        }

        // 6. Dependency order; a cycle fails, naming it.
        let order = Self.dependencyOrder(candidates)
        if order.count < candidates.count {
            let cycle = Self.cycle(in: candidates, excluding: Set(order))
            errors.append(ModuleError.ring(cycle, module: cycle[0]))
        }

        guard errors.isEmpty else {
            for module in mapped { _ = module.releaseImageIfUnclaimed() }
            throw Self.setError(errors, of: sources.count)
        }
        // The members, reindexed in dependency order.
        var position: [Int: Int] = [:]
        for (at, index) in order.enumerated() { position[index] = at }
        let ordered = order.map { index in
            var member = candidates[index]
            member.uses = member.uses.map { position[$0]! }
            return member
        }
        return PreparedModuleSet(
            members: ordered, alreadyLive: alreadyLive, images: mapped, host: ObjectIdentifier(self), firstTime: firstTime)
    }

    /// Kahn's order over the members' use edges, ties in the set's order; members on a cycle are
    /// left out.
    private static func dependencyOrder(_ members: [PreparedModuleSet.Member]) -> [Int] {
        let uses = members.map { Set($0.uses) }
        var order: [Int] = []
        var placed = Set<Int>()
        while let next = uses.indices.first(where: { !placed.contains($0) && uses[$0].isSubset(of: placed) }) {
            order.append(next)
            placed.insert(next)
        }
        return order
    }

    /// One ring among the members left out of the order, first member repeated at the end.
    private static func cycle(in members: [PreparedModuleSet.Member], excluding placed: Set<Int>) -> [String] {
        var at = members.indices.first { !placed.contains($0) }!
        var path: [Int] = []
        while !path.contains(at) {
            path.append(at)
            at = members[at].uses.first { !placed.contains($0) }!
        }
        let ring = path[path.firstIndex(of: at)!...] + [at]
        return ring.map { members[$0].name.canonical }
    }

    /// The one error of a set whose members failed to prepare: the first one's code, every
    /// member's error in ``ModuleError/memberErrors``.
    private static func setError(_ errors: [ModuleError], of count: Int) -> ModuleError {
        var error = ModuleError(
            errors[0].code,
            reason: "the set was not loaded (nothing changed): \(errors.count) error\(errors.count == 1 ? "" : "s") "
                + "among its \(count) member\(count == 1 ? "" : "s"): " + errors.map(\.description).joined(separator: "; "))
        error.cycle = errors.lazy.compactMap(\.cycle).first
        error.memberErrors = errors
        return error
    }

    // MARK: Commit

    /// Commits a prepared set (steps 1–4 above): every member live, or none of those it loads.
    ///
    /// A member that another caller was loading when the commit began is joined: the set waits
    /// for that load, fails if it fails, and counts it as ``LoadOutcome/How/joined``; it is that
    /// caller's module, so a rollback does not take it down. A member found live by then is
    /// ``LoadOutcome/How/alreadyLive``.
    ///
    /// - Returns: each member's outcome, in dependency order (those already live at prepare first).
    /// - Throws: `invalidArgument` (a set committed twice, or prepared by another host); `busy`
    ///   (a member is going away now — nothing changed); `exists` (with `firstTime`, a member
    ///   became live since prepare); `duplicateSymbol` (a module loaded since prepare exports a
    ///   member's symbol — nothing changed); otherwise the failing member's error, its
    ///   ``ModuleError/rolledBack`` naming the members taken down again, in order.
    @discardableResult
    public func commit(_ prepared: PreparedModuleSet) async throws(ModuleError) -> SetOutcome {
        guard prepared.host == ObjectIdentifier(self) else {
            throw ModuleError(.invalidArgument, reason: "the set was prepared by another host")
        }
        guard prepared.claim() else { throw ModuleError(.invalidArgument, reason: "the set was already committed") }
        defer { prepared.releaseUnclaimedImages() }
        let members = prepared.members

        // 1. Admit every member, or none.
        enum Slot { case run(RunningLoad), join(RunningLoad), live }
        let slots = try table.write { (t: inout ModuleTable.Writer) throws(ModuleError) -> [Slot] in
            var slots: [Slot?] = Array(repeating: nil, count: members.count)
            for (index, member) in members.enumerated() {
                if let running = t.running[member.name] {
                    slots[index] = .join(running)
                } else if let existing = t.module(member.name) {
                    guard existing.state == .live, !existing.isUnloading else {
                        throw ModuleError(.busy, module: member.name.canonical, state: existing.state, reason: "is going away; the set was not loaded")
                    }
                    if prepared.firstTime {
                        throw ModuleError(.exists, module: member.name.canonical, state: .live, reason: "was loaded since the set was prepared")
                    }
                    slots[index] = .live
                }
            }
            // The members it runs export what nobody exports (prepare checked; a load since may).
            for (index, member) in members.enumerated() where slots[index] == nil {
                for export in member.definition.exports {
                    if let owner = t.symbols[export.name]?.exporter {
                        throw ModuleError(
                            .duplicateSymbol, module: member.name.canonical,
                            reason: "exports \(export.name), which \(owner) exported since the set was prepared; the set was not loaded")
                    }
                }
            }
            for (index, member) in members.enumerated() where slots[index] == nil {
                let statistics = t.statistics(for: member.name)
                let context = ModuleContext(
                    name: member.name.canonical, logger: moduleLogger(for: member.name), imports: .none,
                    parameters: member.parameters, host: self)
                let record = ModuleRecord(
                    name: member.name, generation: t.nextGeneration(of: member.name), definition: member.definition,
                    context: context, statistics: statistics, tracksHolders: configuration.tracksReferenceHolders,
                    parameterWarnings: member.warnings)
                record.setProvisionalState(.unformed)
                let running = RunningLoad(record: record)
                t.insert(record)
                t.running[member.name] = running
                _ = t.publishExports(of: record)  // reserved: checked above and at prepare
                slots[index] = .run(running)
            }
            for slot in slots { if case .join(let running) = slot { running.callers.add(1, ordering: .relaxed) } }
            return slots.map { $0! }
        }
        for slot in slots {
            if case .run(let running) = slot { (running.record.definition as? any FileBackedDefinition)?.claim() }
        }
        let records: [ModuleRecord] = slots.compactMap { if case .run(let running) = $0 { running.record } else { nil } }

        // 2. Inits in dependency order, independent ones in parallel — in a task of its own: the
        // caller's cancellation cannot cut the set short half-way (a load's rule).
        let up = (0..<members.count).map { _ in Completion<Bool>() }
        let progress = Locked((failure: (member: String, error: ModuleError)?.none, upOrder: [Int]()))
        await Task { await withTaskGroup(of: Void.self) { group in
            for (index, slot) in slots.enumerated() {
                let member = members[index]
                switch slot {
                case .live:
                    up[index].complete(true)
                case .join(let running):
                    group.addTask {
                        // Every member the set runs now waits for this load (the set is published
                        // as one): edges of the wait graph, so a load that in turn waits for one of
                        // them closes a ring that fails at once instead of a hang.
                        let waiting = slots.compactMap { slot -> RunningLoad? in if case .run(let member) = slot { member } else { nil } }
                        var added: [RunningLoad] = []
                        defer {
                            for member in added { self.removeWait(from: member, to: running) }
                            running.callers.subtract(1, ordering: .relaxed)
                        }
                        do throws(ModuleError) {
                            for member in waiting {
                                try self.addWait(from: member, to: running)
                                added.append(member)
                            }
                        } catch {
                            progress.withLock { p in if p.failure == nil { p.failure = (member.name.canonical, error) } }
                            up[index].complete(false)
                            return
                        }
                        let result = await running.outcome.wait()
                        if case .value(.failure(let error)) = result {
                            progress.withLock { p in if p.failure == nil { p.failure = (member.name.canonical, error) } }
                            up[index].complete(false)
                        } else {
                            up[index].complete(true)
                        }
                    }
                case .run(let running):
                    group.addTask {
                        for dependency in member.uses { guard case .value(true) = await up[dependency].wait() else { up[index].complete(false); return } }
                        if progress.withLock({ $0.failure != nil }) {
                            up[index].complete(false)
                            return
                        }
                        if let error = await self.bringUp(running, members: records) {
                            progress.withLock { p in if p.failure == nil { p.failure = (member.name.canonical, error) } }
                            up[index].complete(false)
                        } else {
                            progress.withLock { $0.upOrder.append(index) }
                            up[index].complete(true)
                        }
                    }
                }
            }
        } }.value
        let (failure, upOrder) = progress.withLock { ($0.failure, $0.upOrder) }

        // 3. Publish.
        guard let failure else {
            for record in records { record.releaseHostReference() }  // the init references, still coming
            table.write { _ in for record in records { record.setState(.live) } }
            for record in records {
                record.statistics.loads.add(1, ordering: .relaxed)
                metrics.loads.increment()
                metrics.moduleLive(1)
                eventHub.emit(ModuleEvent(kind: .live, module: record.name.canonical, generation: record.generation))
            }
            table.write { t in for record in records { t.running[record.name] = nil } }
            for slot in slots { if case .run(let running) = slot { running.outcome.complete(.success(())) } }
            // Who wanted each: the caller, or — for a module a named member's closure brought in —
            // the member that needs it (modprobe -r may take it away with that member).
            for (member, slot) in zip(members, slots) {
                guard case .run = slot else { continue }
                DependencyLoad.$current.withValue(!member.explicit) { noteLoaded(member.name.canonical) }
            }
            let outcomes = prepared.alreadyLive.map { LoadOutcome(module: $0, how: .alreadyLive, parameterWarnings: []) }
                + zip(members, slots).map { member, slot in
                    let how: LoadOutcome.How = switch slot {
                    case .run: .loaded
                    case .join: .joined
                    case .live: .alreadyLive
                    }
                    let file = (member.definition as? FileModule)?.file
                    return LoadOutcome(module: member.name.canonical, how: how, parameterWarnings: member.warnings, file: file)
                }
            return SetOutcome(members: outcomes, failures: [])
        }

        // 4. Roll back: the members that came up, in reverse; then every member goes.
        var rolledBack: [String] = []
        var retired: [String] = []
        var setError = failure.error
        for index in upOrder.reversed() {
            guard case .run(let running) = slots[index] else { continue }
            let record = running.record
            do {
                try await record.definition.cleanup(record.context)
            } catch {
                retired.append(record.name.canonical)
                continue
            }
            await record.definition.exit(record.context)
            rolledBack.append(record.name.canonical)
        }
        setError.rolledBack = rolledBack
        setError.reason += "; the set was rolled back"
            + (rolledBack.isEmpty ? " (no other member had come up)" : ": exits of \(rolledBack.joined(separator: ", ")) ran, in that order")
            + (retired.isEmpty ? "" : "; \(retired.joined(separator: ", ")) refused to be taken down and were left old (host tainted)")
        if setError.module == nil { setError.module = failure.member }
        for slot in slots {
            guard case .run(let running) = slot else { continue }
            let record = running.record
            if retired.contains(record.name.canonical) {
                await retire(running, setError)
            } else {
                await failLoad(running, setError, remember: record.name.canonical == failure.member)
            }
        }
        throw setError
    }

    /// Steps of one member: bind (fellow members at once), form with its exports reserved,
    /// observers and init. Returns why it could not come up.
    private func bringUp(_ running: RunningLoad, members: [ModuleRecord]) async -> ModuleError? {
        let record = running.record
        return await LoadScope.$current.withValue(LoadScope(host: ObjectIdentifier(self), load: running)) {
            let bindings: [ResolvedImport]
            do throws(ModuleError) {
                bindings = try await bindImports(of: running, members: members)
            } catch {
                return error
            }
            if let error = table.write({ t in form(record, with: bindings, in: &t, exports: .reserved(members: members)) }) {
                return error
            }
            return await observeAndInitialize(record)
        }
    }

    /// A member whose cleanup refused the rollback: left old and provisional (never live, no
    /// references), its exports withdrawn, its name free; the host tainted.
    private func retire(_ running: RunningLoad, _ error: ModuleError) async {
        let record = running.record
        taint(.rollbackFailed)
        logger.error("set member refused to be rolled back; left old, host tainted", metadata: ["module": "\(record.name)"])
        table.write { t in
            t.withdrawExports(of: record)
            t.makeOld(record)
            record.setProvisionalState(.old)
            if t.running[record.name] === running { t.running[record.name] = nil }
        }
        eventHub.emit(ModuleEvent(kind: .old, module: record.name.canonical, generation: record.generation))
        running.outcome.complete(.failure(error))
    }
}

/// One member of a set (``ModuleHost/load(_:mode:firstTime:)``): what to load, and its parameters.
public struct ModuleSetMember: Sendable {
    enum Source: Sendable {
        case definition(any ModuleDefinition)
        case file(String)
        case named(String)
    }
    let source: Source
    let parameters: String

    /// A built-in definition.
    public static func definition(_ definition: some ModuleDefinition, parameters: String = "") -> ModuleSetMember {
        ModuleSetMember(source: .definition(definition), parameters: parameters)
    }

    /// A module file, checked and mapped at prepare.
    public static func file(_ path: String, parameters: String = "") -> ModuleSetMember {
        ModuleSetMember(source: .file(path), parameters: parameters)
    }

    /// A name or alias, resolved through the host's resolver at prepare — with the modules it
    /// depends on (``ModuleResolver/dependencies(of:)``), which join the set. The resolver's
    /// configured parameters come first, then `parameters`. Soft dependencies are not followed.
    public static func named(_ nameOrAlias: String, parameters: String = "") -> ModuleSetMember {
        ModuleSetMember(source: .named(nameOrAlias), parameters: parameters)
    }
}

/// How ``ModuleHost/load(_:mode:firstTime:)`` treats a set.
public enum SetLoadMode: String, Sendable, Equatable {
    /// Every member live, or none (prepare, then commit).
    case allOrNothing
    /// Each member loaded on its own, failures reported, nothing rolled back (`modprobe a b c`).
    case bestEffort
}

/// What loading a set did.
public struct SetOutcome: Sendable {
    /// The members that are live, in dependency order, each saying how.
    public let members: [LoadOutcome]
    /// Best effort only: the members that failed, in the set's order (empty otherwise).
    public let failures: [ModuleError]
}

/// A set checked and mapped by ``ModuleHost/prepare(_:firstTime:)``, waiting for
/// ``ModuleHost/commit(_:)``. Committed once; if it never is, its module files are released when
/// it is deallocated.
public final class PreparedModuleSet: Sendable {
    struct Member: Sendable {
        let name: ModuleName
        let definition: any ModuleDefinition
        let parameters: ModuleParameters
        let warnings: [String]
        /// Named by the caller (not brought in by another member's closure).
        let explicit: Bool
        /// The members it imports from (indices in the set).
        var uses: [Int]
    }

    /// The members to load, in dependency order.
    let members: [Member]
    /// Members found live at prepare, left as they are.
    let alreadyLive: [String]
    let firstTime: Bool
    let host: ObjectIdentifier
    private let images: [FileModule]
    private let committed = Atomic<Bool>(false)

    init(members: [Member], alreadyLive: [String], images: [FileModule], host: ObjectIdentifier, firstTime: Bool = false) {
        self.members = members
        self.alreadyLive = alreadyLive
        self.images = images
        self.host = host
        self.firstTime = firstTime
    }

    deinit { releaseUnclaimedImages() }

    /// The members to load, in the order their inits start (what a member uses first).
    public var modules: [String] { members.map(\.name.canonical) }
    /// The members that were already live when the set was prepared.
    public var modulesAlreadyLive: [String] { alreadyLive }

    /// `true` for the one commit that may go ahead.
    func claim() -> Bool { !committed.exchange(true, ordering: .acquiringAndReleasing) }

    /// Releases the images no module took (all of them, before a commit).
    func releaseUnclaimedImages() {
        for image in images { _ = image.releaseImageIfUnclaimed() }
    }
}
