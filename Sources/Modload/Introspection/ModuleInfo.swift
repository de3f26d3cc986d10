/// A snapshot of one module, as the listing shows it.
public struct ModuleInfo: Sendable, Equatable {
    /// Canonical name.
    public let name: String
    /// The definition's version string.
    public let version: String
    /// The definition's one-line description.
    public let description: String
    /// The definition's license.
    public let license: String
    /// Bytes the module occupies (the definition's `size`).
    public let size: Int
    /// State when the snapshot was taken.
    public let state: ModuleState
    /// `true` if an unload has begun but not committed (draining, waiting for a grace period, or
    /// in a refusable cleanup): no new references; the state still reads `live`.
    public let isUnloading: Bool
    /// How callers account for their use of it.
    public let accounting: ModuleAccounting
    /// References held (the count minus its base; −1 once frozen for unload).
    public let refcount: Int
    /// Modules that use this one (they import its symbols), sorted by name.
    public let usedBy: [String]
    /// Modules this one uses (it holds a reference on each), sorted by name.
    public let uses: [String]
    /// The parameter values of its load.
    public let parameters: ModuleParameters
    /// Why the module taints the host (e.g. 'E', an unsigned module file); empty if it doesn't.
    public let taints: TaintFlags
    /// The module file it was loaded from, or `nil` for a built-in module.
    public let file: String?
}

/// "Why can't I unload X?" — who holds a module (DESIGN §9).
public struct HoldersReport: Sendable, Equatable {
    /// The module, canonical name.
    public let module: String
    /// Its state when the report was made.
    public let state: ModuleState
    /// Modules that depend on it (use links), sorted by name. They block every unload mode.
    public let dependents: [String]
    /// References held (each dependent holds one).
    public let references: Int
    /// Who holds those references, when known: holder label → count. Filled only if the host was
    /// configured with `tracksReferenceHolders` and the references were taken with a holder label.
    public let referenceHolders: [String: Int]

    /// `true` if nothing holds the module.
    public var isEmpty: Bool { dependents.isEmpty && references <= 0 }

    /// One line: "held by 2 references (http×2); used by ext4".
    public var summary: String {
        var parts: [String] = []
        if references > 0 {
            var text = "held by \(references) reference\(references == 1 ? "" : "s")"
            if !referenceHolders.isEmpty {
                let named = referenceHolders.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
                let unnamed = references - referenceHolders.values.reduce(0, +)
                text += " (\(named.joined(separator: ", "))\(unnamed > 0 ? ", \(unnamed) unnamed" : ""))"
            }
            parts.append(text)
        }
        if !dependents.isEmpty { parts.append("used by \(dependents.joined(separator: ", "))") }
        return parts.isEmpty ? "nothing holds it" : parts.joined(separator: "; ")
    }
}
