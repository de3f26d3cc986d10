/// A counted handle on a module: while it exists the module cannot be unloaded (except by a
/// forced unload, which taints the host).
///
/// A reference is `~Copyable`: it cannot be duplicated by accident, and its end releases it —
/// when it goes out of scope, or explicitly with ``release()``. Take one with
/// ``ModuleHost/acquire(_:holder:)`` or ``ModuleHandle/acquire(holder:)``; take another from one
/// you hold with ``duplicate()``.
///
/// ```swift
/// let ref = try host.acquire("e1000e")
/// let driver = ref.definition(as: E1000e.self)
/// driver?.transmit(frame)
/// // ref ends here: released
/// ```
///
/// Acquire and release are lock-free: one atomic read-modify-write each (docs/design.md §5.1). The
/// reference holds no ARC retain: the module's count keeps its record in memory (`RefCount`).
public struct ModuleReference: ~Copyable, Sendable {
    @usableFromInline let unmanaged: Unmanaged<ModuleRecord>
    @usableFromInline let holder: String?

    init(record: ModuleRecord, holder: String?) {
        self.init(unmanaged: .passUnretained(record), holder: holder)
    }

    /// For a record whose count already includes this reference.
    @usableFromInline
    init(unmanaged: Unmanaged<ModuleRecord>, holder: String?) {
        self.unmanaged = unmanaged
        self.holder = holder
    }

    deinit {
        let holder = holder
        if unmanaged._withUnsafeGuaranteedRef({ $0.release(holder: holder) }) { unmanaged.release() }
    }

    /// The record (valid while this reference exists).
    var record: ModuleRecord { unmanaged.takeUnretainedValue() }

    /// Releases the reference now.
    public consuming func release() {}

    /// Takes a second reference on the same module. Always succeeds: holding this one means the
    /// module cannot have frozen.
    public func duplicate() -> ModuleReference {
        unmanaged._withUnsafeGuaranteedRef { $0.acquireHeld(holder: holder) }
        return ModuleReference(unmanaged: unmanaged, holder: holder)
    }

    /// A handle on the same module, for acquiring it again later (see ``ModuleHandle``).
    public var handle: ModuleHandle { ModuleHandle(record: record) }

    /// The module's canonical name.
    public var name: String { unmanaged._withUnsafeGuaranteedRef { $0.name.canonical } }

    /// The module's current state: `coming` or `live` normally; `going`/`gone` only if a forced
    /// unload took the module away from under this reference, or this reference was taken while
    /// the module was coming and its init failed.
    public var state: ModuleState { unmanaged._withUnsafeGuaranteedRef { $0.state } }

    /// The definition instance the module was loaded from — how a holder calls into the module.
    public var definition: any ModuleDefinition { unmanaged._withUnsafeGuaranteedRef { $0.definition } }

    /// The definition as a concrete type, or `nil` if it is another type.
    public func definition<Definition: ModuleDefinition>(as type: Definition.Type) -> Definition? {
        unmanaged._withUnsafeGuaranteedRef { $0.definition as? Definition }
    }
}

/// A pointer to a module that may have gone — the kernel's `struct module *` that
/// `try_module_get` takes. A handle keeps nothing loaded and counts for nothing; it lets a holder
/// of it try to acquire the module later without looking its name up again.
public struct ModuleHandle: Sendable, Hashable {
    @usableFromInline let record: ModuleRecord

    /// The module's canonical name.
    public var name: String { record.name.canonical }

    /// The module's current state (`gone` once it was unloaded, even if one of the same name has
    /// been loaded since).
    public var state: ModuleState { record.state }

    /// Try-get: a reference if the module is coming or live with no unload begun.
    ///
    /// - Throws: `busy` if it is going away or gone (this module, not a newer one of the name).
    @inlinable
    public func acquire(holder: String? = nil) throws(ModuleError) -> ModuleReference {
        guard record.tryAcquire(holder: holder) else { throw refusal() }
        return ModuleReference(unmanaged: .passUnretained(record), holder: holder)
    }

    @usableFromInline
    func refusal() -> ModuleError {
        let state = record.state
        let reason: String
        if record.isProvisional {
            reason = "is being loaded as part of an all-or-nothing set; references open when the whole set is live"
        } else if state == .old {
            reason = "is an old generation (\(record.generation)), replaced by a newer one; no new references"
        } else {
            reason = "is going away (being unloaded, or its load failed, or gone); no new references"
        }
        return ModuleError(.busy, module: name, state: state, reason: reason)
    }

    public static func == (a: ModuleHandle, b: ModuleHandle) -> Bool { a.record === b.record }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(record)) }
}
