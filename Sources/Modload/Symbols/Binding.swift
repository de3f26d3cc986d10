#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Binding a load's imports (docs/design.md §6, step 3 of §4) and forming the module (step 4).
///
/// Binding reads the published symbol table (lock-free) until every import is exported by a
/// live module with the expected signature:
/// - an exporter that is `coming` is waited for — on its running-load record, through the wait
///   graph, up to `symbolWaitTimeout` — then binding looks again;
/// - a missing symbol is requested from the resolver when the load is a request (the providers
///   of all missing symbols in parallel — with the rest of the load's dependency closure when the
///   resolver knows it, so a tree loads at once rather than a level at a time); otherwise it is
///   `notFound`;
/// - an exporter that is going away is `notFound`; a signature mismatch is `symbolMismatch`,
///   naming both modules and both signatures.
///
/// Formation then re-checks the exporters under the table lock and takes one reference on each
/// distinct exporter, recording the use link, in the same critical section that publishes the
/// module's exports — so an unload of an exporter either sees the dependent or happened first.
extension ModuleHost {
    /// One bound import.
    struct ResolvedImport {
        let symbol: ImportedSymbol
        let exporter: ModuleRecord
        let value: any Sendable
    }

    /// `members`: for a member of an all-or-nothing set, its fellow members — exporters it binds
    /// to at once, whatever their state (the set's commit has waited for their inits).
    func bindImports(of running: RunningLoad, members: [ModuleRecord] = []) async throws(ModuleError) -> [ResolvedImport] {
        let record = running.record
        let imports = record.definition.imports
        guard !imports.isEmpty else { return [] }
        let importer = record.name
        var requested = Set<String>()
        while true {
            var resolved: [ResolvedImport] = []
            var missing: [ImportedSymbol] = []
            var coming: [ModuleName: ModuleRecord] = [:]
            try table.read { (snapshot: ModuleSnapshot) throws(ModuleError) in
                for symbol in imports {
                    guard let entry = snapshot.symbols[symbol.name],
                        let exporter = snapshot.modules[entry.exporter]?.takeUnretainedValue()
                    else {
                        missing.append(symbol)
                        continue
                    }
                    guard entry.signature == symbol.signature else {
                        throw ModuleError(
                            .symbolMismatch, module: importer.canonical,
                            reason: "imports \(symbol.name) as \(symbol.signature), but \(exporter.name) exports it as \(entry.signature)")
                    }
                    if members.contains(where: { $0 === exporter }) {
                        resolved.append(ResolvedImport(symbol: symbol, exporter: exporter, value: entry.value))
                        continue
                    }
                    switch exporter.state {
                    case .live where !exporter.isUnloading:
                        resolved.append(ResolvedImport(symbol: symbol, exporter: exporter, value: entry.value))
                    case .coming, .unformed:
                        // Coming — or a member of an all-or-nothing set, whose exports are reserved
                        // from its admission: wait for its load.
                        coming[exporter.name] = exporter
                    default:
                        throw ModuleError(
                            .notFound, module: importer.canonical,
                            reason: "needs \(symbol.name) from \(exporter.name), which is going away")
                    }
                }
            }
            if missing.isEmpty && coming.isEmpty { return resolved }
            if !missing.isEmpty {
                try await requestProviders(of: missing, for: importer, autoload: running.autoload, alreadyRequested: &requested)
            }
            if !coming.isEmpty { try await waitForInit(of: Array(coming.values), importer: running) }
        }
    }

    /// Requests the modules that provide `missing` (in parallel), or fails naming the first
    /// symbol nothing provides.
    private func requestProviders(
        of missing: [ImportedSymbol], for importer: ModuleName, autoload: Bool, alreadyRequested: inout Set<String>
    ) async throws(ModuleError) {
        guard autoload, let resolver = configuration.resolver else {
            throw ModuleError(
                .notFound, module: importer.canonical,
                reason: "needs unknown symbol \(missing[0].name)"
                    + (autoload ? " (no resolver to find its module)" : " (no loaded module exports it)"))
        }
        var providers: [String] = []
        for symbol in missing {
            guard let provider = resolver.provider(ofSymbol: symbol.name) else {
                throw ModuleError(
                    .notFound, module: importer.canonical,
                    reason: "needs unknown symbol \(symbol.name) (no module in the resolver provides it)")
            }
            guard !alreadyRequested.contains(provider) else {
                throw ModuleError(
                    .notFound, module: importer.canonical,
                    reason: "needs \(symbol.name), which \(provider) was loaded to provide but does not export")
            }
            if !providers.contains(provider) { providers.append(provider) }
        }
        alreadyRequested.formUnion(providers)
        // The importer's whole closure, when the resolver knows it — unless this load is itself
        // part of a closure being requested (its modules are on their way): in the resolver's
        // order, those needed first, first; then any direct provider the closure left out. Only
        // the direct providers' failures fail this load (each names the chain below it).
        let closure: [(module: String, direct: Bool)] = {
            guard !ClosureRequest.current else { return [] }
            var listed = Set<String>()
            var closure = resolver.dependencies(of: importer.canonical).filter { listed.insert($0).inserted }
                .map { (module: $0, direct: providers.contains($0)) }
            if !closure.isEmpty { closure += providers.filter { listed.insert($0).inserted }.map { ($0, true) } }
            return closure
        }()
        // Each request does part of this load's work: it re-scopes to its own task, so its waits
        // are this load's edges.
        let scope = LoadScope.current
        @Sendable func requestAsWork(_ module: String, admitted: Completion<Void>?) async -> ModuleError? {
            await LoadScope.$current.withValue(scope?.forCurrentTask()) {
                await DependencyLoad.$current.withValue(true) {
                    await ClosureRequest.$current.withValue(!closure.isEmpty) {
                        await RequestAdmission.$signal.withValue(admitted) {
                            do throws(ModuleError) {
                                try await self.request(module)
                                return nil
                            } catch {
                                return error
                            }
                        }
                    }
                }
            }
        }
        let failures = await withTaskGroup(of: (String, ModuleError)?.self) { group in
            if closure.isEmpty {
                // Independent providers load in parallel.
                for provider in providers {
                    group.addTask { await requestAsWork(provider, admitted: nil).map { (provider, $0) } }
                }
            } else {
                // A closure is requested in one lane, at low priority: each request starts once the
                // oldest still opening has been admitted (its file checked and mapped), then goes on
                // in parallel with the rest. Opening files ahead of need so never queues in front
                // of the pipelines and init continuations the loads above wait for, and the deepest
                // files, opened first, start their inits while the rest of the tree is opened.
                var opening: [Completion<Void>] = []
                for (module, direct) in closure {
                    if opening.count == Self.closureLaneWidth { _ = await opening.removeFirst().wait() }
                    let admitted = Completion<Void>()
                    opening.append(admitted)
                    group.addTask(priority: .low) {
                        let error = await requestAsWork(module, admitted: admitted)
                        admitted.complete(())
                        return direct ? error.map { (module, $0) } : nil
                    }
                }
            }
            var failures: [(String, ModuleError)] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        if let (provider, error) = failures.min(by: { $0.0 < $1.0 }) {
            throw ModuleError.dependency(
                importer.canonical, failedOn: provider, reason: "needs \(provider), which could not be loaded", error)
        }
    }

    /// How many requests of a dependency closure may be opening their files at once: one per
    /// processor.
    static let closureLaneWidth = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Waits for the init of each `coming` exporter (its running load), up to `symbolWaitTimeout`.
    private func waitForInit(of exporters: [ModuleRecord], importer load: RunningLoad) async throws(ModuleError) {
        let importer = load.record.name
        for exporter in exporters {
            guard let running = table.write({ $0.running[exporter.name] }) else { continue }  // already decided
            try addWait(from: load, to: running)
            defer { removeWait(from: load, to: running) }
            switch await running.outcome.wait(timeout: configuration.symbolWaitTimeout) {
            case .value(.success):
                continue
            case .value(.failure(let error)):
                var failure = ModuleError.dependency(
                    importer.canonical, failedOn: exporter.name.canonical,
                    reason: "needs symbols from \(exporter.name), whose load failed", error)
                if failure.cycle == nil { failure.code = .notFound }
                throw failure
            case .timedOut:
                throw ModuleError(
                    .busy, module: importer.canonical,
                    reason: "gave up waiting for init of \(exporter.name) after \(configuration.symbolWaitTimeout)")
            case .cancelled:
                throw ModuleError(.cancelled, module: importer.canonical, reason: "cancelled while waiting for \(exporter.name)")
            }
        }
    }

    /// What formation does with a module's exports.
    enum FormedExports {
        /// Publish them (a load).
        case publish
        /// They were reserved when the module was admitted (a member of an all-or-nothing set,
        /// whose fellow members — `members` — are provisional exporters it may reference).
        case reserved(members: [ModuleRecord])
        /// Only check them: they are published at the switch of a replace (`replacing` is the
        /// generation whose exports they take over).
        case atSwitch(replacing: ModuleName)
    }

    /// Step 4 (table lock held): re-check and reference the exporters, publish the exports, link,
    /// go `coming`. Returns the error instead, with nothing changed.
    func form(
        _ record: ModuleRecord, with bindings: [ResolvedImport], in t: inout ModuleTable.Writer,
        exports: FormedExports = .publish
    ) -> ModuleError? {
        var targets: [ModuleRecord] = []
        func undo() { for target in targets { target.releaseHostReference() } }
        for binding in bindings where !targets.contains(where: { $0 === binding.exporter }) {
            let exporter = binding.exporter
            // A fellow member of the set: provisional (no try-get), its base held until the set
            // is published or rolled back — which waits for this member.
            if case .reserved(let members) = exports, members.contains(where: { $0 === exporter }) {
                exporter.acquireHeld(holder: nil)
                targets.append(exporter)
                continue
            }
            // Unloads decide under this lock, so a live exporter that is not unloading now cannot
            // start unloading before this module is linked as its dependent.
            guard t.module(exporter.name) === exporter, exporter.tryAcquire(holder: nil) else {
                undo()
                return ModuleError(
                    .notFound, module: record.name.canonical,
                    reason: "needs \(binding.symbol.name) from \(exporter.name), which went away while binding")
            }
            targets.append(exporter)
        }
        let conflict: (symbol: String, owner: ModuleName)?
        switch exports {
        case .publish: conflict = t.publishExports(of: record)
        case .reserved: conflict = nil
        case .atSwitch(let replacing): conflict = t.conflictingExport(of: record, except: replacing)
        }
        if let (symbol, owner) = conflict {
            undo()
            return ModuleError(
                .duplicateSymbol, module: record.name.canonical,
                reason: owner == record.name
                    ? "exports \(symbol) twice" : "exports \(symbol), which \(owner) already exports")
        }
        for target in targets { t.link(record.key, uses: target.key) }
        var bound: [String: BoundImports.Binding] = [:]
        for binding in bindings {
            bound[binding.symbol.name] = BoundImports.Binding(
                signature: binding.symbol.signature, value: binding.value, exporter: binding.exporter.name.canonical)
        }
        record.bind(BoundImports(bindings: bound), targets: targets)
        if case .reserved = exports { record.setProvisionalState(.coming) } else { record.setState(.coming) }
        // The taint is set here, with the module formed; the caller logs it once the lock is
        // released (a log handler is the user's code).
        if !record.definition.taints.isEmpty { taint(record.definition.taints) }
        return nil
    }
}

/// Set (task-local) for a request of a dependency closure's lane (``ModuleHost/bindImports(of:)``):
/// completed once the request has been admitted — its load running, joined or found live — or has
/// ended, so the lane starts the next.
enum RequestAdmission {
    @TaskLocal static var signal: Completion<Void>?

    /// The current request has been admitted.
    static func note() { _ = signal?.complete(()) }
}

/// Set (task-local) in the requests of a load's dependency closure (``ModuleResolver/dependencies(of:)``)
/// and the loads they make: their own closures are part of the one being requested, so they
/// request only their direct providers.
enum ClosureRequest {
    @TaskLocal static var current = false
}
