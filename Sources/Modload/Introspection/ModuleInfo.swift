/// A snapshot of one module, as the listing shows it.
///
/// `state`, `isUnloading` and `refcount` come from one atomic load of the word that holds all
/// three (``ModuleHost`` keeps state and count in one word): together they were true at one
/// instant, however the module was being loaded, referenced or unloaded at the time. A live
/// module that no unload has begun on never shows −1, and a module shows no fewer references
/// than were held throughout the read. The other fields are read separately (use links and
/// parameters do not change while the module is live).
public struct ModuleInfo: Sendable, Equatable {
    /// Canonical name.
    public let name: String
    /// Which load of the name this is: 1 for the first, one more for each later load or replace.
    /// During a replace two snapshots share a name: the current generation and the `old` one.
    public let generation: Int
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
    /// References held: while `coming` the host's own init reference is one of them; once an
    /// unload has frozen the count, −1 (the kernel's `lsmod` convention); while a drain or a
    /// forced unload waits for holders, the references still held.
    public let refcount: Int
    /// Modules that use this one (they import its symbols), sorted by name.
    public let usedBy: [String]
    /// Modules this one uses (it holds a reference on each), sorted by name.
    public let uses: [String]
    /// The parameter values of its load.
    public let parameters: ModuleParameters
    /// What parsing its load's parameters warned about (unknown names, text after `--`), each
    /// naming the parameter; empty if nothing.
    public let parameterWarnings: [String]
    /// Why the module taints the host (e.g. 'E', an unsigned module file); empty if it doesn't.
    public let taints: TaintFlags
    /// The module file it was loaded from, or `nil` for a built-in module.
    public let file: String?
    /// `true` if it is live only because other modules needed it: every load of it so far was a
    /// request the host made for a dependency or soft dependency, none a caller's own insert,
    /// ensure-loaded or request. (modprobe -r removes such modules with the last module that
    /// needed them.)
    public let loadedAsDependency: Bool
}

/// "Why can't I unload X?" — who holds a module (docs/design.md §9).
public struct HoldersReport: Sendable, Equatable {
    /// The module, canonical name.
    public let module: String
    /// Its state when the report was made.
    public let state: ModuleState
    /// Modules that depend on it (use links), sorted by name. They block every unload mode.
    public let dependents: [String]
    /// References held, all of them: each dependent holds one, and ``otherReferences`` are the rest.
    public let references: Int
    /// Who holds those references, when known: holder label → count. Filled only if the host was
    /// configured with `tracksReferenceHolders` and the references were taken with a holder label.
    public let referenceHolders: [String: Int]

    /// References held by something other than a dependent module (acquired by callers).
    public var otherReferences: Int { max(references - dependents.count, 0) }

    /// `true` if nothing holds the module.
    public var isEmpty: Bool { dependents.isEmpty && references <= 0 }

    /// One line, references and dependents named apart: "held by 2 references (http×2)",
    /// "used by ext4", "held by 1 reference besides its dependents'; used by ext4".
    public var summary: String {
        var parts: [String] = []
        let others = otherReferences
        if others > 0 {
            var text = "held by \(others) reference\(others == 1 ? "" : "s")"
            if !dependents.isEmpty { text += " besides its dependents'" }
            if !referenceHolders.isEmpty {
                let named = referenceHolders.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }
                let unnamed = others - referenceHolders.values.reduce(0, +)
                text += " (\(named.joined(separator: ", "))\(unnamed > 0 ? ", \(unnamed) unnamed" : ""))"
            }
            parts.append(text)
        }
        if !dependents.isEmpty { parts.append("used by \(dependents.joined(separator: ", "))") }
        return parts.isEmpty ? "nothing holds it" : parts.joined(separator: "; ")
    }
}
