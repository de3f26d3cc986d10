/// Who waits for whose load: the graph that turns a dependency cycle into an error at once
/// instead of a hang (DESIGN §6).
///
/// An edge `A → B` means: work done for the load of A (binding A's imports, requesting A's
/// dependencies, A's own init) is waiting for the outcome of B's load. Edges are added just
/// before such a wait and removed after it, under the table lock; adding one that would close a
/// ring is refused and the ring is returned, so the waiter fails with an error naming every
/// module in it. A module whose init requests itself is the ring `A → A`.
///
/// Lock rule: part of the table's writer state; touched only with the table lock held.
struct WaitGraph {
    /// Edges with multiplicity (several tasks of one load may wait for the same load).
    private var edges: [ModuleName: [ModuleName: Int]] = [:]

    var isEmpty: Bool { edges.isEmpty }

    /// Adds `waiter → target`, or returns the cycle it would close (`[waiter, target, …, waiter]`)
    /// and adds nothing.
    mutating func addEdge(from waiter: ModuleName, to target: ModuleName) -> [ModuleName]? {
        if let path = path(from: target, to: waiter) { return [waiter] + path }
        edges[waiter, default: [:]][target, default: 0] += 1
        return nil
    }

    mutating func removeEdge(from waiter: ModuleName, to target: ModuleName) {
        guard let count = edges[waiter]?[target] else { return }
        if count > 1 {
            edges[waiter]![target] = count - 1
        } else {
            edges[waiter]![target] = nil
            if edges[waiter]!.isEmpty { edges[waiter] = nil }
        }
    }

    /// A path `start … end` along edges (breadth-first, so the shortest), or `nil`.
    private func path(from start: ModuleName, to end: ModuleName) -> [ModuleName]? {
        if start == end { return [start] }
        var previous: [ModuleName: ModuleName] = [start: start]
        var frontier = [start]
        while !frontier.isEmpty {
            var next: [ModuleName] = []
            for node in frontier {
                for target in (edges[node] ?? [:]).keys.sorted(by: { $0.canonical < $1.canonical })
                where previous[target] == nil {
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
