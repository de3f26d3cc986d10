import Synchronization

/// Where reference-count words live: packed side by side in pages of their own rather than inside
/// each module record (docs/design.md §7).
///
/// A lookup by name reads a module's state from its word (``ModuleIndex`` keeps a pointer to it
/// beside the name). Records are large and allocated among everything else a load allocates, so
/// 10,000 of them span tens of megabytes — one cache and TLB miss per lookup; their words, packed
/// here, span 80 KB.
///
/// Rules: a word is taken when a record is made and given back when the record is destroyed
/// (after its grace period: no reader can still reach it through a snapshot). Pages are never
/// freed, so a pointer to a word stays valid memory for the process's life. The free list's lock
/// is innermost and taken only by those two steps, never on a read path.
enum RefCountWords {
    /// Words per page: one 4 KiB page.
    private static let wordsPerPage = 512

    private struct Free {
        var words: [UnsafeMutablePointer<Atomic<Int>>] = []
    }

    private static let free = Locked(Free())

    /// A word set to `initial`.
    static func take(_ initial: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        let word = free.withLock { (free: inout Free) -> UnsafeMutablePointer<Atomic<Int>> in
            if let word = free.words.popLast() { return word }
            let page = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: wordsPerPage)
            for index in 1..<wordsPerPage { free.words.append(page + index) }
            return page
        }
        word.initialize(to: Atomic(initial))
        return word
    }

    /// Gives `word` back; nothing may use it after this.
    static func give(_ word: UnsafeMutablePointer<Atomic<Int>>) {
        word.deinitialize(count: 1)
        free.withLock { $0.words.append(word) }
    }
}
