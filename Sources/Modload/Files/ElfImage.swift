#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The structural check of a module file's ELF image, done on the file's bytes before anything
/// of it is mapped or run (the kernel's `elf_validity_cache_copy`), and what the rest of the
/// pipeline needs to know about the image.
///
/// It accepts only what the dynamic linker can map as a module for this process, and checks
/// everything the dynamic linker follows (see ``ElfDynamic``):
///
/// 1. the ELF header: a 64-bit, little-endian shared object (`ET_DYN`, not a position-independent
///    executable) for this machine;
/// 2. program headers: inside the file; loadable segments in address order, not overlapping,
///    readable and never both writable and executable, with no other flags,
///    each one's file part inside the file and no larger than its memory part, offset and
///    address congruent modulo the page; the dynamic segment inside a loadable one; no
///    interpreter, no executable stack;
/// 3. section headers (required: the metadata section is found through them): inside the file,
///    names inside the section-name table;
/// 4. the dynamic section and everything it points at (``ElfDynamic``);
/// 5. the function symbols of `.symtab` and `.dynsym`: where entry points may point.
///
/// It also reports how long the image is (bytes after it must be a signature), which descriptor
/// functions it exports, whether it contains Swift code (never unmapped, and it must come from
/// the host's toolchain) and which compiler built it.
struct ElfImage {
    /// A loadable segment (`PT_LOAD`).
    struct Segment {
        let address: UInt64
        let memorySize: UInt64
        let offset: UInt64
        let fileSize: UInt64
        let flags: UInt32

        var isExecutable: Bool { flags & 1 != 0 }
        var isWritable: Bool { flags & 2 != 0 }
        /// Its addresses once loaded (relative to the load base).
        var addresses: Range<UInt64> { address..<(address + memorySize) }
    }

    /// A section.
    struct Section {
        let name: String
        let type: UInt32
        let flags: UInt64
        let address: UInt64
        /// Its bytes in the file (empty for `SHT_NOBITS`).
        let range: Range<Int>
        let link: Int
    }

    /// Bytes the ELF image spans from the start of the file (headers, segments, sections).
    let extent: Int
    /// The loadable segments, in address order.
    let segments: [Segment]
    /// Every section, in header order.
    let sections: [Section]
    /// The addresses of the file's functions (`STT_FUNC` symbols of `.symtab` and `.dynsym`).
    let functions: Set<UInt64>
    /// `true` if the file has a full symbol table (`.symtab`): entry points must then be at one of
    /// ``functions``; without it, only inside code.
    let hasSymbolTable: Bool
    /// `true` if it contains Swift code: it needs the Swift runtime, or has Swift metadata sections.
    let containsSwift: Bool
    /// `true` if it was linked `-z nodelete`: the dynamic linker never unmaps it.
    let isNodelete: Bool
    /// The descriptor functions it exports (`modload_module_descriptor_v<N>`): their addresses
    /// (load-base relative), by ABI version.
    let descriptorFunctions: [UInt32: UInt64]
    /// The ABI versions whose descriptor function it exports, sorted.
    var descriptorVersions: [UInt32] { descriptorFunctions.keys.sorted() }
    /// The compilers that built it, as they recorded themselves in `.comment`.
    let compilers: [String]

    /// Why a file is not a module image; the loader turns it into an `invalidFile` error.
    struct Invalid: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// This process's machine, as ELF names it.
    static let machine: UInt16 = {
        #if arch(x86_64)
        62  // EM_X86_64
        #elseif arch(arm64)
        183  // EM_AARCH64
        #else
        0
        #endif
    }()
    static let ehdrSize = 64, phdrSize = 56, shdrSize = 64, symSize = 24
    private static let ptLoad: UInt32 = 1, ptDynamic: UInt32 = 2, ptInterp: UInt32 = 3, ptTls: UInt32 = 7
    private static let ptGnuStack: UInt32 = 0x6474_e551, ptGnuRelro: UInt32 = 0x6474_e552
    private static let ptNote: UInt32 = 4, ptGnuEhFrame: UInt32 = 0x6474_e550, ptGnuProperty: UInt32 = 0x6474_e553
    private static let shtSymtab: UInt32 = 2, shtNobits: UInt32 = 8, shtDynsym: UInt32 = 11
    private static let pageSize: UInt64 = 4096

    /// A segment's flags as `readelf` prints them (`R E`), and any other bits in hexadecimal.
    static func segmentFlags(_ flags: UInt32) -> String {
        let named = (flags & 4 != 0 ? "R" : "-") + (flags & 2 != 0 ? "W" : "-") + (flags & 1 != 0 ? "X" : "-")
        return flags & ~7 == 0 ? named : named + " and 0x" + String(flags & ~7, radix: 16)
    }

    /// The section named `name`, if there is one.
    func section(named name: String) -> Section? { sections.first { $0.name == name } }

    /// The loadable segment holding `length` bytes from `address` (load-base relative), if one does.
    func segment(holding address: UInt64, length: UInt64) -> Segment? {
        segments.first { address >= $0.address && length <= $0.memorySize && address - $0.address <= $0.memorySize - length }
    }

    /// Where the `length` bytes at `address` lie in the file, if a segment holds them in its file
    /// part (what the dynamic linker reads its tables from).
    func fileRange(of address: UInt64, length: UInt64) -> Range<Int>? {
        for segment in segments
        where address >= segment.address && length <= segment.fileSize && address - segment.address <= segment.fileSize - length {
            let start = Int(segment.offset + (address - segment.address))
            return start..<(start + Int(length))
        }
        return nil
    }

    /// The addresses the image spans once loaded: from its lowest segment to the end of its highest.
    var addresses: ClosedRange<UInt64> { (segments.first?.address ?? 0)...(segments.last.map { $0.address + $0.memorySize } ?? 0) }

    /// `true` if `address` may be called as code: inside an executable segment, and — when the file
    /// has a symbol table — the start of one of its functions.
    func isFunction(at address: UInt64) -> Bool {
        guard let segment = segment(holding: address, length: 1), segment.isExecutable else { return false }
        return !hasSymbolTable || functions.contains(address)
    }

    /// Checks `bytes` — the file without any appended signature — as a module image exporting
    /// descriptor functions named `descriptorPrefix` + an ABI version.
    ///
    /// - Throws: ``Invalid`` naming the first rule broken.
    static func validate(_ bytes: UnsafeRawBufferPointer, descriptorPrefix: String) throws(Invalid) -> ElfImage {
        let file = ElfReader(bytes: bytes)
        guard bytes.count >= 4, file.u8(0) == 0x7f, file.u8(1) == 0x45, file.u8(2) == 0x4c, file.u8(3) == 0x46 else {
            throw Invalid("not an ELF file (no \\x7fELF magic)")
        }
        guard bytes.count >= ehdrSize else {
            throw Invalid("truncated: \(bytes.count) bytes, shorter than an ELF header")
        }
        guard file.u8(4) == 2 else { throw Invalid("not a 64-bit ELF file (class \(file.u8(4)))") }
        guard file.u8(5) == 1 else { throw Invalid("not a little-endian ELF file (data encoding \(file.u8(5)))") }
        guard file.u8(6) == 1 else { throw Invalid("unknown ELF version \(file.u8(6))") }
        let type = file.u16(16)
        guard type == 3 else {
            let kind = [1: "a relocatable object (.o)", 2: "an executable", 4: "a core dump"][Int(type)] ?? "ELF type \(type)"
            throw Invalid("not a shared object: it is \(kind)")
        }
        guard file.u16(18) == machine else { throw Invalid("built for another machine (e_machine \(file.u16(18)))") }
        guard file.u16(52) == ehdrSize else { throw Invalid("the ELF header claims \(file.u16(52)) bytes, not \(ehdrSize)") }

        let phoff = file.u64(32), shoff = file.u64(40)
        let phentsize = Int(file.u16(54)), phnum = Int(file.u16(56))
        let shentsize = Int(file.u16(58)), shnum = Int(file.u16(60)), shstrndx = Int(file.u16(62))
        var extent = ehdrSize
        func within(_ offset: UInt64, _ size: UInt64, _ what: @autoclosure () -> String) throws(Invalid) -> Range<Int> {
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow, end <= UInt64(Int.max) else { throw Invalid("\(what()) has an impossible extent") }
            extent = max(extent, Int(end))
            guard end <= UInt64(bytes.count) else {
                throw Invalid("truncated: \(what()) ends at byte \(end), but the image has \(bytes.count)")
            }
            return Int(offset)..<Int(end)
        }

        // 2. Program headers.
        guard phnum > 0, phentsize == phdrSize else { throw Invalid("no program headers (not a loadable object)") }
        let programHeaders = try within(phoff, UInt64(phnum * phentsize), "the program header table")
        var segments: [Segment] = []
        var dynamic: (offset: UInt64, size: UInt64, address: UInt64)?
        var others: [(what: String, address: UInt64, size: UInt64, writable: Bool)] = []
        var located: [(index: Int, type: UInt32, offset: UInt64, address: UInt64, size: UInt64)] = []
        for index in 0..<phnum {
            let at = programHeaders.lowerBound + index * phentsize
            let type = file.u32(at), flags = file.u32(at + 4)
            let offset = file.u64(at + 8), address = file.u64(at + 16)
            let fileSize = file.u64(at + 32), memorySize = file.u64(at + 40), align = file.u64(at + 48)
            _ = try within(offset, fileSize, "segment \(index)")
            switch type {
            case ptLoad:
                // The dynamic linker reads headers, symbol and hash tables through the loadable
                // segments: one it maps unreadable (execute-only) faults it. Flags other than
                // read, write and execute are not meant for this process, and no segment is both
                // writable and executable (the kernel's module_enforce_rwx_sections).
                guard flags & ~7 == 0, flags & 4 != 0, flags & 3 != 3 else {
                    throw Invalid("loadable segment \(index) has flags \(segmentFlags(flags)): each must be readable, never writable and executable")
                }
                // Only a writable segment may be longer in memory than in the file (its .bss): code
                // and constants that are not in the file would be zeros.
                guard fileSize == memorySize || (fileSize < memorySize && flags & 2 != 0) else {
                    throw Invalid("loadable segment \(index) has \(fileSize) bytes in the file but \(memorySize) in memory")
                }
                let (_, overflow) = address.addingReportingOverflow(memorySize)
                guard !overflow, memorySize < 1 << 40 else { throw Invalid("loadable segment \(index) has an impossible size") }
                guard align == 0 || align & (align - 1) == 0, offset % pageSize == address % pageSize else {
                    throw Invalid("loadable segment \(index): offset \(offset) and address \(address) are not page-congruent")
                }
                if let last = segments.last {
                    guard address >= last.address + last.memorySize else {
                        throw Invalid("loadable segment \(index) overlaps or precedes the one before it")
                    }
                }
                segments.append(Segment(address: address, memorySize: memorySize, offset: offset, fileSize: fileSize, flags: flags))
            case ptDynamic:
                guard dynamic == nil else { throw Invalid("two dynamic segments") }
                dynamic = (offset, fileSize, address)
            case ptInterp:
                throw Invalid("not a shared object: it asks for a program interpreter (PT_INTERP), as an executable does")
            case ptGnuStack:
                if flags & 1 != 0 { throw Invalid("asks for an executable stack (PT_GNU_STACK)") }
            case ptTls:
                others.append(("the TLS segment", address, fileSize, false))
            case ptGnuRelro:
                others.append(("the RELRO segment", address, memorySize, true))
            case ptNote, ptGnuEhFrame, ptGnuProperty:
                // Read in memory by whoever walks loaded objects (unwinders, sanitizers, debuggers:
                // dl_iterate_phdr): each must be where a loadable segment maps its bytes.
                guard fileSize == memorySize else { throw Invalid("segment \(index) (type \(type)) differs in file and memory size") }
                located.append((index, type, offset, address, fileSize))
            default:
                break
            }
        }
        guard !segments.isEmpty, let dynamic else { throw Invalid("not a shared object: no loadable or dynamic segment") }

        // 3. Section headers.
        guard shnum > 0 else { throw Invalid("no section headers: its metadata section cannot be found") }
        guard shentsize == shdrSize else { throw Invalid("section headers of size \(shentsize), not \(shdrSize)") }
        let sectionHeaders = try within(shoff, UInt64(shnum * shentsize), "the section header table")
        var raw: [(type: UInt32, flags: UInt64, name: UInt32, address: UInt64, size: UInt64, range: Range<Int>, link: Int)] = []
        raw.reserveCapacity(shnum)
        for index in 0..<shnum {
            let at = sectionHeaders.lowerBound + index * shentsize
            let type = file.u32(at + 4)
            let range = type == shtNobits ? 0..<0 : try within(file.u64(at + 24), file.u64(at + 32), "section \(index)")
            raw.append((type, file.u64(at + 8), file.u32(at), file.u64(at + 16), file.u64(at + 32), range, Int(file.u32(at + 40))))
        }
        guard shstrndx < raw.count else { throw Invalid("the section-name table index \(shstrndx) is out of range") }
        var sections: [Section] = []
        sections.reserveCapacity(raw.count)
        for (index, section) in raw.enumerated() {
            guard let name = file.cString(in: raw[shstrndx].range, at: Int(section.name)) else {
                throw Invalid("section \(index)'s name lies outside the section-name table")
            }
            sections.append(
                Section(name: name, type: section.type, flags: section.flags, address: section.address, range: section.range, link: section.link))
        }

        // Sections and segments describe one layout: every loaded section lies in a segment at
        // the same place in file and memory, code in an executable one, writable data in a
        // writable one (what the dynamic linker maps is what the sections say the file holds).
        let shfWrite: UInt64 = 1, shfAlloc: UInt64 = 2, shfExec: UInt64 = 4
        let shfTls: UInt64 = 0x400
        for (index, section) in raw.enumerated()
        where section.flags & shfAlloc != 0 && section.size > 0 && !(section.type == shtNobits && section.flags & shfTls != 0) {
            guard let holder = segments.first(where: {
                section.address >= $0.address && section.size <= $0.memorySize && section.address - $0.address <= $0.memorySize - section.size
            }), section.type == shtNobits
                || (section.address - holder.address + section.size <= holder.fileSize
                    && UInt64(section.range.lowerBound) == holder.offset + (section.address - holder.address)),
                section.flags & shfExec == 0 || holder.flags & 1 != 0, section.flags & shfWrite == 0 || holder.flags & 2 != 0
            else {
                throw Invalid("section \(index) (\(sections[index].name)) does not lie where the loadable segments put it")
            }
        }

        let image = ElfImage(
            extent: extent, segments: segments, sections: sections, functions: [], hasSymbolTable: false,
            containsSwift: false, isNodelete: false, descriptorFunctions: [:], compilers: [])
        guard image.segment(holding: dynamic.address, length: dynamic.size) != nil,
            image.fileRange(of: dynamic.address, length: dynamic.size) == Int(dynamic.offset)..<Int(dynamic.offset + dynamic.size)
        else { throw Invalid("the dynamic segment is not inside a loadable segment") }
        for other in others {
            guard let holder = image.segment(holding: other.address, length: other.size), !other.writable || holder.isWritable else {
                throw Invalid("\(other.what) is not inside a loadable\(other.writable ? ", writable" : "") segment")
            }
        }
        for segment in located {
            guard image.fileRange(of: segment.address, length: segment.size) == Int(segment.offset)..<Int(segment.offset + segment.size) else {
                throw Invalid("segment \(segment.index) (type \(segment.type)) is not where a loadable segment maps its bytes")
            }
            if segment.type == ptNote {
                // Note entries: a header of three words, then name and description, each padded to 4.
                var at = Int(segment.offset)
                let end = at + Int(segment.size)
                while at < end {
                    guard end - at >= 12 else { throw Invalid("segment \(segment.index) (notes) ends inside a note header") }
                    let name = (UInt64(file.u32(at)) + 3) & ~3, description = (UInt64(file.u32(at + 4)) + 3) & ~3
                    guard name + description <= UInt64(end - at - 12) else {
                        throw Invalid("segment \(segment.index) (notes) has a note running past its end")
                    }
                    at += 12 + Int(name + description)
                }
            }
        }

        // 5. Function symbols (entry points must be one), and the descriptor functions exported.
        // With a full symbol table, it is the one that counts: every defined dynamic symbol must
        // be in it under the same name at the same address (a linker writes both).
        var functions = Set<UInt64>()
        var hasSymbolTable = false
        var globals: [String: UInt64] = [:]
        var dynamicSymbols: [(name: String, value: UInt64)] = []
        var undefined = Set<String>(), dynamicUndefined: [String] = []
        var descriptorFunctions: [UInt32: UInt64] = [:]
        let prefix = Array(descriptorPrefix.utf8)
        // .symtab first: once it is seen, only it says where functions are.
        for section in sections.filter({ $0.type == shtSymtab }) + sections.filter({ $0.type == shtDynsym }) {
            guard section.link < sections.count else { throw Invalid("symbol table \(section.name) names no string table") }
            if section.type == shtSymtab { hasSymbolTable = true }
            let names = sections[section.link].range
            var at = section.range.lowerBound
            while at + symSize <= section.range.upperBound {
                defer { at += symSize }
                let info = file.u8(at + 4), shndx = file.u16(at + 6), value = file.u64(at + 8)
                let isFunction = info & 0xf == 2, isGlobal = info >> 4 == 1 || info >> 4 == 2
                if shndx == 0, isGlobal, let name = file.cString(in: names, at: Int(file.u32(at))) {
                    // (.symtab may spell a versioned reference name@VERSION.)
                    if section.type == shtSymtab { undefined.insert(String(name.prefix { $0 != "@" })) } else { dynamicUndefined.append(name) }
                }
                guard shndx != 0, shndx < 0xff00 else { continue }  // undefined, absolute, common
                if isGlobal, let name = file.cString(in: names, at: Int(file.u32(at))) {
                    if section.type == shtSymtab { globals[name] = value } else { dynamicSymbols.append((name, value)) }
                }
                guard isFunction else { continue }
                if section.type == shtSymtab || !hasSymbolTable { functions.insert(value) }
                guard section.type == shtDynsym, isGlobal, file.bytes(in: names, at: Int(file.u32(at)), equal: prefix),
                    let name = file.cString(in: names, at: Int(file.u32(at))),
                    let version = UInt32(name.dropFirst(prefix.count))
                else { continue }
                descriptorFunctions[version] = value
            }
        }
        if hasSymbolTable {
            for name in dynamicUndefined where !undefined.contains(name) {
                throw Invalid("undefined dynamic symbol \(name) is not an undefined symbol of the symbol table")
            }
            for symbol in dynamicSymbols where globals[symbol.name] != symbol.value {
                throw Invalid(
                    "dynamic symbol \(symbol.name) is at \(symbol.value), but the symbol table has it "
                        + (globals[symbol.name].map { "at \($0)" } ?? "nowhere"))
            }
        }
        let withSymbols = ElfImage(
            extent: extent, segments: segments, sections: sections, functions: functions, hasSymbolTable: hasSymbolTable,
            containsSwift: false, isNodelete: false, descriptorFunctions: [:], compilers: [])

        // 4. The dynamic section and what the dynamic linker follows from it.
        let linking = try ElfDynamic.validate(file, image: withSymbols, dynamic: Int(dynamic.offset)..<Int(dynamic.offset + dynamic.size))

        let swiftSections = sections.contains { $0.name.hasPrefix("swift5_") }
        let containsSwift = swiftSections || linking.needed.contains { $0.hasPrefix("libswiftCore.") }
        var compilers: [String] = []
        if let comment = withSymbols.section(named: ".comment") {
            compilers = file.strings(in: comment.range).filter { !$0.isEmpty }
        }
        return ElfImage(
            extent: extent, segments: segments, sections: sections, functions: functions, hasSymbolTable: hasSymbolTable,
            containsSwift: containsSwift, isNodelete: linking.isNodelete, descriptorFunctions: descriptorFunctions,
            compilers: compilers)
    }
}

extension ElfImage {
    /// Where the section named `name` lies in an ELF file's bytes, found through the ELF header and
    /// the section table alone — each bounds-checked, nothing else checked (for indexing, which
    /// reads only a module's metadata); `nil` if the file has no such section.
    ///
    /// - Throws: ``Invalid`` for a file that is not a 64-bit little-endian ELF file of this
    ///   machine, or whose section table or section lies outside it.
    static func section(named name: String, in bytes: UnsafeRawBufferPointer) throws(Invalid) -> Range<Int>? {
        let file = ElfReader(bytes: bytes)
        guard bytes.count >= ehdrSize, file.u8(0) == 0x7f, file.u8(1) == 0x45, file.u8(2) == 0x4c, file.u8(3) == 0x46 else {
            throw Invalid("not an ELF file (no \\x7fELF magic)")
        }
        guard file.u8(4) == 2, file.u8(5) == 1, file.u16(18) == machine else {
            throw Invalid("not a 64-bit little-endian ELF file for this machine")
        }
        let shoff = file.u64(40), shentsize = Int(file.u16(58)), shnum = Int(file.u16(60)), shstrndx = Int(file.u16(62))
        func within(_ offset: UInt64, _ size: UInt64, _ what: String) throws(Invalid) -> Range<Int> {
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow, end <= UInt64(bytes.count) else { throw Invalid("truncated: \(what) lies outside the file") }
            return Int(offset)..<Int(end)
        }
        guard shnum > 0, shentsize == shdrSize, shstrndx < shnum else { throw Invalid("no usable section header table") }
        let table = try within(shoff, UInt64(shnum * shentsize), "the section header table")
        let names = try within(file.u64(table.lowerBound + shstrndx * shdrSize + 24), file.u64(table.lowerBound + shstrndx * shdrSize + 32), "the section-name table")
        for index in 0..<shnum {
            let at = table.lowerBound + index * shdrSize
            guard file.cString(in: names, at: Int(file.u32(at))) == name else { continue }
            return try within(file.u64(at + 24), file.u64(at + 32), "section \(name)")
        }
        return nil
    }

    /// The `.comment` lines of the ELF file at `path` (the compilers that built it), read with a
    /// few small reads rather than the whole file (for the host's own executable); empty if it has
    /// none or is not ELF.
    static func compilers(ofFileAt path: String) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
            guard count > 0, count <= 1 << 20 else { return nil }
            var buffer = [UInt8](repeating: 0, count: count)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, off_t(offset)) }
            return n == count ? buffer : nil
        }
        func withReader<T>(_ bytes: [UInt8], _ body: (ElfReader) -> T) -> T {
            bytes.withUnsafeBytes { body(ElfReader(bytes: $0)) }
        }
        guard let header = read(0, ehdrSize), header.starts(with: [0x7f, 0x45, 0x4c, 0x46]) else { return [] }
        let (shoff, shnum, shstrndx) = withReader(header) { ($0.u64(40), Int($0.u16(60)), Int($0.u16(62))) }
        guard shnum > 0, shstrndx < shnum, let table = read(shoff, shnum * shdrSize) else { return [] }
        return withReader(table) { headers -> [String] in
            func section(_ index: Int) -> (name: UInt32, offset: UInt64, size: UInt64) {
                (headers.u32(index * shdrSize), headers.u64(index * shdrSize + 24), headers.u64(index * shdrSize + 32))
            }
            let names = section(shstrndx)
            guard let nameBytes = read(names.offset, Int(min(names.size, 1 << 20))) else { return [] }
            return withReader(nameBytes) { nameTable -> [String] in
                for index in 0..<shnum {
                    let candidate = section(index)
                    guard nameTable.cString(in: 0..<nameBytes.count, at: Int(candidate.name)) == ".comment",
                        let comment = read(candidate.offset, Int(min(candidate.size, 1 << 16)))
                    else { continue }
                    return withReader(comment) { $0.strings(in: 0..<comment.count).filter { !$0.isEmpty } }
                }
                return []
            }
        }
    }
}

/// Little-endian reads of an ELF file's bytes. A read past the end returns 0 and never traps:
/// every field is range-checked by the caller before it is trusted.
struct ElfReader {
    let bytes: UnsafeRawBufferPointer

    func u8(_ at: Int) -> UInt8 { at >= 0 && at < bytes.count ? bytes[at] : 0 }
    func u16(_ at: Int) -> UInt16 { at >= 0 && at + 2 <= bytes.count ? UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) : 0 }
    func u32(_ at: Int) -> UInt32 { at >= 0 && at + 4 <= bytes.count ? UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) : 0 }
    func u64(_ at: Int) -> UInt64 { at >= 0 && at + 8 <= bytes.count ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) : 0 }

    /// `true` if the bytes at `offset` inside `table` are `expected`.
    func bytes(in table: Range<Int>, at offset: Int, equal expected: [UInt8]) -> Bool {
        guard offset >= 0, offset <= table.count - expected.count else { return false }
        let start = table.lowerBound + offset
        return expected.withUnsafeBytes { memcmp(bytes.baseAddress! + start, $0.baseAddress!, expected.count) == 0 }
    }

    /// The NUL-terminated string at `offset` inside `table`, or `nil` if it runs out of it.
    func cString(in table: Range<Int>, at offset: Int) -> String? {
        guard offset >= 0, offset < table.count else { return nil }
        let start = table.lowerBound + offset
        guard let end = bytes[start..<table.upperBound].firstIndex(of: 0) else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The NUL-terminated strings filling `table` (a last one without NUL included).
    func strings(in table: Range<Int>) -> [String] {
        bytes[table].split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            .dropLast(bytes[table].last == 0 ? 1 : 0).map { $0 }
    }
}
