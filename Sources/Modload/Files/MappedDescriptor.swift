#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI
import CModloadLinux

/// A mapped module's descriptor (`modload.h`), read without trusting it: its code — entry points
/// and export addresses — once every rule of the ABI held and it said what the metadata says.
///
/// Nothing the descriptor holds is followed directly. Its bytes, and every string and array it
/// points at, are copied out with a read that cannot fault (``ml_read_memory``); a pointer must
/// lie inside the module's own loaded segments — except, in a file with Swift code, the data its
/// run-time built descriptor keeps on the heap — and every string ends within 4096 bytes. Entry
/// points and function exports must be functions of the file (``ElfImage/isFunction(at:)``).
/// Then the descriptor must agree with the metadata section, field by field.
struct MappedDescriptor: @unchecked Sendable {  // C function pointers and addresses into a mapped image, read-only
    typealias EntryPoint = @convention(c) (UnsafePointer<modload_host_api>?, OpaquePointer?) -> Int32
    typealias ExitPoint = @convention(c) (UnsafePointer<modload_host_api>?, OpaquePointer?) -> Void

    let initialize: EntryPoint
    let exit: ExitPoint?
    let cleanup: EntryPoint?
    /// Export addresses, by symbol name.
    let exports: [String: UnsafeRawPointer]
    /// What the descriptor says, in the metadata's terms (for the agreement check and for
    /// `modload seal`).
    let says: ModuleMetadata

    /// Reads the descriptor at `pointer` of an image loaded at `base`, and — unless `metadata` is
    /// `nil` (sealing: there is none yet) — checks it agrees with the metadata section.
    ///
    /// - Throws: `abiMismatch`, or `invalidFile` naming `file` and the broken rule.
    static func read(
        _ pointer: UnsafeRawPointer, base: UInt, image: ElfImage, agreeingWith metadata: ModuleMetadata?, file: String
    ) throws(ModuleError) -> MappedDescriptor {
        func invalid(_ reason: String) -> ModuleError {
            ModuleError(.invalidFile, file: file, reason: "descriptor: " + reason)
        }
        let memory = Memory(base: base, image: image, heapAllowed: image.containsSwift)
        guard let head = memory.copy(pointer, count: 8, as: UInt32.self, "the descriptor"), head.count == 2 else {
            throw invalid("the descriptor function returned a pointer to nothing readable")
        }
        guard head[0] == MODLOAD_ABI_VERSION else {
            throw ModuleError(
                .abiMismatch, file: file,
                reason: "descriptor says ABI version \(head[0]); this host speaks ABI \(MODLOAD_ABI_VERSION)")
        }
        let size = MemoryLayout<modload_descriptor>.size
        guard Int(head[1]) >= size else {
            throw invalid("size \(head[1]) is smaller than version \(MODLOAD_ABI_VERSION)'s \(size) bytes")
        }
        guard let d = memory.copy(pointer, count: size, as: modload_descriptor.self, "the descriptor")?.first else {
            throw invalid("the descriptor's \(size) bytes are not all readable")
        }
        guard d.reserved == 0, d.reserved2 == 0, d.reserved3 == 0 else { throw invalid("reserved fields must be zero") }

        func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(ModuleError) -> String {
            guard let pointer else { throw invalid("\(what) is missing (NULL)") }
            switch memory.string(UnsafeRawPointer(pointer)) {
            case .success(let text): return text
            case .failure(let problem): throw invalid("\(what) \(problem)")
            }
        }
        func array<Element>(_ pointer: UnsafePointer<Element>?, _ count: UInt32, _ what: String) throws(ModuleError) -> [Element] {
            guard count <= UInt32(ModuleMetadata.maximumEntries) else {
                throw invalid("\(count) \(what); the limit is \(ModuleMetadata.maximumEntries)")
            }
            guard count > 0 else { return [] }
            guard let pointer else { throw invalid("\(count) \(what), but no array of them (NULL)") }
            guard let items = memory.copy(UnsafeRawPointer(pointer), count: Int(count) * MemoryLayout<Element>.stride, as: Element.self, what),
                items.count == Int(count)
            else { throw invalid("the array of \(count) \(what) is not inside the module") }
            return items
        }
        func code<Function>(_ pointer: Function?, _ what: String) throws(ModuleError) -> Function? {
            guard let pointer else { return nil }
            let address = UInt(bitPattern: unsafeBitCast(pointer, to: UnsafeRawPointer.self))
            guard address >= base, image.isFunction(at: UInt64(address - base)) else {
                throw invalid("\(what) points at no function of the file")
            }
            return pointer
        }

        let name = try string(d.name, "the module name")
        let accounting: ModuleAccounting
        switch d.accounting {
        case MODLOAD_COUNTING.rawValue: accounting = .counting
        case MODLOAD_NONCOUNTING.rawValue: accounting = .noncounting
        default: throw invalid("unknown accounting \(d.accounting) (0 counting, 1 noncounting)")
        }
        guard let initialize = try code(d.`init`, "init") else { throw invalid("no init entry point (NULL)") }

        var exports: [ModuleMetadata.Symbol] = []
        var addresses: [String: UnsafeRawPointer] = [:]
        for (index, export) in try array(d.exports, d.export_count, "exports").enumerated() {
            let symbol = try string(export.name, "export \(index)'s name")
            let signature = try string(export.signature, "export \(symbol)'s signature")
            guard !symbol.isEmpty, !signature.isEmpty else { throw invalid("export \(index) has an empty name or signature") }
            guard let address = export.address else { throw invalid("export \(symbol) has no address (NULL)") }
            let relative = UInt(bitPattern: address) &- base
            if signature.hasPrefix("data:") {
                guard memory.isData(address) else { throw invalid("export \(symbol) points at nothing the module holds") }
            } else {
                guard UInt(bitPattern: address) >= base, image.isFunction(at: UInt64(relative)) else {
                    throw invalid("export \(symbol) points at no function of the file")
                }
            }
            guard addresses.updateValue(address, forKey: symbol) == nil else { throw invalid("exports \(symbol) twice") }
            exports.append(ModuleMetadata.Symbol(name: symbol, signature: SymbolSignature(signature)))
        }
        var imports: [ModuleMetadata.Symbol] = []
        for (index, entry) in try array(d.imports, d.import_count, "imports").enumerated() {
            let symbol = try string(entry.name, "import \(index)'s name")
            let signature = try string(entry.signature, "import \(symbol)'s signature")
            guard !symbol.isEmpty, !signature.isEmpty else { throw invalid("import \(index) has an empty name or signature") }
            imports.append(ModuleMetadata.Symbol(name: symbol, signature: SymbolSignature(signature)))
        }
        var parameters: [ModuleParameter] = []
        for (index, parameter) in try array(d.params, d.param_count, "parameters").enumerated() {
            let parameterName = try string(parameter.name, "parameter \(index)'s name")
            guard ParameterParser.isParameterName(parameterName) else {
                throw invalid("parameter name \(String(reflecting: parameterName)) is not [A-Za-z0-9_-]+")
            }
            guard parameter.reserved == 0 else { throw invalid("parameter \(parameterName): reserved field must be zero") }
            let kinds: [ModuleParameter.Kind] = [.bool, .int, .string, .list]
            guard parameter.type < kinds.count else {
                throw invalid("parameter \(parameterName) has unknown type \(parameter.type) (0 bool, 1 int, 2 string, 3 list)")
            }
            let kind = kinds[Int(parameter.type)]
            var defaultValue: ParameterValue?
            if parameter.default_value != nil {
                let text = try string(parameter.default_value, "parameter \(parameterName)'s default")
                switch ParameterParser.convert(text, to: kind) {
                case .success(let value): defaultValue = value
                case .failure(let problem): throw invalid("parameter \(parameterName)'s default \(String(reflecting: text)): \(problem)")
                }
            }
            let description = parameter.description == nil ? "" : try string(parameter.description, "parameter \(parameterName)'s description")
            parameters.append(ModuleParameter(parameterName, kind, default: defaultValue, description: description))
        }
        var aliases: [String] = []
        for (index, alias) in try array(d.aliases, d.alias_count, "aliases").enumerated() {
            aliases.append(try string(alias, "alias \(index)"))
        }
        var softDependencies = SoftDependencies.none
        if d.softdep != nil {
            let text = try string(d.softdep, "the softdep")
            guard let parsed = SoftDependencies(parsing: text) else { throw invalid("softdep \(String(reflecting: text)) is malformed") }
            softDependencies = parsed
        }
        let says = ModuleMetadata(
            abiVersion: head[0], name: name, version: try string(d.version, "the version"),
            description: try string(d.description, "the description"), license: try string(d.license, "the license"),
            accounting: accounting, exports: exports, imports: imports, parameters: parameters, aliases: aliases,
            softDependencies: softDependencies, fields: [])
        if let metadata { try agree(says, metadata, file: file) }
        return MappedDescriptor(
            initialize: initialize, exit: try code(d.exit, "exit"), cleanup: try code(d.cleanup, "cleanup"),
            exports: addresses, says: says)
    }

    /// Refuses a descriptor that says otherwise than the metadata section, naming the field and
    /// both values. Lists are compared as sets (declarations may be gathered in any order).
    private static func agree(_ descriptor: ModuleMetadata, _ section: ModuleMetadata, file: String) throws(ModuleError) {
        func check<Value: Equatable>(_ field: String, _ a: Value, _ b: Value, _ show: (Value) -> String) throws(ModuleError) {
            guard a != b else { return }
            throw ModuleError(
                .invalidFile, file: file,
                reason: "descriptor and metadata section disagree on \(field): the descriptor says \(show(a)), the section \(show(b))")
        }
        let quoted: (String) -> String = { String(reflecting: $0) }
        func listed<Item: CustomStringConvertible>(_ items: [Item]) -> [String] { items.map(\.description).sorted() }
        let list: ([String]) -> String = { "[\($0.joined(separator: ", "))]" }
        try check("name", descriptor.name, section.name, quoted)
        try check("version", descriptor.version, section.version, quoted)
        try check("description", descriptor.description, section.description, quoted)
        try check("license", descriptor.license, section.license, quoted)
        try check("accounting", descriptor.accounting, section.accounting) { $0 == .counting ? "counting" : "noncounting" }
        try check("exports", listed(descriptor.exports), listed(section.exports), list)
        try check("imports", listed(descriptor.imports), listed(section.imports), list)
        func parameterText(_ p: ModuleParameter) -> String {
            "\(p.name):\(p.kind.rawValue)\(p.defaultValue.map { "=\($0.sectionText)" } ?? "") \(String(reflecting: p.description))"
        }
        try check("parameters", descriptor.parameters.map(parameterText).sorted(), section.parameters.map(parameterText).sorted(), list)
        try check("aliases", descriptor.aliases.sorted(), section.aliases.sorted(), list)
        try check("softdep", descriptor.softDependencies, section.softDependencies) { quoted($0.description) }
    }

    /// Reads of the process's memory that cannot fault, limited to what the module may point at.
    private struct Memory {
        let base: UInt
        let image: ElfImage
        /// `true` for a file with Swift code: its descriptor is built at run time, on the heap.
        let heapAllowed: Bool

        /// `true` if `length` bytes at `address` are in the module's loaded segments (or, when
        /// allowed, anywhere readable).
        func isInside(_ address: UInt, _ length: Int) -> Bool {
            address >= base && image.segment(holding: UInt64(address - base), length: UInt64(length)) != nil
        }

        func isData(_ address: UnsafeRawPointer) -> Bool {
            let at = UInt(bitPattern: address)
            if isInside(at, 1) { return true }
            var byte: UInt8 = 0
            return heapAllowed && ml_read_memory(&byte, address, 1) == 1
        }

        /// `count` bytes at `pointer`, as elements, or `nil` if they are not all the module's and
        /// readable.
        func copy<Element>(_ pointer: UnsafeRawPointer, count: Int, as: Element.Type, _ what: String) -> [Element]? {
            let address = UInt(bitPattern: pointer)
            guard heapAllowed || isInside(address, count) else { return nil }
            let elements = count / MemoryLayout<Element>.stride
            let result = [Element](unsafeUninitializedCapacity: elements) { buffer, initialized in
                let copied = ml_read_memory(UnsafeMutableRawPointer(buffer.baseAddress!), pointer, UInt(count))
                initialized = copied == count ? elements : 0
            }
            return result.count == elements ? result : nil
        }

        /// The NUL-terminated UTF-8 string at `pointer`, read page by page up to 4096 bytes.
        func string(_ pointer: UnsafeRawPointer) -> Result<String, StringProblem> {
            let limit = ModuleMetadata.maximumStringLength
            var bytes: [UInt8] = []
            var at = UInt(bitPattern: pointer)
            while bytes.count <= limit {
                let page = 4096 - Int(at % 4096)
                let chunk = min(page, limit + 1 - bytes.count)
                guard heapAllowed || isInside(at, chunk) || isInside(at, 1) else { return .failure(.outside) }
                let available = heapAllowed ? chunk : min(chunk, insideLength(from: at))
                var buffer = [UInt8](repeating: 0, count: available)
                let copied = buffer.withUnsafeMutableBytes { ml_read_memory($0.baseAddress!, UnsafeRawPointer(bitPattern: at)!, UInt(available)) }
                guard copied > 0 else { return .failure(.outside) }
                if let end = buffer[..<Int(copied)].firstIndex(of: 0) {
                    bytes += buffer[..<end]
                    return String(validating: bytes, as: UTF8.self).map { .success($0) } ?? .failure(.notUTF8)
                }
                bytes += buffer[..<Int(copied)]
                at += UInt(copied)
            }
            return .failure(.tooLong)
        }

        /// Bytes from `address` to the end of the loaded segment holding it.
        private func insideLength(from address: UInt) -> Int {
            guard address >= base, let segment = image.segment(holding: UInt64(address - base), length: 1) else { return 0 }
            return Int(segment.address + segment.memorySize - UInt64(address - base))
        }
    }

    enum StringProblem: Error, CustomStringConvertible {
        case outside, notUTF8, tooLong
        var description: String {
            switch self {
            case .outside: "points outside the module, or at memory that is not readable"
            case .notUTF8: "is not UTF-8"
            case .tooLong: "is longer than \(ModuleMetadata.maximumStringLength) bytes (or not terminated)"
            }
        }
    }
}
