import Modload

/// One module's line of a boot's timeline: when it was first asked for, when its init ran, how it
/// ended — times in milliseconds from the boot's start.
public struct TimelineEntry: Codable, Sendable, Equatable {
    /// The module.
    public let module: String
    /// Its first request (the host's `requested` event: by name, alias, as a dependency or softdep).
    public let firstRequestMs: Double
    /// Requests that resolved to it.
    public let requests: Int
    /// Init start (`coming`); `nil` if its init never ran (live already, or refused before it).
    public let initStartMs: Double?
    /// Init end (`live`, or `going` for an init that failed); `nil` if its init never ran.
    public let initEndMs: Double?
    /// `live`, `failed` (with ``error``), or `requested` (no load of it ended during the boot).
    public let outcome: String
    /// The error code a failed load ended with.
    public let error: String?
    /// The modules it waited for: those it uses and its `pre:` soft dependencies (and, for a
    /// `post:` soft dependency, the module that requested it).
    public let after: [String]
}

/// Records a host's events as they happen (an observer: called on the thread of each transition,
/// timed there), and makes the timeline and its critical path from them. No instrumentation in
/// the modules: only the host's events.
final class TimelineRecorder: Sendable {
    private struct Marks {
        var firstRequest: ContinuousClock.Instant?
        var requests = 0
        var initStart: ContinuousClock.Instant?
        var initEnd: ContinuousClock.Instant?
        var failure: String?
        var live = false
    }

    /// Lock rule: held only to note one event (no call out while it is held).
    private let marks = Locked<[String: Marks]>([:])

    /// Starts recording `host`'s events.
    init(_ host: ModuleHost) {
        host.addObserver(named: "boot-timeline") { [self] event in
            self.note(event.kind, module: event.module, errorCode: event.error?.code.name, at: .now)
        }
    }

    /// Records nothing until ``note(_:module:errorCode:at:)`` is called (a client of the daemon
    /// feeds it the Monitor stream's events).
    init() {}

    /// Notes an event of `kind` for `module` (with the error code of a failure), at `instant`.
    func note(_ kind: ModuleEvent.Kind, module: String, errorCode: String?, at instant: ContinuousClock.Instant) {
        marks.withLock { all in
            var m = all[module] ?? Marks()
            switch kind {
            case .requested:
                m.requests += 1
                if m.firstRequest == nil { m.firstRequest = instant }
            case .coming:
                m.initStart = instant
            case .live:
                m.initEnd = instant
                m.live = true
            case .going:
                // A failed init's end (its teardown and the answers to its callers follow).
                if m.initStart != nil, m.initEnd == nil { m.initEnd = instant }
            case .loadFailed:
                // A failure before init (a refused file, a missing dependency) has no init.
                if m.initStart != nil, m.initEnd == nil { m.initEnd = instant }
                if m.failure == nil { m.failure = errorCode ?? "failed" }
            default:
                break
            }
            all[module] = m
        }
    }

    /// The timeline from `start`: one entry per module asked for, in order of first request.
    /// `after` gives, per module, those it waited for.
    func timeline(from start: ContinuousClock.Instant, after: (String) -> [String]) -> [TimelineEntry] {
        let all = marks.withLock { $0 }
        func ms(_ instant: ContinuousClock.Instant?) -> Double? { instant.map { milliseconds(start.duration(to: $0)) } }
        return all.compactMap { module, m -> TimelineEntry? in
            guard let first = m.firstRequest ?? m.initStart else { return nil }
            let outcome = m.live ? "live" : m.failure != nil ? "failed" : "requested"
            return TimelineEntry(
                module: module, firstRequestMs: ms(first)!, requests: m.requests, initStartMs: ms(m.initStart),
                initEndMs: ms(m.initEnd), outcome: outcome, error: m.failure,
                after: after(module).filter { all[$0] != nil }.sorted())
        }
        .sorted { ($0.firstRequestMs, $0.module) < ($1.firstRequestMs, $1.module) }
    }
}

/// The critical path of a timeline: the longest chain of modules, each waiting for the one
/// before it (``TimelineEntry/after``), weighted by what each took once nothing held it back —
/// from its first request or its last predecessor's end, whichever was later, to its init's end:
/// its file load (checked, mapped, bound) and its init. With as many cores as modules, a boot
/// could not be shorter. Phases are sequential: the chains of the modules of `phases[0]` (early
/// boot's), then of the next, …, then of the rest.
public enum CriticalPath {
    /// The path's length (ms) and its modules, first to last.
    public static func of(_ timeline: [TimelineEntry], phases: [Set<String>] = []) -> (ms: Double, modules: [String]) {
        let byName = Dictionary(uniqueKeysWithValues: timeline.map { ($0.module, $0) })
        func phase(_ entry: TimelineEntry) -> Int { phases.firstIndex { $0.contains(entry.module) } ?? phases.count }
        // What a module took once its predecessors (in its phase) were done.
        func work(_ entry: TimelineEntry) -> Double {
            guard let end = entry.initEndMs else { return 0 }
            let ready = entry.after.compactMap { byName[$0] }.filter { phase($0) == phase(entry) }.compactMap(\.initEndMs)
                .reduce(entry.firstRequestMs, max)
            return max(0, end - ready)
        }
        // Longest chain ending at each module (memoised; `after` is acyclic where inits ran,
        // and a module on the way already is not followed again).
        var best: [String: (ms: Double, chain: [String])] = [:]
        func longest(_ module: String, visiting: Set<String>) -> (ms: Double, chain: [String]) {
            if let known = best[module] { return known }
            guard let entry = byName[module] else { return (0, []) }
            var predecessor: (ms: Double, chain: [String]) = (0, [])
            for name in entry.after where !visiting.contains(name) {
                guard let before = byName[name], phase(before) == phase(entry) else { continue }
                let candidate = longest(name, visiting: visiting.union([module]))
                if candidate.ms > predecessor.ms { predecessor = candidate }
            }
            let result = (predecessor.ms + work(entry), predecessor.chain + [module])
            best[module] = result
            return result
        }
        var total = 0.0
        var modules: [String] = []
        for index in 0...phases.count {
            let chains = timeline.filter { phase($0) == index }.map { longest($0.module, visiting: []) }
            if let top = chains.max(by: { $0.ms < $1.ms }) {
                total += top.ms
                modules += top.chain
            }
        }
        return (total, modules)
    }
}
