import ModloadABI

/// Calling a module's exports from outside it, typed and checked (docs/design.md §6): what a
/// holder of a reference (``ModuleReference/export(_:as:)``) or a noncounting caller inside
/// ``ModuleHost/withModule(_:_:)`` uses instead of casting definitions.
///
/// The check is the one binding does for imports — the signature the caller asks for must equal
/// the one the module declared:
/// - a C export (a module file's, or a ``SymbolAddress`` a built-in exports) has a C signature
///   (`u32(u32,ptr,usize)`); `Value` must be a `@convention(c)` function type with the same
///   signature (``CSignature``), or, for data (`data:TYPE`), a raw pointer or a pointer to a C
///   scalar of that type. `SymbolAddress` itself gives the bare address of any C export.
/// - a Swift value has its type's name as signature; `Value` must be that type.
extension ModuleDefinition {
    /// This module's export `symbol`, as `type`.
    ///
    /// The value is valid while the module is loaded: hold a reference (or stay inside
    /// ``ModuleHost/withModule(_:_:)`` for a noncounting module) for as long as you call it.
    ///
    /// - Throws: `notFound` if the module exports no `symbol`; `symbolMismatch` naming both
    ///   signatures if `type` is not the export's.
    public func export<Value>(_ symbol: String, as type: Value.Type = Value.self) throws(ModuleError) -> Value {
        guard let export = exports.first(where: { $0.name == symbol }) else {
            throw ModuleError(.notFound, module: name, reason: "exports no symbol \(symbol)")
        }
        func mismatch(_ asked: String) -> ModuleError {
            ModuleError(
                .symbolMismatch, module: name,
                reason: "exports \(symbol) as \(export.signature), not as \(asked) (\(Value.self))")
        }
        guard let address = export.value as? SymbolAddress else {
            // A Swift value: the signature is its type's name.
            let asked = SymbolSignature(of: Value.self)
            guard export.signature == asked, let value = export.value as? Value else { throw mismatch(asked.text) }
            return value
        }
        if let raw = address as? Value { return raw }  // Value is SymbolAddress: the bare address
        let declared = export.signature.text
        let asked: String?
        if declared.hasPrefix("data:") {
            asked = CSignature.ofData(pointer: Value.self, declared: declared)
        } else {
            asked = CSignature.of(Value.self)
        }
        guard let asked, asked == declared, MemoryLayout<Value>.size == MemoryLayout<UnsafeRawPointer>.size else {
            throw mismatch(CSignature.of(Value.self) ?? String(reflecting: Value.self))
        }
        return unsafeBitCast(address.pointer, to: Value.self)
    }
}

extension ModuleReference {
    /// The export `symbol` of the module this reference holds, as `type` — checked against the
    /// signature the module declared (see ``ModuleDefinition/export(_:as:)``). Call it only while
    /// this reference (or another on the same module) is held.
    ///
    /// ```swift
    /// let ref = try host.acquire("checksum")
    /// let crc = try ref.export("checksum_crc32c", as: (@convention(c) (UInt32, UnsafeRawPointer?, UInt) -> UInt32).self)
    /// print(crc(0, "123456789", 9))
    /// ```
    ///
    /// - Throws: `notFound` (no such export), `symbolMismatch` (another signature).
    public func export<Value>(_ symbol: String, as type: Value.Type = Value.self) throws(ModuleError) -> Value {
        try record.definition.export(symbol, as: type)
    }
}
