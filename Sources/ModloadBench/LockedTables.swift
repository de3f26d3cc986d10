#if canImport(Glibc)
import Glibc
#endif

import Synchronization

/// Baselines for the lookup figures: a name → module-record table guarded by a mutex, and by a
/// reader-writer lock — what a module table looks like without quiescence. A lookup reads the
/// record's atomic state, as Modload's `state(of:)` does. Benchmark code only.
protocol BaselineTable: AnyObject, Sendable {
    var label: String { get }
    func lookup(_ name: String) -> UInt8?
    func insert(_ name: String)
    func remove(_ name: String)
}

/// A baseline's module record: just the state a lookup reads.
final class BaselineRecord: Sendable {
    let state = Atomic<UInt8>(2)
}

final class MutexTable: BaselineTable, @unchecked Sendable {
    let label = "mutex"
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var entries: [String: BaselineRecord] = [:]

    init(names: [String]) {
        pthread_mutex_init(mutex, nil)
        for name in names { entries[name] = BaselineRecord() }
    }

    func lookup(_ name: String) -> UInt8? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return entries[name]?.state.load(ordering: .acquiring)
    }

    func insert(_ name: String) {
        pthread_mutex_lock(mutex)
        entries[name] = BaselineRecord()
        pthread_mutex_unlock(mutex)
    }

    func remove(_ name: String) {
        pthread_mutex_lock(mutex)
        entries[name] = nil
        pthread_mutex_unlock(mutex)
    }
}

final class RWLockTable: BaselineTable, @unchecked Sendable {
    let label = "rwlock"
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    private var entries: [String: BaselineRecord] = [:]

    init(names: [String]) {
        pthread_rwlock_init(lock, nil)
        for name in names { entries[name] = BaselineRecord() }
    }

    func lookup(_ name: String) -> UInt8? {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return entries[name]?.state.load(ordering: .acquiring)
    }

    func insert(_ name: String) {
        pthread_rwlock_wrlock(lock)
        entries[name] = BaselineRecord()
        pthread_rwlock_unlock(lock)
    }

    func remove(_ name: String) {
        pthread_rwlock_wrlock(lock)
        entries[name] = nil
        pthread_rwlock_unlock(lock)
    }
}
