/// Who waits for whom: the task-local scope of the load a task works for, and how a waiting task
/// relates to a host's loads — the plumbing the wait graph (``WaitGraph``) and cycle detection
/// rest on. Used by loads (``ModuleHost/outcome(of:waiter:)``), binding and dependency requests
/// (``ModuleHost/bindImports(of:)``), and requests module files make from their init.
extension ModuleHost {
    /// Adds `waiter → target` to the wait graph, or throws the cycle it would close.
    func addWait(from waiter: RunningLoad, to target: RunningLoad) throws(ModuleError) {
        if let cycle = table.write({ $0.waits.addEdge(from: waiter, to: target) }) {
            throw ModuleError.ring(cycle.map(\.canonical), module: waiter.record.name.canonical)
        }
    }

    func removeWait(from waiter: RunningLoad, to target: RunningLoad) {
        table.write { $0.waits.removeEdge(from: waiter, to: target) }
    }
}

/// The load a task works for (task-local), set for a winner's pipeline: binding, dependency
/// requests, and the init — including what init awaits.
///
/// Task-locals are also copied into unstructured tasks (`Task {}`) that an init or an observer
/// starts, though the load may never wait for those. So the scope remembers *which task* does
/// the load's work: only that task — and the dependency-request tasks the pipeline starts for
/// itself, which re-scope to their own task — counts as the load waiting.
struct LoadScope: Sendable {
    let host: ObjectIdentifier
    let load: RunningLoad
    /// The identity of the task doing the load's work.
    let task: Int?

    init(host: ObjectIdentifier, load: RunningLoad) {
        self.host = host
        self.load = load
        self.task = LoadScope.currentTask
    }

    /// This scope, for the current task (a task the pipeline started to do part of its work).
    func forCurrentTask() -> LoadScope { LoadScope(host: host, load: load) }

    static var currentTask: Int? { withUnsafeCurrentTask { $0?.hashValue } }

    @TaskLocal static var current: LoadScope?
}

/// How the current task relates to the loads of a host (see ``LoadScope``).
struct Waiter {
    /// The load whose work the current task does, if it does one.
    let load: RunningLoad?
    /// `true` if the task only inherited a load's scope.
    let inherited: Bool

    static func current(in host: ModuleHost) -> Waiter {
        guard let scope = LoadScope.current else { return Waiter(load: nil, inherited: false) }
        // The task doing a load's work on this host: its waits are edges of this host's graph.
        if scope.host == ObjectIdentifier(host), scope.task != nil, scope.task == LoadScope.currentTask {
            return Waiter(load: scope.load, inherited: false)
        }
        // A task that inherited a scope, or works for a load of *another* host (each host has its
        // own graph): a ring through it cannot be seen, so its waits are bounded.
        return Waiter(load: nil, inherited: true)
    }
}
