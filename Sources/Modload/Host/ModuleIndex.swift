import Synchronization

/// The table's index of current modules by name: a persistent hash map that a reader searches
/// with a handful of dependent loads — no lock, no hashing (the name carries its hash), no
/// reference counting — and that a writer edits by copying one path (docs/design.md §7).
///
/// Rules:
/// 1. **Shape.** Three levels: a root of `2^rootBits` branches, each branch 64 pages, each page an
///    open-addressed array of slots (a name's hash and its record), linear probing. The top
///    `rootBits + 6` bits of ``ModuleName/hash`` (already finalized, so every bit depends on every
///    byte) choose the branch and the page; the low bits choose the first slot in the page.
/// 2. **Never full.** A page is at most 3/4 full (a page that would pass it is copied at twice the
///    capacity), so a search ends at an empty slot. When the index holds more than 16 names per
///    page on average it is rebuilt with twice the pages: amortised O(1) per insert, and a page
///    is about one-fifth full, so a search reads one slot's cache line.
/// 3. **Immutable once published.** An edit never writes a node another version can see: it
///    copies the root, the one branch and the one page on the name's path (O(2^rootBits + 64 +
///    page) words and the retains of the shared children) and leaves the rest shared. The writer
///    publishes the new version with the snapshot; readers reach nodes only through a snapshot in
///    a read section, and a version's nodes are freed by ARC when the last version sharing them
///    goes, after that snapshot's grace period.
/// 4. **Records are not owned here.** Slots hold records unmanaged; the table owns one retain of
///    each listed record (``ModuleTable/Writer``), however many versions list it. A slot also
///    holds its record's name and the address of its reference-count word (``RefCountWords``), so
///    a search, and a state lookup, never touch the record itself: records are large and
///    scattered (a cache and TLB miss each), names and words are not.
///
/// Not shrunk: a host that once held many modules keeps its pages (as its statistics stay).
struct ModuleIndex: @unchecked Sendable {  // nodes are immutable once published (rule 3)
    /// One slot: empty when `record` is `nil`.
    struct Slot {
        var hash: Int
        var name: String
        var record: Unmanaged<ModuleRecord>?
        var word: UnsafeMutablePointer<Atomic<Int>>?
    }

    /// A page's slots, with its capacity − 1, as a branch holds it: a reader needs no page header.
    struct PageRef {
        var slots: UnsafeMutablePointer<Slot>?
        var mask: Int
        var owner: Unmanaged<Page>?
        static var empty: PageRef { PageRef(slots: nil, mask: 0, owner: nil) }
    }

    /// A branch's pages, as the root holds them.
    struct BranchRef {
        var pages: UnsafeMutablePointer<PageRef>?
        var owner: Unmanaged<Branch>?
    }

    /// Slots of a page (rule 1). Owns its memory.
    final class Page {
        let slots: UnsafeMutablePointer<Slot>
        let capacity: Int
        var count = 0

        init(capacity: Int) {
            self.capacity = capacity
            slots = .allocate(capacity: capacity)
            slots.initialize(repeating: Slot(hash: 0, name: "", record: nil, word: nil), count: capacity)
        }

        deinit {
            slots.deinitialize(count: capacity)
            slots.deallocate()
        }

        /// Puts `record` in the slot for its name (replacing the record of that name, if any).
        /// The caller keeps the page at most 3/4 full.
        func put(_ record: Unmanaged<ModuleRecord>, hash: Int) {
            let mask = capacity - 1
            let (name, word) = record._withUnsafeGuaranteedRef { ($0.name.canonical, $0.refs.word) }
            var index = hash & mask
            while slots[index].record != nil {
                if slots[index].hash == hash, slots[index].name == name {
                    slots[index].record = record
                    slots[index].word = word
                    return
                }
                index = (index + 1) & mask
            }
            slots[index] = Slot(hash: hash, name: name, record: record, word: word)
            count += 1
        }

        /// The records in the page.
        var records: [(hash: Int, record: Unmanaged<ModuleRecord>)] {
            (0..<capacity).compactMap { index in slots[index].record.map { (slots[index].hash, $0) } }
        }

        var reference: PageRef { PageRef(slots: slots, mask: capacity - 1, owner: .passUnretained(self)) }
    }

    /// 64 pages. Holds one retain of each page it lists.
    final class Branch {
        static let width = 64
        let pages: UnsafeMutablePointer<PageRef>

        init(copying other: UnsafeMutablePointer<PageRef>?) {
            pages = .allocate(capacity: Self.width)
            if let other {
                pages.initialize(from: other, count: Self.width)
                for index in 0..<Self.width { _ = pages[index].owner?.retain() }
            } else {
                pages.initialize(repeating: .empty, count: Self.width)
            }
        }

        deinit {
            for index in 0..<Self.width { pages[index].owner?.release() }
            pages.deallocate()
        }

        /// Replaces page `index` with `page` (or empty), taking a retain of it.
        func set(_ index: Int, _ page: Page?) {
            pages[index].owner?.release()
            if let page { _ = Unmanaged.passRetained(page) }
            pages[index] = page?.reference ?? .empty
        }
    }

    /// `2^rootBits` branches. Holds one retain of each branch it lists.
    final class Root {
        let branches: UnsafeMutablePointer<BranchRef>
        let width: Int

        init(width: Int, copying other: Root?) {
            self.width = width
            branches = .allocate(capacity: width)
            if let other {
                branches.initialize(from: other.branches, count: width)
                for index in 0..<width { _ = branches[index].owner?.retain() }
            } else {
                branches.initialize(repeating: BranchRef(pages: nil, owner: nil), count: width)
            }
        }

        deinit {
            for index in 0..<width { branches[index].owner?.release() }
            branches.deallocate()
        }

        /// Replaces branch `index` with `branch`, taking a retain of it.
        func set(_ index: Int, _ branch: Branch) {
            branches[index].owner?.release()
            branches[index] = BranchRef(pages: branch.pages, owner: .passRetained(branch))
        }
    }

    /// Average names per page before the index doubles its pages (rule 2).
    private static let namesPerPage = 16
    private static let pageBits = 6  // log2(Branch.width)
    private static let firstPageCapacity = 64

    private var root: Root
    /// The root's branches, read by searches without touching the root object.
    private var branches: UnsafeMutablePointer<BranchRef>
    private var rootBits: Int
    /// How many names the index holds.
    private(set) var count = 0

    init() {
        self.init(rootBits: 0)
    }

    private init(rootBits: Int) {
        self.rootBits = rootBits
        root = Root(width: 1 << rootBits, copying: nil)
        branches = root.branches
    }

    /// Which branch and page `hash` falls in.
    @inline(__always)
    private func path(_ hash: Int) -> (branch: Int, page: Int) {
        let page = Int(truncatingIfNeeded: UInt(bitPattern: hash) >> UInt(Int.bitWidth - rootBits - Self.pageBits))
        return (page >> Self.pageBits, page & (Branch.width - 1))
    }

    /// The slot of `name`, if it is listed (rule 1: branch, page, then the page's slots).
    @inline(__always)
    private func slot(_ name: ModuleName) -> UnsafeMutablePointer<Slot>? {
        let hash = name.hash
        let (branch, page) = path(hash)
        guard let pages = branches[branch].pages else { return nil }
        let reference = pages[page]
        guard let slots = reference.slots else { return nil }
        var index = hash & reference.mask
        while slots[index].record != nil {
            if slots[index].hash == hash, slots[index].name == name.canonical { return slots + index }
            index = (index + 1) & reference.mask
        }
        return nil
    }

    /// The record listed under `name`, if any.
    @inline(__always)
    subscript(name: ModuleName) -> Unmanaged<ModuleRecord>? {
        slot(name)?.pointee.record
    }

    /// The state of the record listed under `name`, if any, read from its word without touching
    /// the record (rule 4).
    @inline(__always)
    func state(of name: ModuleName) -> ModuleState? {
        guard let word = slot(name)?.pointee.word else { return nil }
        return RefCount.state(inWord: word.pointee.load(ordering: .acquiring))
    }

    /// Every listed record, in no particular order.
    var values: [Unmanaged<ModuleRecord>] {
        var found: [Unmanaged<ModuleRecord>] = []
        found.reserveCapacity(count)
        for branch in 0..<root.width {
            guard let pages = branches[branch].pages else { continue }
            for page in 0..<Branch.width {
                pages[page].owner?._withUnsafeGuaranteedRef { found += $0.records.map(\.record) }
            }
        }
        return found
    }

    /// Lists `record` under its name, replacing the record listed there (rule 3: one path copied).
    mutating func insert(_ record: Unmanaged<ModuleRecord>) {
        let name = record._withUnsafeGuaranteedRef { $0.name }
        let replacing = self[name] != nil
        if !replacing, count + 1 > (Branch.width << rootBits) * Self.namesPerPage {
            rebuild(rootBits: rootBits + 1, adding: record)
            return
        }
        edit(name.hash) { old in
            let capacity = old.map { ($0.count + 1) * 4 > $0.capacity * 3 ? $0.capacity * 2 : $0.capacity } ?? Self.firstPageCapacity
            let page = Page(capacity: capacity)
            for entry in old?.records ?? [] { page.put(entry.record, hash: entry.hash) }
            page.put(record, hash: name.hash)
            return page
        }
        if !replacing { count += 1 }
    }

    /// Unlists the record of `name` and returns it, if one is listed.
    @discardableResult
    mutating func remove(_ name: ModuleName) -> Unmanaged<ModuleRecord>? {
        guard let removed = self[name] else { return nil }
        edit(name.hash) { old in
            let remaining = (old?.records ?? []).filter { $0.record.toOpaque() != removed.toOpaque() }
            guard !remaining.isEmpty, let old else { return nil }
            let page = Page(capacity: old.capacity)
            for entry in remaining { page.put(entry.record, hash: entry.hash) }
            return page
        }
        count -= 1
        return removed
    }

    /// Replaces the page `hash` falls in with what `change` makes of it, copying the root and the
    /// branch on the way (rule 3).
    private mutating func edit(_ hash: Int, _ change: (Page?) -> Page?) {
        let (branchIndex, pageIndex) = path(hash)
        let newRoot = Root(width: root.width, copying: root)
        let branch = Branch(copying: branches[branchIndex].pages)
        let old = branch.pages[pageIndex].owner?.takeUnretainedValue()
        branch.set(pageIndex, change(old))
        newRoot.set(branchIndex, branch)
        root = newRoot
        branches = newRoot.branches
    }

    /// Makes a fresh index of `2^rootBits` branches holding every record and `added` (rule 2).
    private mutating func rebuild(rootBits: Int, adding added: Unmanaged<ModuleRecord>) {
        let records = values + [added]
        var next = ModuleIndex(rootBits: rootBits)
        var pages: [Int: Page] = [:]
        for record in records {
            let hash = record._withUnsafeGuaranteedRef { $0.name.hash }
            let (branch, page) = next.path(hash)
            let key = branch << Self.pageBits | page
            let target = pages[key] ?? Page(capacity: Self.firstPageCapacity)
            if (target.count + 1) * 4 > target.capacity * 3 {
                let larger = Page(capacity: target.capacity * 2)
                for entry in target.records { larger.put(entry.record, hash: entry.hash) }
                pages[key] = larger
            } else {
                pages[key] = target
            }
            pages[key]!.put(record, hash: hash)
        }
        var built: [Int: Branch] = [:]
        for (key, page) in pages {
            let branch = built[key >> Self.pageBits] ?? Branch(copying: nil)
            branch.set(key & (Branch.width - 1), page)
            built[key >> Self.pageBits] = branch
        }
        for (index, branch) in built { next.root.set(index, branch) }
        next.count = records.count
        self = next
    }
}
