/// Who waits for whose load: the graph that turns a dependency cycle into an error at once
/// instead of a hang (docs/design.md §6).
///
/// Nodes are running loads (by identity, so a finished load and a new load of the same name are
/// different nodes). An edge `A → B` means: work done for load A — binding A's imports,
/// requesting A's dependencies, A's own init awaiting a request — is waiting for the outcome of
/// load B. Edges are added just before such a wait and removed after it, under the table lock;
/// adding one that would close a ring is refused and the ring is returned, so the waiter fails
/// with an error naming every module in it. A module whose init requests itself is `A → A`.
///
/// Lock rule: part of the table's writer state; touched only with the table lock held.
struct WaitGraph {
    private typealias Node = ObjectIdentifier

    /// Edges with multiplicity (several tasks of one load may wait for the same load).
    private var edges: [Node: [Node: Int]] = [:]
    /// Module names of the nodes with edges, for naming a cycle.
    private var names: [Node: ModuleName] = [:]

    var isEmpty: Bool { edges.isEmpty }

    /// Adds `waiter → target`, or returns the cycle it would close (`[waiter, target, …, waiter]`)
    /// and adds nothing.
    mutating func addEdge(from waiter: RunningLoad, to target: RunningLoad) -> [ModuleName]? {
        let (from, to) = (Node(waiter), Node(target))
        if let path = path(from: to, to: from) {
            return [waiter.record.name] + path.map { $0 == from ? waiter.record.name : names[$0] ?? target.record.name }
        }
        edges[from, default: [:]][to, default: 0] += 1
        names[from] = waiter.record.name
        names[to] = target.record.name
        return nil
    }

    mutating func removeEdge(from waiter: RunningLoad, to target: RunningLoad) {
        let (from, to) = (Node(waiter), Node(target))
        guard let count = edges[from]?[to] else { return }
        if count > 1 {
            edges[from]![to] = count - 1
        } else {
            edges[from]![to] = nil
            if edges[from]!.isEmpty { edges[from] = nil }
        }
        for node in [from, to] where edges[node] == nil && !edges.values.contains(where: { $0[node] != nil }) {
            names[node] = nil
        }
    }

    /// A path `start … end` along edges (breadth-first, so the shortest), or `nil`.
    private func path(from start: Node, to end: Node) -> [Node]? {
        if start == end { return [start] }
        var previous: [Node: Node] = [start: start]
        var frontier = [start]
        while !frontier.isEmpty {
            var next: [Node] = []
            for node in frontier {
                for target in (edges[node] ?? [:]).keys where previous[target] == nil {
                    previous[target] = node
                    if target == end {
                        var path = [end]
                        var cursor = end
                        while cursor != start {
                            cursor = previous[cursor]!
                            path.append(cursor)
                        }
                        return path.reversed()
                    }
                    next.append(target)
                }
            }
            frontier = next
        }
        return nil
    }
}
