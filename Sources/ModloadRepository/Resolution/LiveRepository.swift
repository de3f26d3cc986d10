import Modload
import Synchronization

/// A repository for a host that outlives one depmod run (a daemon's): the resolver a long-lived
/// host is configured with. Before each lookup it checks which index generation the root's
/// `modules.index` link names (one `readlink`) and, when depmod has published a new one since,
/// reads that generation and resolves against it from then on — udev's "validate, then reload",
/// with no window in which a half-written index is seen (a generation is complete before its link
/// appears). The configuration is the one given at creation.
///
/// A root without an index is served as empty: every lookup fails `notFound` naming the root and
/// saying to run depmod, until depmod has run. A new generation that cannot be read keeps the
/// previous one (``lastReloadFailure`` says why).
public final class LiveRepository: ModuleResolver, Sendable {
    /// The root.
    public let root: ModuleRoot
    /// The configuration.
    public let configuration: ModprobeConfiguration

    /// The generation loaded and its repository. Locked only to swap them: lookups copy the
    /// repository (a struct of immutable storage) out and resolve without the lock.
    private let state: Mutex<(generation: String?, repository: ModuleRepository?, failure: RepositoryError?)>

    /// The repository at `root` with `configuration`, its current index read now if there is one.
    public init(root: ModuleRoot, configuration: ModprobeConfiguration) {
        self.root = root
        self.configuration = configuration
        state = Mutex((nil, nil, nil))
        _ = current
    }

    /// The repository of the root's current index generation, or `nil` if the root has none.
    public var current: ModuleRepository? {
        let generation = ModuleIndex.currentGeneration(of: root)
        let (loaded, repository) = state.withLock { ($0.generation, $0.repository) }
        // Unchanged, or the link is gone (keep serving what was read).
        guard let generation, generation != loaded else { return repository }
        switch Result(catching: { () throws(RepositoryError) in try ModuleRepository(root: root, configuration: configuration) }) {
        case .success(let repository):
            return state.withLock {
                $0 = (generation, repository, nil)
                return repository
            }
        case .failure(let error):
            return state.withLock {
                $0.failure = error
                return $0.repository
            }
        }
    }

    /// Why the last new generation could not be read, if it could not.
    public var lastReloadFailure: RepositoryError? { state.withLock { $0.failure } }

    /// ``current``, or `notFound` for `nameOrAlias` naming the root and saying to run depmod.
    public func indexed(for nameOrAlias: String) throws(ModuleError) -> ModuleRepository {
        guard let repository = current else {
            throw ModuleError(
                .notFound, module: nameOrAlias, reason: "the module root \(root.path) has no index: run modload depmod -b \(root.path)")
        }
        return repository
    }

    public func resolve(_ nameOrAlias: String) throws(ModuleError) -> [ModuleResolution] {
        try indexed(for: nameOrAlias).resolve(nameOrAlias)
    }

    public func provider(ofSymbol symbol: String) -> String? { current?.provider(ofSymbol: symbol) }

    public func dependencies(of module: String) -> [String] { current?.dependencies(of: module) ?? [] }
}
