/// Loading module files (the kernel's `finit_module`).
///
/// 1. **Merge same-file loads** (the kernel's idempotent load, commit 9b9879fc): concurrent loads
///    of one file version, with the same entry point and parameters, find one record here; one of
///    them does the work and every caller gets its exact result — success or the very same error.
///    A load's own work (a request for a provider of its imports) is not merged here but by name
///    in step 3, where joining is an edge of the wait graph and lets a load still queued for a
///    request slot run on the joiner's: joined here, a dependency would wait for a top-level
///    request that waits for the slot the dependency's own load holds.
/// 2. **Check** without running anything of the module, **map** exactly what was checked, and
///    check the descriptor before any entry point runs: the one open pipeline, ``ModuleFile``.
/// 3. **Load** the resulting ``FileModule`` through the host's pipeline — name merging, imports
///    (a signature mismatch is refused here), formation, init — like any definition.
///
/// The image is released when the module is gone (``ModuleHost/unload(_:mode:)``), or at once if
/// the load made no module of it (a failure, or the module was already live): nothing stays mapped
/// that no module uses, except retired Swift code.
extension ModuleHost {
    /// Loads the module file at `path` with `insmod` semantics (see ``insert(_:parameters:)``).
    ///
    /// - Returns: how the load went, with what the file is (``LoadOutcome/file``: descriptor,
    ///   signature, code). Callers merged into a concurrent load of the same file get that load's
    ///   outcome — as ``LoadOutcome/How/joined`` where the load ran the init — or its very error.
    /// - Throws: the file errors — `notFound`, `permissionDenied`, `invalidFile`, `abiMismatch`,
    ///   `badSignature`, `keyRejected` — each naming the file with nothing loaded, then every error
    ///   of ``insert(_:parameters:)``, also naming the file.
    @discardableResult
    public func insert(file path: String, parameters: String = "") async throws(ModuleError) -> LoadOutcome {
        try await loadFile(path, parameters: parameters, for: .insert)
    }

    /// Makes sure the module in the file at `path` is live, with `modprobe` semantics (see
    /// ``ensureLoaded(_:parameters:)``): success if a module of its name is live at the end.
    ///
    /// - Throws: as ``insert(file:parameters:)``, except that a live module is success.
    @discardableResult
    public func ensureLoaded(file path: String, parameters: String = "") async throws(ModuleError) -> LoadOutcome {
        try await loadFile(path, parameters: parameters, for: .ensureLoaded)
    }

    /// How same-file loads have gone in this host.
    public var fileStatistics: FileLoadStatistics { files.statistics }

    /// A load of one file version: merged with every concurrent load of the same key.
    struct FileLoadKey: Hashable {
        let stamp: FileStamp
        let insert: Bool
        let parameters: String
    }

    func loadFile(_ path: String, parameters: String, for caller: LoadCaller) async throws(ModuleError) -> LoadOutcome {
        // A file that cannot even be stat'ed: let the read say why.
        guard let stamp = FileStamp.of(path) else {
            _ = try ModuleFileBytes.read(path)
            throw ModuleError(.notFound, file: path, reason: "no such module file")
        }
        // 1. A load's own work merges by name only (see the type's comment).
        if Waiter.current(in: self).load != nil {
            files.state.withLock { $0.statistics.attempts += 1 }
            return try await runFileLoad(path, parameters: parameters, for: caller)
        }
        let key = FileLoadKey(stamp: stamp, insert: caller == .insert, parameters: parameters)
        let (completion, won) = files.state.withLock { f in
            f.statistics.attempts += 1
            if let running = f.running[key] {
                f.statistics.mergedJoiners += 1
                metrics.mergedJoiners.increment()
                return (running, false)
            }
            let completion = Completion<Result<LoadOutcome, ModuleError>>()
            f.running[key] = completion
            return (completion, true)
        }
        if won {
            // In a task of its own: a cancelled caller cannot cut short what the others wait for.
            Task {
                let result: Result<LoadOutcome, ModuleError>
                do throws(ModuleError) {
                    result = .success(try await self.runFileLoad(path, parameters: parameters, for: caller))
                } catch {
                    result = .failure(error)
                }
                self.files.state.withLock { f in
                    f.running[key] = nil
                    if case .failure = result { f.statistics.failures += 1 }
                }
                completion.complete(result)
            }
        }
        switch await completion.wait() {
        case .value(let result):
            let outcome = try result.get()
            guard !won else { return outcome }
            // A caller merged here never passed through the name pipeline: note who wanted it,
            // and tell it that it joined (the init was the winner's).
            noteLoaded(outcome.module)
            guard outcome.how == .loaded else { return outcome }
            return LoadOutcome(module: outcome.module, how: .joined, parameterWarnings: outcome.parameterWarnings, file: outcome.file)
        case .cancelled, .timedOut:
            throw ModuleError(.cancelled, file: path, reason: "stopped waiting for the load of the file (cancelled); the load goes on")
        }
    }

    /// Steps 2–3 for the caller that does the work.
    private func runFileLoad(_ path: String, parameters: String, for caller: LoadCaller) async throws(ModuleError) -> LoadOutcome {
        let file = try ModuleFile.check(path, policy: configuration.signaturePolicy)
        let (image, descriptor) = try file.map(for: serial)
        files.count(mapped: 1)
        let module = FileModule(file: file, image: image, descriptor: descriptor, loads: files)
        let outcome: LoadOutcome
        do {
            outcome = try await load(module, parameters: parameters, for: caller)
        } catch {
            _ = module.releaseImageIfUnclaimed()
            var error = error
            if error.file == nil { error.file = path }
            throw error
        }
        // Live — but perhaps loaded by someone else (ensure-loaded found it live, or joined).
        _ = module.releaseImageIfUnclaimed()
        return outcome.with(file: module.file)
    }
}

/// A host's same-file loads in progress and its module-file counters (owned by the host, kept by
/// Files). Lock rule: a leaf lock, held only to edit the map and counters.
final class ModuleFileLoads: Sendable {
    struct State {
        var running: [ModuleHost.FileLoadKey: Completion<Result<LoadOutcome, ModuleError>>] = [:]
        var statistics = FileLoadStatistics()
    }
    let state = Locked(State())

    var statistics: FileLoadStatistics { state.withLock { $0.statistics } }

    /// Counts images mapped and what became of released ones.
    func count(mapped: Int = 0, _ release: ImageRelease? = nil) {
        state.withLock { f in
            f.statistics.mapped += mapped
            switch release {
            case .unmapped: f.statistics.unmapped += 1
            case .retired: f.statistics.retired += 1
            case .shared, nil: break
            }
        }
    }
}

/// Counters of a host's module-file loads.
public struct FileLoadStatistics: Sendable, Equatable {
    /// Calls of ``ModuleHost/insert(file:parameters:)`` and ``ModuleHost/ensureLoaded(file:parameters:)``.
    public var attempts = 0
    /// Calls merged into a concurrent load of the same file (they got its result).
    public var mergedJoiners = 0
    /// Loads (merged callers counted once) that failed.
    public var failures = 0
    /// Images mapped: one per load whose file passed every check, its descriptor's included (a
    /// load of a file version the host has mapped already shares that image, and counts too).
    public var mapped = 0
    /// Images released and unmapped — when their module was gone, or at once if the load made no
    /// module of them. Once every module is unloaded, `mapped == unmapped + retired` (+ shared
    /// images released while another load still used them).
    public var unmapped = 0
    /// Images released and kept mapped for good (Swift code, references outliving the module).
    public var retired = 0
}
