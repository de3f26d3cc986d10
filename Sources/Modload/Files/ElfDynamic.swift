/// What the dynamic linker follows in a module file, checked on its bytes before `dlopen`: the
/// dynamic section and every table it points at. `ld.so` trusts all of it — a wrong offset in
/// any of them makes it read or write outside the image — so each is checked here first.
///
/// 1. **Entries**: the dynamic section ends with `DT_NULL` inside its segment; no text
///    relocations, no PIE flag, no `DT_REL` (these machines use RELA), no preinit array, no
///    filters (which load other objects on the module's behalf).
/// 2. **Strings** (`DT_STRTAB`, `DT_STRSZ`) inside the file; every name the entries give
///    (`DT_NEEDED`, `DT_SONAME`, `DT_RPATH`, `DT_RUNPATH`) a terminated string in it, `DT_NEEDED`
///    a plain library name.
/// 3. **Symbols** (`DT_SYMTAB`, counted by the SysV or GNU hash table, whose buckets and chains
///    must stay inside the table): names in the string table, defined values inside the image.
/// 4. **Symbol versions** (`DT_VERSYM`, `DT_VERNEED`, `DT_VERDEF`): every record and chain inside
///    the file, every symbol's version index one that is defined.
/// 5. **Relocations** (`DT_RELA`, `DT_JMPREL`, `DT_RELR`): a type known for the machine, writing
///    inside a writable loaded segment, its symbol inside the table; a relative one (or one of a
///    defined symbol) pointing into the image, an `IRELATIVE` one at a function of the file.
/// 6. **Initializers and finalizers** (`DT_INIT`, `DT_FINI`, and every slot of `DT_INIT_ARRAY` and
///    `DT_FINI_ARRAY`, as relocated): at a function of the file.
struct ElfDynamic {
    /// The libraries it needs.
    let needed: [String]
    /// `true` if it was linked `-z nodelete`.
    let isNodelete: Bool

    typealias Invalid = ElfImage.Invalid

    // Tags (elf(5)).
    private static let dtNull: UInt64 = 0, dtNeeded: UInt64 = 1, dtPltRelSize: UInt64 = 2, dtHash: UInt64 = 4
    private static let dtStrtab: UInt64 = 5, dtSymtab: UInt64 = 6, dtRela: UInt64 = 7, dtRelaSize: UInt64 = 8
    private static let dtRelaEnt: UInt64 = 9, dtStrSize: UInt64 = 10, dtSymEnt: UInt64 = 11, dtInit: UInt64 = 12
    private static let dtFini: UInt64 = 13, dtSoname: UInt64 = 14, dtRpath: UInt64 = 15, dtRel: UInt64 = 17
    private static let dtPltRel: UInt64 = 20, dtTextrel: UInt64 = 22, dtJmpRel: UInt64 = 23
    private static let dtInitArray: UInt64 = 25, dtFiniArray: UInt64 = 26, dtInitArraySize: UInt64 = 27
    private static let dtFiniArraySize: UInt64 = 28, dtRunpath: UInt64 = 29, dtFlags: UInt64 = 30
    private static let dtPreinitArray: UInt64 = 32, dtRelrSize: UInt64 = 35, dtRelr: UInt64 = 36, dtRelrEnt: UInt64 = 37
    private static let dtGnuHash: UInt64 = 0x6fff_fef5, dtVersym: UInt64 = 0x6fff_fff0, dtFlags1: UInt64 = 0x6fff_fffb
    private static let dtVerdef: UInt64 = 0x6fff_fffc, dtVerdefNum: UInt64 = 0x6fff_fffd
    private static let dtVerneed: UInt64 = 0x6fff_fffe, dtVerneedNum: UInt64 = 0x6fff_ffff
    private static let dtAuxiliary: UInt64 = 0x7fff_fffd, dtFilter: UInt64 = 0x7fff_ffff
    private static let dfTextrel: UInt64 = 0x4, df1Nodelete: UInt64 = 0x8, df1Pie: UInt64 = 0x0800_0000
    private static let dtPltGot: UInt64 = 3, dtSymbolic: UInt64 = 16, dtDebug: UInt64 = 21, dtBindNow: UInt64 = 24
    private static let dtRelaCount: UInt64 = 0x6fff_fff9, dtRelCount: UInt64 = 0x6fff_fffa, dtGnuFlags1: UInt64 = 0x6fff_fdf4

    /// The tags a module may have (what linkers emit for a shared object; machine-specific PLT
    /// tags included): anything else is refused.
    private static let knownTags: Set<UInt64> = {
        var tags: Set<UInt64> = [
            dtNeeded, dtPltRelSize, dtPltGot, dtHash, dtStrtab, dtSymtab, dtRela, dtRelaSize, dtRelaEnt, dtStrSize, dtSymEnt,
            dtInit, dtFini, dtSoname, dtRpath, dtSymbolic, dtPltRel, dtDebug, dtJmpRel, dtBindNow, dtInitArray, dtFiniArray,
            dtInitArraySize, dtFiniArraySize, dtRunpath, dtFlags, dtRelrSize, dtRelr, dtRelrEnt, dtGnuHash, dtVersym,
            dtRelaCount, dtRelCount, dtFlags1, dtVerdef, dtVerdefNum, dtVerneed, dtVerneedNum, dtGnuFlags1,
            // Refused with a reason of their own below.
            dtTextrel, dtRel, dtPreinitArray, dtAuxiliary, dtFilter, 18, 19, 33,
        ]
        #if arch(x86_64)
        tags.formUnion([0x7000_0000, 0x7000_0001, 0x7000_0003])  // DT_X86_64_PLT, _PLTSZ, _PLTENT
        #elseif arch(arm64)
        tags.formUnion([0x7000_0001, 0x7000_0003, 0x7000_0005])  // DT_AARCH64_BTI_PLT, _PAC_PLT, _VARIANT_PCS
        #endif
        return tags
    }()

    /// The machine's JUMP_SLOT type.
    private static let jumpSlotType: UInt32 = {
        #if arch(arm64)
        1026
        #else
        7
        #endif
    }()

    /// Relocation types this host's machine uses in shared objects, by what they need.
    private enum RelocationKind { case none, absolute, symbol, relative, irelative, tls }
    private static let relocationKinds: [UInt32: RelocationKind] = {
        #if arch(x86_64)
        // NONE, 64, GLOB_DAT, JUMP_SLOT, RELATIVE, DTPMOD64, DTPOFF64, TPOFF64, TLSDESC, IRELATIVE
        [0: .none, 1: .absolute, 6: .symbol, 7: .symbol, 8: .relative, 16: .tls, 17: .tls, 18: .tls, 36: .tls, 37: .irelative]
        #elseif arch(arm64)
        // NONE, ABS64, GLOB_DAT, JUMP_SLOT, RELATIVE, TLS_DTPMOD64, TLS_DTPREL64, TLS_TPREL64, TLSDESC, IRELATIVE
        [0: .none, 257: .absolute, 1025: .symbol, 1026: .symbol, 1027: .relative, 1028: .tls, 1029: .tls, 1030: .tls,
         1031: .tls, 1032: .irelative]
        #else
        [:]
        #endif
    }()

    static func validate(_ file: ElfReader, image: ElfImage, dynamic: Range<Int>) throws(Invalid) -> ElfDynamic {
        // 1. Entries, up to DT_NULL.
        var entries: [(tag: UInt64, value: UInt64)] = []
        var at = dynamic.lowerBound
        var terminated = false
        while at + 16 <= dynamic.upperBound {
            let tag = file.u64(at), value = file.u64(at + 8)
            at += 16
            if tag == dtNull { terminated = true; break }
            entries.append((tag, value))
        }
        guard terminated else { throw Invalid("the dynamic section has no DT_NULL end inside its segment") }
        func one(_ tag: UInt64) -> UInt64? { entries.last { $0.tag == tag }?.value }
        func all(_ tag: UInt64) -> [UInt64] { entries.filter { $0.tag == tag }.map(\.value) }
        // Only tags this host knows: the dynamic linker indexes tables by tag arithmetic, so a
        // stray tag can land anywhere in them.
        for (tag, _) in entries where !knownTags.contains(tag) {
            throw Invalid("the dynamic section has an unknown tag 0x\(String(tag, radix: 16))")
        }
        // Tables come with their sizes: the dynamic linker reads one without checking the other.
        for (table, size, name) in [(dtStrtab, dtStrSize, "DT_STRTAB and DT_STRSZ"), (dtRela, dtRelaSize, "DT_RELA and DT_RELASZ"),
                                    (dtJmpRel, dtPltRelSize, "DT_JMPREL and DT_PLTRELSZ"), (dtRelr, dtRelrSize, "DT_RELR and DT_RELRSZ"),
                                    (dtInitArray, dtInitArraySize, "DT_INIT_ARRAY and DT_INIT_ARRAYSZ"),
                                    (dtFiniArray, dtFiniArraySize, "DT_FINI_ARRAY and DT_FINI_ARRAYSZ"),
                                    (dtVerdef, dtVerdefNum, "DT_VERDEF and DT_VERDEFNUM"), (dtVerneed, dtVerneedNum, "DT_VERNEED and DT_VERNEEDNUM")]
        where (one(table) == nil) != (one(size) == nil) {
            throw Invalid("the dynamic section gives only one of \(name)")
        }
        if one(dtJmpRel) != nil, one(dtPltRel) == nil { throw Invalid("the dynamic section gives DT_JMPREL without DT_PLTREL") }
        for tag in Set(entries.map(\.tag)) where tag != dtNeeded && entries.filter({ $0.tag == tag }).count > 1 {
            throw Invalid("the dynamic section gives tag 0x\(String(tag, radix: 16)) twice")
        }
        if let got = one(dtPltGot), image.segment(holding: got, length: 24)?.isWritable != true {
            throw Invalid("DT_PLTGOT points outside any writable segment")
        }
        for (tag, name) in [(dtTextrel, "DT_TEXTREL: text relocations"), (dtRel, "DT_REL relocations"),
                            (dtPreinitArray, "a preinit array"), (dtAuxiliary, "DT_AUXILIARY"), (dtFilter, "DT_FILTER")]
        where one(tag) != nil {
            throw Invalid("the dynamic section asks for \(name), which a module may not have")
        }
        if let flags = one(dtFlags), flags & dfTextrel != 0 { throw Invalid("the dynamic section asks for text relocations") }
        let flags1 = one(dtFlags1) ?? 0
        if flags1 & df1Pie != 0 { throw Invalid("not a shared object: it is a position-independent executable") }

        // 2. Strings.
        guard let strtab = one(dtStrtab), let strsz = one(dtStrSize),
            let strings = image.fileRange(of: strtab, length: strsz)
        else { throw Invalid("the dynamic string table (DT_STRTAB, DT_STRSZ) is missing or outside the file") }
        func string(_ offset: UInt64, _ what: String) throws(Invalid) -> String {
            guard offset < strsz, let text = file.cString(in: strings, at: Int(offset)) else {
                throw Invalid("\(what) (string \(offset)) lies outside the dynamic string table")
            }
            return text
        }
        var needed: [String] = []
        for offset in all(dtNeeded) {
            let name = try string(offset, "a DT_NEEDED name")
            guard !name.isEmpty, !name.contains("/") else {
                throw Invalid("needs \(String(reflecting: name)): DT_NEEDED must name a library, not a path")
            }
            needed.append(name)
        }
        for (tag, what) in [(dtSoname, "DT_SONAME"), (dtRpath, "DT_RPATH"), (dtRunpath, "DT_RUNPATH")] {
            for offset in all(tag) { _ = try string(offset, what) }
        }

        // 3. Symbols, counted by the hash tables.
        guard let symtab = one(dtSymtab) else { throw Invalid("the dynamic section has no symbol table (DT_SYMTAB)") }
        guard (one(dtSymEnt) ?? UInt64(ElfImage.symSize)) == UInt64(ElfImage.symSize) else {
            throw Invalid("dynamic symbols of size \(one(dtSymEnt)!), not \(ElfImage.symSize)")
        }
        var symbolCount: UInt64 = 0
        if let hash = one(dtHash) {
            symbolCount = max(symbolCount, try sysvHashSymbols(file, image, at: hash))
        }
        if let hash = one(dtGnuHash) {
            symbolCount = max(symbolCount, try gnuHashSymbols(file, image, at: hash))
        }
        guard one(dtHash) != nil || one(dtGnuHash) != nil else {
            throw Invalid("the dynamic section has no symbol hash table (DT_HASH or DT_GNU_HASH)")
        }
        guard symbolCount < 1 << 24, let symbols = image.fileRange(of: symtab, length: symbolCount * UInt64(ElfImage.symSize)) else {
            throw Invalid("the dynamic symbol table (\(symbolCount) symbols) lies outside the file")
        }
        var definedValues: [UInt64] = []  // by symbol index; UInt64.max: undefined or not an address
        definedValues.reserveCapacity(Int(symbolCount))
        for index in 0..<Int(symbolCount) {
            let entry = symbols.lowerBound + index * ElfImage.symSize
            _ = try string(UInt64(file.u32(entry)), "the name of dynamic symbol \(index)")
            let type = file.u8(entry + 4) & 0xf, binding = file.u8(entry + 4) >> 4, other = file.u8(entry + 5)
            let shndx = file.u16(entry + 6)
            let value = file.u64(entry + 8), size = file.u64(entry + 16)
            // Types: NOTYPE OBJECT FUNC SECTION FILE TLS, GNU_IFUNC; bindings LOCAL GLOBAL WEAK,
            // GNU_UNIQUE; st_other only a visibility.
            guard [0, 1, 2, 3, 4, 6, 10].contains(type), [0, 1, 2, 10].contains(binding), other & ~3 == 0 else {
                throw Invalid("dynamic symbol \(index) has an unknown type, binding or visibility (info \(file.u8(entry + 4)), other \(other))")
            }
            // An undefined one is looked up elsewhere: global or weak, of default visibility
            // (a local or hidden one would resolve to nothing, and be called).
            if shndx == 0, index > 0, !([1, 2].contains(binding) && other & 3 == 0 && [0, 1, 2, 6].contains(type)) {
                throw Invalid("undefined dynamic symbol \(index) is not a global or weak symbol of default visibility")
            }
            if index == 0, (0..<ElfImage.symSize).contains(where: { file.u8(entry + $0) != 0 }) {
                throw Invalid("dynamic symbol 0 is not the null symbol")
            }
            if type == 10, shndx != 0, !image.isFunction(at: value) {
                throw Invalid("dynamic symbol \(index) is an IFUNC whose resolver is no function of the file")
            }
            guard shndx != 0, shndx != 0xfff1, type != 6 else {  // undefined, absolute, TLS: no address
                definedValues.append(UInt64.max)
                continue
            }
            guard image.segment(holding: value, length: min(size, 1 << 32)) != nil || (size == 0 && image.addresses.contains(value)) else {
                throw Invalid("dynamic symbol \(index) is defined outside the image (at \(value), \(size) bytes)")
            }
            definedValues.append(value)
        }

        // 4. Versions.
        var highestVersion: UInt64 = 1
        if let verneed = one(dtVerneed) {
            highestVersion = max(
                highestVersion, try versionNeeds(file, image, at: verneed, count: one(dtVerneedNum) ?? 0, needed: needed, string))
        }
        if let verdef = one(dtVerdef) {
            highestVersion = max(highestVersion, try versionDefinitions(file, image, at: verdef, count: one(dtVerdefNum) ?? 0, string))
        }
        if let versym = one(dtVersym) {
            guard let range = image.fileRange(of: versym, length: symbolCount * 2) else {
                throw Invalid("the symbol version table (DT_VERSYM) lies outside the file")
            }
            for index in 0..<Int(symbolCount) {
                let version = UInt64(file.u16(range.lowerBound + index * 2) & 0x7fff)
                guard version <= highestVersion else {
                    throw Invalid("dynamic symbol \(index) has version index \(version); only \(highestVersion) are defined")
                }
            }
        }

        // 5. Relocations. Every slot written is collected with its target (for the init and fini
        // arrays), and written once: a linker never relocates one slot twice.
        var slotTargets: [UInt64: UInt64] = [:]
        var written = Set<UInt64>()
        var jumpSlots = Set<UInt64>()
        func relocations(at address: UInt64?, size: UInt64?, _ what: String) throws(Invalid) {
            guard let address, let size, size > 0 else { return }
            guard size % 24 == 0, let range = image.fileRange(of: address, length: size) else {
                throw Invalid("the relocation table \(what) lies outside the file or has a broken size")
            }
            for index in 0..<Int(size / 24) {
                let entry = range.lowerBound + index * 24
                let offset = file.u64(entry), info = file.u64(entry + 8), addend = file.u64(entry + 16)
                let type = UInt32(truncatingIfNeeded: info), symbol = info >> 32
                func bad(_ reason: String) -> Invalid { Invalid("relocation \(index) in \(what) \(reason)") }
                guard let kind = relocationKinds[type] else { throw bad("has type \(type), unknown for this machine") }
                if kind == .none { continue }
                guard let target = image.segment(holding: offset, length: 8), target.isWritable else {
                    throw bad("writes outside any writable segment (at \(offset))")
                }
                guard offset % 8 == 0 else { throw bad("writes a misaligned slot (at \(offset))") }
                guard written.insert(offset).inserted else { throw bad("writes a slot another relocation writes (at \(offset))") }
                guard symbol < symbolCount else { throw bad("names symbol \(symbol); the table has \(symbolCount)") }
                if type == jumpSlotType { jumpSlots.insert(offset) }
                // A relative one's slot holds its addend in the file (or nothing): a slot that
                // holds something else is not the one the linker meant.
                if kind == .relative, let slot = image.fileRange(of: offset, length: 8) {
                    let content = file.u64(slot.lowerBound)
                    guard content == addend || content == 0 else { throw bad("writes a slot that holds something else (at \(offset))") }
                }
                let value: UInt64?
                switch kind {
                case .none, .tls:
                    value = nil
                case .relative, .irelative:
                    guard symbol == 0 else { throw bad("is relative but names symbol \(symbol)") }
                    value = addend
                case .absolute, .symbol:
                    let defined = definedValues[Int(symbol)]
                    value = symbol == 0 ? addend : defined == UInt64.max ? nil : defined &+ addend
                }
                if let value {
                    guard image.addresses.contains(value) || (kind == .absolute && symbol == 0 && value == 0) else {
                        throw bad("points outside the image (at \(value))")
                    }
                    if kind == .irelative, !image.isFunction(at: value) {
                        throw bad("runs a resolver that is no function of the file (at \(value))")
                    }
                    slotTargets[offset] = value
                }
            }
        }
        guard (one(dtRelaEnt) ?? 24) == 24 else { throw Invalid("relocations of size \(one(dtRelaEnt)!), not 24") }
        try relocations(at: one(dtRela), size: one(dtRelaSize), "DT_RELA")
        // DT_RELACOUNT: the dynamic linker applies that many leading DT_RELA entries as relative
        // without looking at their type — they must be exactly that.
        if let count = one(dtRelaCount) {
            let relativeType = relocationKinds.first { $0.value == .relative }!.key
            guard let rela = one(dtRela), let size = one(dtRelaSize), count <= size / 24,
                let range = image.fileRange(of: rela, length: count * 24),
                stride(from: range.lowerBound, to: range.upperBound, by: 24).allSatisfy({ UInt32(truncatingIfNeeded: file.u64($0 + 8)) == relativeType })
            else { throw Invalid("DT_RELACOUNT \(count) is more than the relative relocations DT_RELA begins with") }
        }
        if one(dtRelCount) != nil { throw Invalid("the dynamic section gives DT_RELCOUNT, for DT_REL relocations this machine does not use") }
        if one(dtJmpRel) != nil, one(dtPltRel) != dtRela { throw Invalid("PLT relocations are not RELA (DT_PLTREL)") }
        try relocations(at: one(dtJmpRel), size: one(dtPltRelSize), "DT_JMPREL")
        if let relr = one(dtRelr) {
            try relativeRelocations(file, image, at: relr, size: one(dtRelrSize) ?? 0, entry: one(dtRelrEnt) ?? 8, into: &slotTargets)
        }
        // The PLT's GOT slots (after its three reserved words) are each bound by one JUMP_SLOT:
        // code calls through them, and one left unbound would call the lazy resolver, which a
        // module loaded with RTLD_NOW does not have set up.
        if let gotPlt = image.section(named: ".got.plt"), gotPlt.range.count > 24 || !jumpSlots.isEmpty {
            let slots = Set(stride(from: gotPlt.address + 24, to: gotPlt.address + UInt64(gotPlt.range.count), by: 8))
            guard jumpSlots == slots else {
                throw Invalid("the PLT relocations (DT_JMPREL) do not bind exactly the PLT's \(slots.count) slots of .got.plt")
            }
        } else if !jumpSlots.isEmpty {
            throw Invalid("JUMP_SLOT relocations without a .got.plt section")
        }


        // 6. Initializers and finalizers.
        for (tag, name) in [(dtInit, "DT_INIT"), (dtFini, "DT_FINI")] {
            if let address = one(tag), !image.isFunction(at: address) {
                throw Invalid("\(name) points at no function of the file (at \(address))")
            }
        }
        for (arrayTag, sizeTag, name) in [(dtInitArray, dtInitArraySize, "DT_INIT_ARRAY"), (dtFiniArray, dtFiniArraySize, "DT_FINI_ARRAY")] {
            guard let address = one(arrayTag) else { continue }
            let size = one(sizeTag) ?? 0
            guard size % 8 == 0, size < 1 << 20, image.segment(holding: address, length: size) != nil else {
                throw Invalid("\(name) (\(size) bytes at \(address)) lies outside the image")
            }
            for slot in 0..<(size / 8) {
                let at = address &+ slot &* 8
                guard let target = slotTargets[at], image.isFunction(at: target) else {
                    throw Invalid("entry \(slot) of \(name) points at no function of the file")
                }
            }
        }
        return ElfDynamic(needed: needed, isNodelete: flags1 & df1Nodelete != 0)
    }

    /// The symbols a SysV hash table covers (its `nchain`), its buckets and chains checked.
    private static func sysvHashSymbols(_ file: ElfReader, _ image: ElfImage, at address: UInt64) throws(Invalid) -> UInt64 {
        guard let header = image.fileRange(of: address, length: 8) else { throw Invalid("DT_HASH lies outside the file") }
        let buckets = UInt64(file.u32(header.lowerBound)), chains = UInt64(file.u32(header.lowerBound + 4))
        guard buckets < 1 << 24, chains < 1 << 24, let table = image.fileRange(of: address &+ 8, length: (buckets + chains) * 4) else {
            throw Invalid("DT_HASH (\(buckets) buckets, \(chains) chains) lies outside the file")
        }
        for index in 0..<Int(buckets + chains) where UInt64(file.u32(table.lowerBound + index * 4)) >= max(chains, 1) {
            throw Invalid("DT_HASH entry \(index) names a symbol past the table's \(chains)")
        }
        return chains
    }

    /// The symbols a GNU hash table covers: one past the last symbol its chains reach. Every chain
    /// must end (a value with its low bit set) inside the table.
    private static func gnuHashSymbols(_ file: ElfReader, _ image: ElfImage, at address: UInt64) throws(Invalid) -> UInt64 {
        guard let header = image.fileRange(of: address, length: 16) else { throw Invalid("DT_GNU_HASH lies outside the file") }
        let buckets = UInt64(file.u32(header.lowerBound)), offset = UInt64(file.u32(header.lowerBound + 4))
        let bloom = UInt64(file.u32(header.lowerBound + 8)), shift = file.u32(header.lowerBound + 12)
        guard buckets > 0, buckets < 1 << 24, bloom > 0, bloom < 1 << 24, shift < 64, offset < 1 << 24,
            let bucketRange = image.fileRange(of: address &+ 16 &+ bloom &* 8, length: buckets * 4)
        else { throw Invalid("DT_GNU_HASH (\(buckets) buckets, \(bloom) bloom words) lies outside the file or is broken") }
        let chainStart = address &+ 16 &+ bloom &* 8 &+ buckets &* 4
        var count = offset
        for bucket in 0..<Int(buckets) {
            var symbol = UInt64(file.u32(bucketRange.lowerBound + bucket * 4))
            guard symbol != 0 else { continue }
            guard symbol >= offset else { throw Invalid("DT_GNU_HASH bucket \(bucket) names a symbol below its first") }
            while true {
                guard symbol - offset < 1 << 24, let slot = image.fileRange(of: chainStart &+ (symbol - offset) &* 4, length: 4) else {
                    throw Invalid("DT_GNU_HASH chain of bucket \(bucket) runs outside the file")
                }
                count = max(count, symbol + 1)
                if file.u32(slot.lowerBound) & 1 != 0 { break }
                symbol += 1
            }
        }
        return count
    }

    /// Checks `DT_VERNEED` records; returns the highest version index they define. The dynamic
    /// linker walks the records and their entries by their `next` offsets until one is 0 (not by
    /// the counts), so exactly `count` records, and `vn_cnt` entries in each, must end the chains.
    private static func versionNeeds(
        _ file: ElfReader, _ image: ElfImage, at address: UInt64, count: UInt64, needed: [String],
        _ string: (UInt64, String) throws(Invalid) -> String
    ) throws(Invalid) -> UInt64 {
        guard count > 0, count < 1 << 12 else { throw Invalid("DT_VERNEEDNUM \(count) is out of range") }
        var highest: UInt64 = 0
        var record = address
        for index in 0..<count {
            guard let need = image.fileRange(of: record, length: 16), file.u16(need.lowerBound) == 1 else {
                throw Invalid("version need \(index) (DT_VERNEED) lies outside the file or has an unknown version")
            }
            // The dynamic linker finds the library by this name among those DT_NEEDED loads, and
            // asserts that it does.
            let library = try string(UInt64(file.u32(need.lowerBound + 4)), "the file of version need \(index)")
            guard needed.contains(library) else {
                throw Invalid("version need \(index) names \(String(reflecting: library)), which is not a DT_NEEDED library")
            }
            let entries = Int(file.u16(need.lowerBound + 2))
            guard entries > 0 else { throw Invalid("version need \(index) has no entries") }
            var aux = record &+ UInt64(file.u32(need.lowerBound + 8))
            for auxIndex in 0..<entries {
                guard let entry = image.fileRange(of: aux, length: 16) else {
                    throw Invalid("version need \(index), entry \(auxIndex) lies outside the file")
                }
                _ = try string(UInt64(file.u32(entry.lowerBound + 8)), "a version name of need \(index)")
                highest = max(highest, UInt64(file.u16(entry.lowerBound + 6) & 0x7fff))
                let next = UInt64(file.u32(entry.lowerBound + 12))
                guard (next == 0) == (auxIndex == entries - 1) else {
                    throw Invalid("version need \(index): its entries' chain does not end after \(entries)")
                }
                aux &+= next
            }
            let next = UInt64(file.u32(need.lowerBound + 12))
            guard (next == 0) == (index == count - 1) else {
                throw Invalid("the version needs' chain (DT_VERNEED) does not end after DT_VERNEEDNUM \(count) records")
            }
            record &+= next
        }
        return highest
    }

    /// Checks `DT_VERDEF` records, as ``versionNeeds(_:_:at:count:needed:_:)`` does its own; returns
    /// the highest version index they define.
    private static func versionDefinitions(
        _ file: ElfReader, _ image: ElfImage, at address: UInt64, count: UInt64,
        _ string: (UInt64, String) throws(Invalid) -> String
    ) throws(Invalid) -> UInt64 {
        guard count > 0, count < 1 << 12 else { throw Invalid("DT_VERDEFNUM \(count) is out of range") }
        var highest: UInt64 = 0
        var record = address
        for index in 0..<count {
            guard let definition = image.fileRange(of: record, length: 20), file.u16(definition.lowerBound) == 1 else {
                throw Invalid("version definition \(index) (DT_VERDEF) lies outside the file or has an unknown version")
            }
            highest = max(highest, UInt64(file.u16(definition.lowerBound + 4) & 0x7fff))
            let entries = Int(file.u16(definition.lowerBound + 6))
            guard entries > 0 else { throw Invalid("version definition \(index) has no names") }
            var aux = record &+ UInt64(file.u32(definition.lowerBound + 12))
            for auxIndex in 0..<entries {
                guard let entry = image.fileRange(of: aux, length: 8) else {
                    throw Invalid("version definition \(index), entry \(auxIndex) lies outside the file")
                }
                _ = try string(UInt64(file.u32(entry.lowerBound)), "a version name of definition \(index)")
                let next = UInt64(file.u32(entry.lowerBound + 4))
                guard (next == 0) == (auxIndex == entries - 1) else {
                    throw Invalid("version definition \(index): its names' chain does not end after \(entries)")
                }
                aux &+= next
            }
            let next = UInt64(file.u32(definition.lowerBound + 16))
            guard (next == 0) == (index == count - 1) else {
                throw Invalid("the version definitions' chain (DT_VERDEF) does not end after DT_VERDEFNUM \(count) records")
            }
            record &+= next
        }
        return highest
    }

    /// Checks a `DT_RELR` table (addresses, and bitmaps of the 63 words after each), recording
    /// the target of every slot it relocates (the word's file contents plus the load base).
    private static func relativeRelocations(
        _ file: ElfReader, _ image: ElfImage, at address: UInt64, size: UInt64, entry: UInt64,
        into slots: inout [UInt64: UInt64]
    ) throws(Invalid) {
        guard entry == 8, size % 8 == 0, let table = image.fileRange(of: address, length: size) else {
            throw Invalid("the relative relocation table (DT_RELR) lies outside the file or has a broken size")
        }
        var next: UInt64 = 0
        func slot(_ at: UInt64) throws(Invalid) {
            guard let segment = image.segment(holding: at, length: 8), segment.isWritable else {
                throw Invalid("a DT_RELR relocation writes outside any writable segment (at \(at))")
            }
            let value = image.fileRange(of: at, length: 8).map { file.u64($0.lowerBound) } ?? 0
            guard image.addresses.contains(value) else { throw Invalid("a DT_RELR relocation points outside the image (at \(value))") }
            slots[at] = value
        }
        for index in 0..<Int(size / 8) {
            let word = file.u64(table.lowerBound + index * 8)
            if word & 1 == 0 {
                try slot(word)
                next = word &+ 8
            } else {
                var bits = word >> 1
                var at = next
                while bits != 0 {
                    if bits & 1 != 0 { try slot(at) }
                    bits >>= 1
                    at &+= 8
                }
                next &+= 63 * 8
            }
        }
    }
}
