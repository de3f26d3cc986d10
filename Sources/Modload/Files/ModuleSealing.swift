#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writing a module file's metadata section after linking (`modload seal`), for modules whose
/// descriptor is built at run time — a Swift `ModloadModule` `ModuleDescription` — and which
/// therefore cannot write the section at compile time as C's `MODLOAD_*` macros do. The kernel's
/// build does the same: `modpost` writes a module's `.modinfo` entries after compiling it.
///
/// 1. Check the file as a module image (`ModuleFile.image(_:file:)`); refuse a signed one
///    (signing covers every byte: seal first, then sign) and one that has a metadata section.
/// 2. Map it in this process and read its descriptor (`MappedDescriptor`, every pointer
///    checked) — this runs the module's ELF constructors and its descriptor function, as building
///    and testing one's own module does; hosts, `modinfo` and `depmod` never run a file to read it.
/// 3. Append the section: its strings, a section-name table with its name added, and a section
///    header table with one more entry, at the end of the file; the ELF header points at the new
///    table. The section is not loaded (no `SHF_ALLOC`): nothing the dynamic linker reads moves.
/// 4. Replace the file atomically, keeping its permissions.
public enum ModuleSealing {
    /// Seals the module file at `path`; returns the metadata it wrote.
    ///
    /// - Throws: `invalidFile` (not a module image, already sealed, or its descriptor breaks the
    ///   ABI), `badSignature` (signed: seal before signing), `abiMismatch`, or `invalidArgument`
    ///   if the file cannot be written — nothing changed.
    @discardableResult
    public static func seal(file path: String) throws(ModuleError) -> ModuleMetadata {
        // 1. Check.
        let bytes = try ModuleFileBytes.read(path)
        let elf: ElfImage = try bytes.bytes.withUnsafeBytes { all in
            Result { () throws(ModuleError) -> ElfImage in
                guard !SignatureTrailer.isPresent(in: all) else {
                    throw ModuleError(.badSignature, file: path, reason: "is signed; seal a module file before signing it")
                }
                return try ModuleFile.image(all, file: path)
            }
        }.get()
        guard elf.section(named: ModuleMetadata.sectionName) == nil else {
            throw ModuleError(.invalidFile, file: path, reason: "already has a metadata section (\(ModuleMetadata.sectionName))")
        }
        // 2. Read the descriptor.
        let placeholder = ModuleMetadata(
            abiVersion: ModuleFileBytes.abiVersion, name: "unsealed", version: "", description: "", license: "",
            accounting: .counting, exports: [], imports: [], parameters: [], aliases: [], softDependencies: .none, fields: [])
        let unsealed = ModuleFile(
            bytes: bytes, imageEnd: bytes.bytes.count, elf: elf,
            signature: SignatureStatus(kind: .unsigned, signer: nil, keyFingerprint: nil), metadata: placeholder)
        let (image, descriptor) = try unsealed.map(for: 0, agreeing: false)
        _ = image.release()
        let says = descriptor.says
        let lines = ModuleMetadata.lines(
            name: says.name, version: says.version, description: says.description, license: says.license,
            accounting: says.accounting, exports: says.exports, imports: says.imports, parameters: says.parameters,
            aliases: says.aliases, softDependencies: says.softDependencies)
        var section: [UInt8] = []
        for line in lines { section += Array(line.utf8) + [0] }
        let metadata: ModuleMetadata = try section.withUnsafeBytes { raw in
            Result { () throws(ModuleError) -> ModuleMetadata in try ModuleMetadata.parse(raw, file: path) }
        }.get()
        // 3. Append.
        let sealed = try appendSection(section, to: bytes.bytes, file: path)
        // 4. Replace.
        try ModuleFileBytes.replace(path, with: sealed)
        return metadata
    }

    /// The ELF image with a non-loaded section `.modload_info` holding `contents` appended.
    private static func appendSection(_ contents: [UInt8], to image: [UInt8], file: String) throws(ModuleError) -> [UInt8] {
        let header = image.withUnsafeBytes { raw -> (shoff: Int, shnum: Int, shstrndx: Int) in
            let reader = ElfReader(bytes: raw)
            return (Int(reader.u64(40)), Int(reader.u16(60)), Int(reader.u16(62)))
        }
        let entry = ElfImage.shdrSize
        guard header.shnum < 0xff00 else { throw ModuleError(.invalidFile, file: file, reason: "has too many sections to add one") }
        var out = image
        func pad(to alignment: Int) { while out.count % alignment != 0 { out.append(0) } }
        func put(_ value: UInt64, _ size: Int, at offset: Int) {
            for index in 0..<size { out[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        // The section's bytes.
        let sectionOffset = out.count
        out += contents
        // The section-name table, with the new name added.
        let names = image.withUnsafeBytes { raw -> (offset: Int, size: Int) in
            let reader = ElfReader(bytes: raw)
            let at = header.shoff + header.shstrndx * entry
            return (Int(reader.u64(at + 24)), Int(reader.u64(at + 32)))
        }
        let namesOffset = out.count
        out += image[names.offset..<(names.offset + names.size)]
        let nameIndex = out.count - namesOffset
        out += Array(ModuleMetadata.sectionName.utf8) + [0]
        let namesSize = out.count - namesOffset
        // The section header table: the old entries (the name table's moved) and the new one.
        pad(to: 8)
        let tableOffset = out.count
        out += image[header.shoff..<(header.shoff + header.shnum * entry)]
        put(UInt64(namesOffset), 8, at: tableOffset + header.shstrndx * entry + 24)
        put(UInt64(namesSize), 8, at: tableOffset + header.shstrndx * entry + 32)
        var added = [UInt8](repeating: 0, count: entry)
        func field(_ value: UInt64, _ size: Int, _ at: Int) {
            for index in 0..<size { added[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        field(UInt64(nameIndex), 4, 0)  // sh_name
        field(1, 4, 4)  // sh_type: SHT_PROGBITS; sh_flags 0: not loaded
        field(UInt64(sectionOffset), 8, 24)  // sh_offset
        field(UInt64(contents.count), 8, 32)  // sh_size
        field(1, 8, 48)  // sh_addralign
        out += added
        // The ELF header points at the new table.
        put(UInt64(tableOffset), 8, at: 40)
        put(UInt64(header.shnum + 1), 2, at: 60)
        return out
    }
}
