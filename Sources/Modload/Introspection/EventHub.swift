import Logging
import Synchronization

/// Delivers lifecycle events to synchronous observers and to `AsyncStream` subscribers.
///
/// Observers run on the thread that made the transition, outside every host lock, in the order
/// they were added. An observer that throws on a `coming` event vetoes the load; throwing on any
/// other event is logged and otherwise ignored (the transition already happened).
final class EventHub: Sendable {
    typealias Observer = @Sendable (ModuleEvent) throws -> Void

    private struct Registry {
        var nextID: UInt64 = 0
        var observers: [(token: ObserverToken, name: String, body: Observer)] = []
        var streams: [UInt64: AsyncStream<ModuleEvent>.Continuation] = [:]
    }

    /// Lock rule: innermost; held only to edit the registry or to yield to streams (a yield never
    /// runs subscriber code). Observers are called after it is released.
    private let registry = Locked(Registry())
    /// Observers plus streams: when zero, `emit` returns without taking the lock.
    private let listeners = Atomic<Int>(0)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func addObserver(named name: String, _ body: @escaping Observer) -> ObserverToken {
        registry.withLock { r in
            r.nextID += 1
            let token = ObserverToken(id: r.nextID)
            r.observers.append((token, name, body))
            listeners.add(1, ordering: .releasing)
            return token
        }
    }

    func removeObserver(_ token: ObserverToken) {
        // Release the closure outside the lock: what it captured may deinit into the hub.
        let removed = registry.withLock { r in
            r.observers.firstIndex { $0.token == token }.map { index in
                listeners.subtract(1, ordering: .releasing)
                return r.observers.remove(at: index)
            }
        }
        _ = removed
    }

    func stream(bufferingNewest limit: Int) -> AsyncStream<ModuleEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ModuleEvent.self, bufferingPolicy: .bufferingNewest(limit))
        let id = registry.withLock { r in
            r.nextID += 1
            r.streams[r.nextID] = continuation
            listeners.add(1, ordering: .releasing)
            return r.nextID
        }
        continuation.onTermination = { [weak self] _ in
            // Drop the continuation outside the lock: its release may run stream teardown.
            let removed = self?.registry.withLock { r in
                r.streams.removeValue(forKey: id).map { continuation in
                    self?.listeners.subtract(1, ordering: .releasing)
                    return continuation
                }
            }
            _ = removed
        }
        return stream
    }

    /// Delivers `event` to streams, then to observers. Returns the first observer error, naming
    /// the observer, if `event` is vetoable (`coming`) and one threw; later observers are then
    /// not called.
    @discardableResult
    func emit(_ event: ModuleEvent, vetoable: Bool = false) -> (observer: String, error: any Error)? {
        guard listeners.load(ordering: .acquiring) > 0 else { return nil }
        let observers = registry.withLock { r in
            for continuation in r.streams.values { continuation.yield(event) }
            return r.observers
        }
        for observer in observers {
            do {
                try observer.body(event)
            } catch {
                if vetoable { return (observer.name, error) }
                logger.warning("observer \(observer.name) threw on \(event.kind.rawValue) \(event.module), ignored: \(error)")
            }
        }
        return nil
    }

    /// Ends every subscriber's stream (the host is going away).
    func finishStreams() {
        let streams = registry.withLock { r in
            defer {
                listeners.subtract(r.streams.count, ordering: .releasing)
                r.streams.removeAll()
            }
            return Array(r.streams.values)
        }
        for continuation in streams { continuation.finish() }
    }
}
