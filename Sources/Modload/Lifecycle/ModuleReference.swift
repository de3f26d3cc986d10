/// A counted handle on a module: while it exists the module cannot be unloaded (except by a
/// forced unload, which taints the host).
///
/// A reference is `~Copyable`: it cannot be duplicated by accident, and its end releases it —
/// when it goes out of scope, or explicitly with ``release()``. Take one with
/// ``ModuleHost/acquire(_:holder:)``; take another from one you hold with ``duplicate()``.
///
/// ```swift
/// let ref = try host.acquire("e1000e")
/// let driver = ref.definition(as: E1000e.self)
/// driver?.transmit(frame)
/// // ref ends here: released
/// ```
///
/// Acquire and release are lock-free: one atomic read-modify-write each (DESIGN §5.1).
public struct ModuleReference: ~Copyable, Sendable {
    let record: ModuleRecord
    let holder: String?

    init(record: ModuleRecord, holder: String?) {
        self.record = record
        self.holder = holder
    }

    deinit { record.release(holder: holder) }

    /// Releases the reference now.
    public consuming func release() {}

    /// Takes a second reference on the same module. Always succeeds: holding this one means the
    /// module cannot have frozen.
    public func duplicate() -> ModuleReference {
        record.acquireHeld(holder: holder)
        return ModuleReference(record: record, holder: holder)
    }

    /// The module's canonical name.
    public var name: String { record.name.canonical }

    /// The module's current state: `coming` or `live` normally; `going`/`gone` only if a forced
    /// unload took the module away from under this reference.
    public var state: ModuleState { record.state }

    /// The definition instance the module was loaded from — how a holder calls into the module.
    public var definition: any ModuleDefinition { record.definition }

    /// The definition as a concrete type, or `nil` if it is another type.
    public func definition<Definition: ModuleDefinition>(as type: Definition.Type) -> Definition? {
        record.definition as? Definition
    }
}
