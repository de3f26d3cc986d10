#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The structural check of a module file's ELF image, done on the file's bytes before anything
/// of it is mapped or run (the kernel's `elf_validity_cache_copy`).
///
/// It accepts only what the dynamic linker could map as a module for this process: a 64-bit,
/// little-endian ELF shared object (`ET_DYN`, not a position-independent executable) for this
/// machine, whose headers, segments and sections all lie inside the file, and which exports a
/// descriptor function (of some ABI version: which ones is reported, so that a file built for
/// another version is refused as that, not as "not a module"). It also reports what the loader needs to know: how long the image is
/// (bytes after it must be a signature), and whether it contains Swift code (which is never
/// unmapped, DESIGN §11).
struct ElfImage {
    /// Bytes the ELF image spans from the start of the file (headers, segments, sections).
    let extent: Int
    /// `true` if it contains Swift code: it needs the Swift runtime, or has Swift metadata sections.
    let containsSwift: Bool
    /// `true` if it was linked `-z nodelete`: the dynamic linker never unmaps it.
    let isNodelete: Bool
    /// The ABI versions whose descriptor function it exports (`modload_module_descriptor_v<N>`),
    /// sorted; `nil` if it has no section headers to tell (the descriptor is then looked up after
    /// mapping).
    let descriptorVersions: [UInt32]?

    /// Why a file is not a module image; the loader turns it into an `invalidFile` error.
    struct Invalid: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    // ELF constants used here (see elf(5)).
    private static let machine: UInt16 = {
        #if arch(x86_64)
        62  // EM_X86_64
        #elseif arch(arm64)
        183  // EM_AARCH64
        #else
        0
        #endif
    }()
    private static let ehdrSize = 64, phdrSize = 56, shdrSize = 64, symSize = 24, dynSize = 16
    private static let ptLoad: UInt32 = 1, ptDynamic: UInt32 = 2
    private static let shtNobits: UInt32 = 8, shtDynsym: UInt32 = 11, shtDynamic: UInt32 = 6
    private static let dtNeeded: UInt64 = 1, dtFlags1: UInt64 = 0x6fff_fffb, df1Pie: UInt64 = 0x0800_0000
    private static let df1Nodelete: UInt64 = 0x8

    /// Checks `bytes` — the file without any appended signature — as a module image exporting
    /// descriptor functions named `descriptorPrefix` + an ABI version.
    ///
    /// - Throws: ``Invalid`` naming the first rule broken.
    static func validate(
        _ bytes: UnsafeRawBufferPointer, descriptorPrefix: String, abiVersion: UInt32
    ) throws(Invalid) -> ElfImage {
        let file = Reader(bytes: bytes)
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

        // Program headers: segments inside the file; a dynamic segment; not an executable.
        guard phnum > 0, phentsize == phdrSize else { throw Invalid("no program headers (not a loadable object)") }
        let programHeaders = try within(phoff, UInt64(phnum * phentsize), "the program header table")
        var hasDynamic = false, hasLoad = false
        for index in 0..<phnum {
            let at = programHeaders.lowerBound + index * phentsize
            let type = file.u32(at)
            _ = try within(file.u64(at + 8), file.u64(at + 32), "segment \(index)")
            if type == ptLoad { hasLoad = true }
            if type == ptDynamic { hasDynamic = true }
        }
        guard hasLoad, hasDynamic else { throw Invalid("not a shared object: no loadable or dynamic segment") }

        // Section headers (absent only from specially stripped files; then the descriptor is
        // looked up after mapping).
        var needed: [String] = []
        var swiftSections = false
        var symbolTableSeen = false
        var descriptorVersions = Set<UInt32>()
        var isPIE = false
        var isNodelete = false
        if shnum > 0 {
            guard shentsize == shdrSize else { throw Invalid("section headers of size \(shentsize), not \(shdrSize)") }
            let sectionHeaders = try within(shoff, UInt64(shnum * shentsize), "the section header table")
            struct Section { let type: UInt32, name: UInt32, range: Range<Int>, link: Int }
            var sections: [Section] = []
            sections.reserveCapacity(shnum)
            for index in 0..<shnum {
                let at = sectionHeaders.lowerBound + index * shentsize
                let type = file.u32(at + 4)
                let range =
                    type == shtNobits
                    ? 0..<0 : try within(file.u64(at + 24), file.u64(at + 32), "section \(index)")
                sections.append(Section(type: type, name: file.u32(at), range: range, link: Int(file.u32(at + 40))))
            }
            func string(in table: Int, at offset: UInt32) -> String? {
                guard table < sections.count else { return nil }
                return file.cString(in: sections[table].range, at: Int(offset))
            }
            if shstrndx < sections.count {
                swiftSections = sections.contains { string(in: shstrndx, at: $0.name)?.hasPrefix("swift5_") == true }
            }
            // Defined, global functions named modload_module_descriptor_v<N>: the ABI versions the
            // file was built for.
            let prefix = Array(descriptorPrefix.utf8)
            for section in sections where section.type == shtDynsym {
                symbolTableSeen = true
                guard section.link < sections.count else { continue }
                let names = sections[section.link].range
                var at = section.range.lowerBound
                while at + symSize <= section.range.upperBound {
                    defer { at += symSize }
                    let info = file.u8(at + 4), shndx = file.u16(at + 6)
                    let isFunction = info & 0xf == 2, isGlobal = info >> 4 == 1 || info >> 4 == 2
                    guard isFunction, isGlobal, shndx != 0,
                        file.bytes(in: names, at: Int(file.u32(at)), equal: prefix),
                        let name = file.cString(in: names, at: Int(file.u32(at))),
                        let version = UInt32(name.dropFirst(prefix.count))
                    else { continue }
                    descriptorVersions.insert(version)
                }
            }
            for section in sections where section.type == shtDynamic {
                var at = section.range.lowerBound
                while at + dynSize <= section.range.upperBound {
                    let tag = file.u64(at), value = file.u64(at + 8)
                    if tag == 0 { break }
                    if tag == dtNeeded, value <= UInt64(UInt32.max), let name = string(in: section.link, at: UInt32(value)) {
                        needed.append(name)
                    }
                    if tag == dtFlags1, value & df1Pie != 0 { isPIE = true }
                    if tag == dtFlags1, value & df1Nodelete != 0 { isNodelete = true }
                    at += dynSize
                }
            }
        }
        if isPIE {
            throw Invalid("not a shared object: it is a position-independent executable")
        }
        if symbolTableSeen, descriptorVersions.isEmpty {
            throw Invalid("not a Modload module: it does not export \(descriptorPrefix)\(abiVersion)()")
        }
        let containsSwift = swiftSections || needed.contains { $0.hasPrefix("libswiftCore.") }
        return ElfImage(
            extent: extent, containsSwift: containsSwift, isNodelete: isNodelete,
            descriptorVersions: symbolTableSeen ? descriptorVersions.sorted() : nil)
    }

    /// Little-endian reads at byte offsets the caller has bounds-checked against the image (reads
    /// past the end return 0, never trap: the header fields are checked before use).
    private struct Reader {
        let bytes: UnsafeRawBufferPointer

        func u8(_ at: Int) -> UInt8 { at < bytes.count ? bytes[at] : 0 }
        func u16(_ at: Int) -> UInt16 { at + 2 <= bytes.count ? UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) : 0 }
        func u32(_ at: Int) -> UInt32 { at + 4 <= bytes.count ? UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) : 0 }
        func u64(_ at: Int) -> UInt64 { at + 8 <= bytes.count ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) : 0 }

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
    }
}
