import Synchronization
import Testing
@testable import Modload

/// The table's index of modules by name (``ModuleIndex``): the same answers as a dictionary across
/// growth, removal and replacement; versions that never change once made; readers on threads that
/// always find the names no writer touches while a writer edits and grows the index.
@Suite("The module index")
struct ModuleIndexTests {
    /// Records for `count` names, owned by the returned array.
    static func records(_ prefix: String, _ count: Int) throws -> [ModuleRecord] {
        let host = try ModuleHost(configuration: .testing())
        return try (0..<count).map { index in
            let name = try ModuleName(validating: "\(prefix)\(index)")
            return ModuleRecord(name: name, definition: TestModule(name.canonical), context: host.testContext(for: name), statistics: NameStatistics())
        }
    }

    @Test func answersAsADictionaryWouldAcrossGrowthRemovalAndReplacement() throws {
        let records = try Self.records("m", 12_000)
        let replacements = try Self.records("m", 500)  // same names as the first 500
        var index = ModuleIndex()
        var expected: [String: ModuleRecord] = [:]
        var random = SystemRandomNumberGenerator()
        func check(_ sample: Int) {
            #expect(index.count == expected.count)
            for _ in 0..<sample {
                let record = records[Int.random(in: 0..<records.count, using: &random)]
                let found = index[record.name]?.takeUnretainedValue()
                #expect(found === expected[record.name.canonical], "\(record.name)")
            }
        }
        for record in records {  // 12,000 names: the index rebuilds itself at 1,024, 2,048, … 8,192
            index.insert(.passUnretained(record))
            expected[record.name.canonical] = record
        }
        check(5_000)
        #expect(Set(index.values.map { $0.toOpaque() }) == Set(records.map { Unmanaged.passUnretained($0).toOpaque() }))
        for record in replacements {
            index.insert(.passUnretained(record))
            expected[record.name.canonical] = record
        }
        #expect(index.count == 12_000)
        for record in records.shuffled().prefix(7_000) {
            let removed = index.remove(record.name)?.takeUnretainedValue()
            #expect(removed === expected.removeValue(forKey: record.name.canonical))
            #expect(index.remove(record.name) == nil)  // twice: nothing left to remove
        }
        check(5_000)
        #expect(index.values.count == expected.count)
        let absent = try ModuleName(validating: "never_listed")
        #expect(index[absent] == nil)
        for record in records { index.remove(record.name) }
        #expect(index.count == 0 && index.values.isEmpty)
    }

    @Test func aVersionNeverChangesOnceMade() throws {
        let records = try Self.records("v", 3_000)
        var index = ModuleIndex()
        for record in records.prefix(1_000) { index.insert(.passUnretained(record)) }
        let published = index  // what a snapshot holds
        for record in records.dropFirst(1_000) { index.insert(.passUnretained(record)) }  // grows: rebuilt
        for record in records.prefix(500) { index.remove(record.name) }
        #expect(published.count == 1_000)
        for record in records.prefix(1_000) { #expect(published[record.name]?.takeUnretainedValue() === record) }
        for record in records.dropFirst(1_000) { #expect(published[record.name] == nil) }
        #expect(index.count == 2_500)
    }

    /// Three reader threads look up 2,000 names nobody touches, in read sections, while a writer
    /// thread inserts and removes other names through the table (growing the index past two
    /// rebuilds and shrinking it back), publishing a snapshot each time. A reader that ever misses
    /// a stable name, or finds a churned name under another's record, fails: what an in-place edit
    /// of a published page, or a page freed before its grace period (under ASan), would cause.
    @Test(.timeLimit(.minutes(2)))
    func readersOnThreadsAlwaysFindWhatNoWriterTouches() async throws {
        let stable = try Self.records("stable", 2_000)
        let churned = try Self.records("churn", 4_000)
        let table = ModuleTable()
        for record in stable { table.write { $0.insert(record) } }
        // At least one whole round (grow past two rebuilds, shrink back); more while the budget
        // lasts — a sanitizer build runs a round some twenty times slower than a plain one.
        let rounds = 3 * Stress.scale
        let budget = ContinuousClock.now.advanced(by: .seconds(30))
        let done = Atomic<Bool>(false)
        let misses = Atomic<Int>(0), wrong = Atomic<Int>(0), lookups = Atomic<Int>(0)
        await onThreads(4) { thread in
            if thread == 0 {
                for _ in 0..<rounds {
                    for record in churned { table.write { $0.insert(record) } }
                    for record in churned { table.write { $0.remove(record) } }
                    if ContinuousClock.now > budget { break }
                }
                done.store(true, ordering: .releasing)
                return
            }
            var count = 0
            repeat {
                for (offset, record) in stable.enumerated() where offset % 3 == thread - 1 {
                    table.read { snapshot in
                        guard let found = snapshot.modules[record.name] else { misses.add(1, ordering: .relaxed); return }
                        if found.toOpaque() != Unmanaged.passUnretained(record).toOpaque() { wrong.add(1, ordering: .relaxed) }
                    }
                    let other = churned[(offset * 7 + count) % churned.count]
                    table.read { snapshot in
                        if let found = snapshot.modules[other.name], found.toOpaque() != Unmanaged.passUnretained(other).toOpaque() {
                            wrong.add(1, ordering: .relaxed)
                        }
                    }
                    count += 2
                }
            } while !done.load(ordering: .acquiring)
            lookups.add(count, ordering: .relaxed)
        }
        #expect(misses.load(ordering: .relaxed) == 0)
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(lookups.load(ordering: .relaxed) > 0)
        table.read { #expect($0.modules.count == 2_000) }
        for record in stable { table.write { $0.remove(record) } }
        await Quiescence.barrier()
    }
}
