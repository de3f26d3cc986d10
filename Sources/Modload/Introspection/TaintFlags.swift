/// Why a host can no longer be fully trusted (the kernel's taint flags).
public struct TaintFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A module was unloaded by force while references were held (kernel 'R'): code may still
    /// run into it.
    public static let forcedUnload = TaintFlags(rawValue: 1 << 0)

    /// A module file that is unsigned, or signed by a key the host does not trust, was loaded
    /// under the permissive signature policy (kernel 'E'). Set on the host and on the module.
    public static let unsignedModule = TaintFlags(rawValue: 1 << 1)

    /// A member of an all-or-nothing set could not be taken down when the set was rolled back
    /// (its cleanup refused): it was left `old` — never live — with its code in place ('B').
    public static let rollbackFailed = TaintFlags(rawValue: 1 << 2)

    /// The kernel-style letters, e.g. `"RE"`; empty when untainted.
    public var description: String {
        var letters = ""
        if contains(.forcedUnload) { letters += "R" }
        if contains(.unsignedModule) { letters += "E" }
        if contains(.rollbackFailed) { letters += "B" }
        return letters
    }
}
