/// Calling into noncounting modules (docs/design.md §5.3; raceless modules, docs/design.md §1).
///
/// A noncounting module's callers take no reference: they call in inside a read section, which
/// costs nothing shared. An unload first makes the call points unreachable (the record's
/// unloading mark, which ``withModule(_:_:)`` checks), then waits a grace period — so a call that
/// found the module finishes before the module's cleanup and exit run — and a call that starts
/// after the mark no longer finds the module.
extension ModuleHost {
    /// Calls into a live noncounting module without taking a reference.
    ///
    /// `body` runs inside a read section: it must not block for long, and cannot suspend. The
    /// module is guaranteed not to be cleaned up or exited until `body` returns. Reach its exports
    /// with ``ModuleDefinition/export(_:as:)``:
    ///
    /// ```swift
    /// let verdict = try host.withModule("filter") { (filter) throws(ModuleError) in
    ///     try filter.export("filter_check", as: Check.self)(packet)
    /// }
    /// ```
    ///
    /// `body` may throw a ``ModuleError``, which is rethrown as it is, so the whole call stays
    /// `throws(ModuleError)`. Swift 6 infers a throwing closure as `throws(any Error)`, so a body
    /// that throws says `throws(ModuleError)` as above; to carry an error of another type out,
    /// return a `Result`.
    ///
    /// - Throws: `invalidArgument` (bad name, or the module is counting — take a reference with
    ///   ``acquire(_:holder:)`` instead), `notFound` (not loaded, or being unloaded: its call
    ///   points are gone), `busy` (still loading), or what `body` threw.
    public func withModule<Value>(
        _ name: String, _ body: (any ModuleDefinition) throws(ModuleError) -> Value
    ) throws(ModuleError) -> Value {
        let name = try ModuleName(validating: name)
        let key = name.canonical
        while true {
            // `nil`: the module found was replaced after this snapshot was loaded (the switch
            // publishes the new generation first): look again.
            let outcome: Result<Value, ModuleError>? = table.read { snapshot in
                call(snapshot, name, key, body)
            }
            if let outcome { return try outcome.get() }
        }
    }

    /// One try of ``withModule(_:_:)`` inside a read section.
    private func call<Value>(
        _ snapshot: ModuleSnapshot, _ name: ModuleName, _ key: String, _ body: (any ModuleDefinition) throws(ModuleError) -> Value
    ) -> Result<Value, ModuleError>? {
        guard let found = snapshot.modules[name] else {
            return .failure(ModuleError(.notFound, module: key, reason: "is not loaded"))
        }
        return found._withUnsafeGuaranteedRef { record -> Result<Value, ModuleError>? in
            guard record.isCallable else {
                // Old — or past it by now — and a newer generation current: look again.
                if record.state == .old || isSuperseded(found, name) { return nil }
                return .failure(Self.unreachable(record))
            }
            guard record.accounting == .noncounting else {
                return .failure(
                    ModuleError(
                        .invalidArgument, module: key, state: record.state,
                        reason: "is a counting module: take a reference with acquire(_:) to call it"))
            }
            do throws(ModuleError) { return .success(try body(record.definition)) } catch { return .failure(error) }
        }
    }

    /// ``withModule(_:_:)`` with the definition as its concrete type.
    ///
    /// - Throws: as ``withModule(_:_:)``, and `invalidArgument` if the module's definition is not
    ///   a `Definition`.
    public func withModule<Definition: ModuleDefinition, Value>(
        _ name: String, as type: Definition.Type, _ body: (Definition) throws(ModuleError) -> Value
    ) throws(ModuleError) -> Value {
        try withModule(name) { (definition) throws(ModuleError) -> Value in
            guard let typed = definition as? Definition else {
                throw ModuleError(
                    .invalidArgument, module: definition.name,
                    reason: "is a \(Swift.type(of: definition)), not a \(Definition.self)")
            }
            return try body(typed)
        }
    }

    private static func unreachable(_ record: ModuleRecord) -> ModuleError {
        let state = record.state
        if record.isProvisional {
            return ModuleError(
                .busy, module: record.name.canonical, state: state,
                reason: "is being loaded as part of an all-or-nothing set; its call points open when the whole set is live")
        }
        if state == .coming || state == .unformed {
            return ModuleError(.busy, module: record.name.canonical, state: state, reason: "is still loading")
        }
        return ModuleError(
            .notFound, module: record.name.canonical, state: state,
            reason: "is being unloaded; its call points are gone")
    }
}
