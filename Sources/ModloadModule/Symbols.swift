@_exported import ModloadABI  // CSignature, for authors deriving signatures

/// A symbol a Swift module file exports: a name, a C signature and an address.
public struct Export: @unchecked Sendable {  // an address into the module file, read-only
    /// The symbol's name (unique among a host's modules).
    public let name: String
    /// Its C signature (`modload.h`'s convention, e.g. `"u32(u32,ptr,usize)"`).
    public let signature: String
    let address: UnsafeRawPointer

    /// Exports a C function (`@convention(c)`, a closure that captures nothing), with the
    /// signature derived from its type. Stops with a message if a parameter or result type has no
    /// C signature (see `CSignature` in ModloadABI); give `signature` explicitly then.
    public static func function<Function>(_ name: String, _ function: Function, signature: String? = nil) -> Export {
        guard let signature = signature ?? CSignature.of(Function.self) else {
            preconditionFailure("export \(name): \(Function.self) has no C signature; pass signature: explicitly")
        }
        precondition(
            MemoryLayout<Function>.size == MemoryLayout<UnsafeRawPointer>.size,
            "export \(name): \(Function.self) is not a C function (@convention(c))")
        return Export(name: name, signature: signature, address: unsafeBitCast(function, to: UnsafeRawPointer.self))
    }

    /// Exports data at `address` (which must stay valid while the module is loaded) with the
    /// signature `data:TYPE`, e.g. `.data("jiffies", pointer, type: "u64")`.
    public static func data(_ name: String, _ address: UnsafeRawPointer, type: String) -> Export {
        Export(name: name, signature: "data:" + type, address: address)
    }
}

/// A symbol a Swift module file imports: a name and the C signature it expects.
public struct Import: Sendable {
    /// The symbol's name.
    public let name: String
    /// The signature it must have.
    public let signature: String

    /// Imports a C function of type `Function` (`@convention(c)`), signature derived from it.
    public static func function<Function>(_ name: String, as type: Function.Type) -> Import {
        guard let signature = CSignature.of(type) else {
            preconditionFailure("import \(name): \(type) has no C signature; use Import(name:signature:)")
        }
        return Import(name: name, signature: signature)
    }

    /// Imports `name` with an explicit signature.
    public init(name: String, signature: String) {
        self.name = name
        self.signature = signature
    }
}
