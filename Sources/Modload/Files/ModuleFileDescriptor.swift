#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CModloadABI

/// What a module file's descriptor says (`modload.h`), read and checked: the module's metadata,
/// the symbols it exports and imports with their signatures, and the parameters it accepts. This
/// is what `modload modinfo` prints.
public struct ModuleFileDescriptor: Sendable, Equatable {
    /// The ABI version the module was built for.
    public let abiVersion: UInt32
    /// The module's name as the descriptor spells it.
    public let name: String
    /// Free-form version.
    public let version: String
    /// One line saying what it does.
    public let description: String
    /// Its license.
    public let license: String
    /// How callers account for their use of it.
    public let accounting: ModuleAccounting
    /// `true` if it has a cleanup step that may refuse an unload.
    public let hasCleanup: Bool
    /// `true` if it has an exit step.
    public let hasExit: Bool
    /// Exported symbols: name and signature.
    public let exports: [Symbol]
    /// Imported symbols: name and expected signature.
    public let imports: [Symbol]
    /// Parameters, with their defaults and descriptions.
    public let parameters: [ModuleParameter]

    /// A symbol's name and C signature (`"u32(u32,ptr,usize)"`).
    public struct Symbol: Sendable, Equatable, CustomStringConvertible {
        /// The symbol's name.
        public let name: String
        /// Its signature text.
        public let signature: SymbolSignature

        public var description: String { "\(name) \(signature)" }
    }

    /// The most entries of each kind a descriptor may declare, and the longest string it may hold.
    static let maximumEntries: UInt32 = 4_096
    static let maximumStringLength = 4_096

    /// Reads and checks the descriptor the module's descriptor function returned.
    ///
    /// - Throws: `abiMismatch` (another ABI version), `invalidFile` (any other broken rule of
    ///   `modload.h`), `invalidArgument` (a malformed module name) — each naming `file`.
    static func read(_ d: modload_descriptor, file: String) throws(ModuleError) -> ModuleFileDescriptor {
        func invalid(_ reason: String) -> ModuleError {
            ModuleError(.invalidFile, file: file, reason: "descriptor: " + reason)
        }
        guard d.abi_version == MODLOAD_ABI_VERSION else {
            throw ModuleError(
                .abiMismatch, file: file,
                reason: "descriptor says ABI version \(d.abi_version); this host speaks ABI \(MODLOAD_ABI_VERSION)")
        }
        guard Int(d.size) >= MemoryLayout<modload_descriptor>.size else {
            throw invalid("size \(d.size) is smaller than version \(MODLOAD_ABI_VERSION)'s \(MemoryLayout<modload_descriptor>.size) bytes")
        }
        guard d.reserved == 0, d.reserved2 == 0 else { throw invalid("reserved fields must be zero") }
        func string(_ pointer: UnsafePointer<CChar>?, _ what: String, optional: Bool = false) throws(ModuleError) -> String? {
            guard let pointer else {
                if optional { return nil }
                throw invalid("\(what) is missing (NULL)")
            }
            guard strnlen(pointer, maximumStringLength + 1) <= maximumStringLength else {
                throw invalid("\(what) is longer than \(maximumStringLength) bytes")
            }
            guard let text = String(validatingCString: pointer) else { throw invalid("\(what) is not UTF-8") }
            return text
        }
        func required(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(ModuleError) -> String {
            try string(pointer, what)!
        }
        func entries<Entry>(_ pointer: UnsafePointer<Entry>?, _ count: UInt32, _ what: String) throws(ModuleError) -> UnsafeBufferPointer<Entry> {
            guard count <= maximumEntries else { throw invalid("\(count) \(what); the limit is \(maximumEntries)") }
            guard count == 0 || pointer != nil else { throw invalid("\(count) \(what), but no array of them (NULL)") }
            return UnsafeBufferPointer(start: count == 0 ? nil : pointer, count: Int(count))
        }

        let name = try required(d.name, "the module name")
        do {
            _ = try ModuleName(validating: name)
        } catch {
            throw ModuleError(.invalidFile, file: file, reason: "descriptor: " + error.reason)
        }
        let accounting: ModuleAccounting
        switch d.accounting {
        case MODLOAD_COUNTING.rawValue: accounting = .counting
        case MODLOAD_NONCOUNTING.rawValue: accounting = .noncounting
        default: throw invalid("unknown accounting \(d.accounting) (0 counting, 1 noncounting)")
        }
        guard d.`init` != nil else { throw invalid("no init entry point (NULL)") }

        /// Exports or imports (`kind`): named, signed, names unique; exports have addresses.
        typealias Entry = (name: UnsafePointer<CChar>?, signature: UnsafePointer<CChar>?, hasAddress: Bool)
        func symbols(_ list: [Entry], _ kind: String) throws(ModuleError) -> [Symbol] {
            var result: [Symbol] = []
            var seen = Set<String>()
            for (index, entry) in list.enumerated() {
                let symbol = try required(entry.name, "\(kind) \(index)'s name")
                let signature = try required(entry.signature, "\(kind) \(symbol)'s signature")
                guard !symbol.isEmpty, !signature.isEmpty else { throw invalid("\(kind) \(index) has an empty name or signature") }
                guard entry.hasAddress else { throw invalid("\(kind) \(symbol) has no address (NULL)") }
                guard seen.insert(symbol).inserted else { throw invalid("\(kind)s \(symbol) twice") }
                result.append(Symbol(name: symbol, signature: SymbolSignature(signature)))
            }
            return result
        }
        let exports = try symbols(
            try entries(d.exports, d.export_count, "exports").map { ($0.name, $0.signature, $0.address != nil) }, "export")
        let imports = try symbols(try entries(d.imports, d.import_count, "imports").map { ($0.name, $0.signature, true) }, "import")
        var parameters: [ModuleParameter] = []
        var seen = Set<String>()
        for (index, parameter) in try entries(d.params, d.param_count, "parameters").enumerated() {
            let parameterName = try required(parameter.name, "parameter \(index)'s name")
            guard ParameterParser.isParameterName(parameterName) else {
                throw invalid("parameter name \(String(reflecting: parameterName)) is not [A-Za-z0-9_-]+")
            }
            guard seen.insert(ParameterParser.canonical(parameterName)).inserted else {
                throw invalid("declares parameter \(parameterName) twice")
            }
            guard parameter.reserved == 0 else { throw invalid("parameter \(parameterName): reserved field must be zero") }
            let kinds: [ModuleParameter.Kind] = [.bool, .int, .string, .list]
            guard parameter.type < kinds.count else {
                throw invalid("parameter \(parameterName) has unknown type \(parameter.type) (0 bool, 1 int, 2 string, 3 list)")
            }
            let kind = kinds[Int(parameter.type)]
            var defaultValue: ParameterValue?
            if let text = try string(parameter.default_value, "parameter \(parameterName)'s default", optional: true) {
                switch ParameterParser.convert(text, to: kind) {
                case .success(let value): defaultValue = value
                case .failure(let problem): throw invalid("parameter \(parameterName)'s default \(String(reflecting: text)): \(problem)")
                }
            }
            let description = try string(parameter.description, "parameter \(parameterName)'s description", optional: true) ?? ""
            parameters.append(ModuleParameter(parameterName, kind, default: defaultValue, description: description))
        }
        return ModuleFileDescriptor(
            abiVersion: d.abi_version, name: name,
            version: try required(d.version, "the version"), description: try required(d.description, "the description"),
            license: try required(d.license, "the license"), accounting: accounting,
            hasCleanup: d.cleanup != nil, hasExit: d.exit != nil,
            exports: exports, imports: imports, parameters: parameters)
    }
}
