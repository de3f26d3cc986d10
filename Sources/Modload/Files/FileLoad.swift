/// Loading module files (the kernel's `finit_module`).
///
/// 1. **Merge same-file loads** (the kernel's idempotent load, commit 9b9879fc): concurrent loads
///    of one file version, with the same entry point and parameters, find one record here; one of
///    them does the work and every caller gets its exact result — success or the very same error.
/// 2. **Validate** without running anything of the module (``ValidatedModuleFile``): the ELF
///    image, the descriptor symbol and its ABI version, the signature under the host's policy.
/// 3. **Map** (``ImageRegistry``) and check the descriptor before any entry point runs.
/// 4. **Load** the resulting ``FileModule`` through the host's pipeline — name merging, imports
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
    ///   exact outcome.
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
    public var fileStatistics: FileLoadStatistics { fileLoads.withLock { $0.statistics } }

    /// A load of one file version: merged with every concurrent load of the same key.
    struct FileLoadKey: Hashable {
        let identity: FileIdentity
        let insert: Bool
        let parameters: String
    }

    /// Same-file loads in progress, and their counters. Lock rule: a leaf lock, held only to edit
    /// the map and counters.
    struct FileLoads {
        var running: [FileLoadKey: Completion<Result<LoadOutcome, ModuleError>>] = [:]
        var statistics = FileLoadStatistics()
    }

    private func loadFile(_ path: String, parameters: String, for caller: LoadCaller) async throws(ModuleError) -> LoadOutcome {
        // A file that cannot even be stat'ed: let the read say why.
        guard let identity = FileIdentity.of(path) else {
            _ = try ModuleFileBytes.read(path)
            throw ModuleError(.notFound, file: path, reason: "no such module file")
        }
        let key = FileLoadKey(identity: identity, insert: caller == .insert, parameters: parameters)
        let (completion, won) = fileLoads.withLock { f in
            f.statistics.attempts += 1
            if let running = f.running[key] {
                f.statistics.mergedJoiners += 1
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
                self.fileLoads.withLock { f in
                    f.running[key] = nil
                    if case .failure = result { f.statistics.failures += 1 }
                }
                completion.complete(result)
            }
        }
        switch await completion.wait() {
        case .value(let result):
            return try result.get()
        case .cancelled, .timedOut:
            throw ModuleError(.cancelled, file: path, reason: "stopped waiting for the load of the file (cancelled); the load goes on")
        }
    }

    /// Steps 2–4 for the caller that does the work.
    private func runFileLoad(_ path: String, parameters: String, for caller: LoadCaller) async throws(ModuleError) -> LoadOutcome {
        let (image, file) = try ModuleFileInfo.open(path, policy: configuration.signaturePolicy, host: serial)
        count(mapped: 1)
        let module = FileModule(image: image, file: file)
        let outcome: LoadOutcome
        do {
            outcome = try await load(module, parameters: parameters, for: caller)
        } catch {
            count(module.releaseImageIfUnclaimed())
            var error = error
            if error.file == nil { error.file = path }
            throw error
        }
        // Live — but perhaps loaded by someone else (ensure-loaded found it live, or joined).
        count(module.releaseImageIfUnclaimed())
        return outcome.with(file: module.file)
    }

    /// Counts images mapped and what became of released ones.
    private func count(mapped: Int = 0, _ release: ImageRelease? = nil) {
        fileLoads.withLock { f in
            f.statistics.mapped += mapped
            switch release {
            case .unmapped: f.statistics.unmapped += 1
            case .retired: f.statistics.retired += 1
            case .shared, nil: break
            }
        }
    }

    /// Releases a module file's image once its module is gone: after a grace period (no reader
    /// can still reach the module), unmapped — or retired, if references outlived it. `nil` for
    /// built-in modules.
    @discardableResult
    func releaseImage(of record: ModuleRecord, orphaned: Bool) async -> ImageRelease? {
        guard let module = record.definition as? FileModule else { return nil }
        await Quiescence.synchronize()
        let release = module.releaseImage(referencesRemain: orphaned)
        count(release)
        return release
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

extension ModuleFileInfo {
    /// Reads what a module file is — descriptor, signature, code — without loading it into any
    /// host (`modload modinfo`). The file is validated as a load would, mapped to call its
    /// descriptor function, and released: a C file is unmapped again; a Swift file stays mapped
    /// (as every Swift image does).
    ///
    /// - Parameter keyring: keys to report the signature as trusted against.
    /// - Throws: the file errors of ``ModuleHost/insert(file:parameters:)``.
    public static func inspect(_ path: String, keyring: Keyring = Keyring()) throws(ModuleError) -> ModuleFileInfo {
        let (image, info) = try open(path, policy: SignaturePolicy(mode: .permissive, keyring: keyring), host: 0)
        _ = image.release()
        return info
    }
}

