/// The type signature of a symbol: an import binds to an export only if both name *and*
/// signature match (docs/design.md §6). For a Swift value it is the type's full name; module files will
/// carry C-ABI signature strings — either way, equal strings mean equal types.
public struct SymbolSignature: Hashable, Sendable, CustomStringConvertible {
    /// The signature text, e.g. `(Swift.UInt32, Swift.Array<Swift.UInt8>) -> Swift.UInt32`.
    public let text: String

    /// A signature from its text.
    public init(_ text: String) { self.text = text }

    /// The signature of values of `type`.
    public init<Value>(of type: Value.Type) { text = String(reflecting: type) }

    public var description: String { text }
}

/// A symbol a module exports: a name, a signature and the value importers bind to.
public struct ExportedSymbol: Sendable {
    /// The symbol's name, unique among the exports of all modules of a host.
    public let name: String
    /// Its type signature.
    public let signature: SymbolSignature
    /// The value (a function, a table, an object…).
    public let value: any Sendable

    /// Exports `value` under `name`, with the signature of its static type.
    public init<Value: Sendable>(_ name: String, _ value: Value) {
        self.name = name
        self.signature = SymbolSignature(of: Value.self)
        self.value = value
    }

    /// Exports `value` with an explicit signature (for values whose static type is erased).
    public init(_ name: String, signature: SymbolSignature, value: any Sendable) {
        self.name = name
        self.signature = signature
        self.value = value
    }
}

/// A symbol a module needs from another module.
public struct ImportedSymbol: Sendable, Hashable {
    /// The symbol's name.
    public let name: String
    /// The signature the importer expects.
    public let signature: SymbolSignature

    /// Imports `name`, expecting values of `type`.
    public init<Value>(_ name: String, as type: Value.Type) {
        self.name = name
        self.signature = SymbolSignature(of: type)
    }

    /// Imports `name` with an explicit expected signature.
    public init(_ name: String, signature: SymbolSignature) {
        self.name = name
        self.signature = signature
    }
}

/// The imports bound for one load: what a module's init and exit read their imports from.
public struct BoundImports: Sendable {
    struct Binding: Sendable {
        let signature: SymbolSignature
        let value: any Sendable
        let exporter: String
    }
    let bindings: [String: Binding]

    static let none = BoundImports(bindings: [:])

    /// The value bound to the import `name`, as `type`; `nil` if the module did not import it
    /// or imported it with another type.
    public func symbol<Value>(_ name: String, as type: Value.Type = Value.self) -> Value? {
        guard let binding = bindings[name], binding.signature == SymbolSignature(of: type) else { return nil }
        return binding.value as? Value
    }

    /// The module that exports the import `name`.
    public func exporter(of name: String) -> String? { bindings[name]?.exporter }

    /// The names of the bound imports, sorted.
    public var names: [String] { bindings.keys.sorted() }
}

/// What the table knows about an exported symbol (``ModuleHost/symbol(named:)``).
public struct SymbolInfo: Sendable, Equatable {
    /// The symbol's name.
    public let name: String
    /// Its signature.
    public let signature: SymbolSignature
    /// The module exporting it.
    public let exporter: String
    /// The exporter's state.
    public let exporterState: ModuleState
}

/// A published export: in the table snapshot from formation until the exporter is unlinked.
struct SymbolEntry: Sendable {
    let exporter: ModuleName
    /// The exporter's generation (a replace switches the entry to the new one).
    let generation: Int
    let signature: SymbolSignature
    let value: any Sendable
}

/// The address of a C-ABI symbol: the value of every symbol a module file exports, and how a
/// built-in module exports a C function to module files (with an explicit C signature).
///
/// ```swift
/// let checksum = context.imports.address(of: "crc32c")?
///     .function(as: (@convention(c) (UInt32, UnsafeRawPointer?, Int) -> UInt32).self)
/// ```
public struct SymbolAddress: @unchecked Sendable, Hashable, CustomStringConvertible {  // an address, shared read-only
    /// The address.
    public let pointer: UnsafeRawPointer

    /// Wraps an address.
    public init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }

    /// The address as a C function pointer type (`@convention(c) (…) -> …`). The caller vouches
    /// that the function has that type — the symbol's signature is what says so.
    public func function<Function>(as type: Function.Type) -> Function {
        precondition(
            MemoryLayout<Function>.size == MemoryLayout<UnsafeRawPointer>.size,
            "\(Function.self) is not a C function pointer type (@convention(c))")
        return unsafeBitCast(pointer, to: Function.self)
    }

    public var description: String { String(describing: pointer) }
}

extension BoundImports {
    /// The address bound to the import `name`, if it was bound to a C-ABI symbol (a module file's
    /// export, or a ``SymbolAddress`` a built-in module exports).
    public func address(of name: String) -> SymbolAddress? {
        bindings[name]?.value as? SymbolAddress
    }
}
