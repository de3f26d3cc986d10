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

    /// The kernel-style letters, e.g. `"RE"`; empty when untainted.
    public var description: String {
        var letters = ""
        if contains(.forcedUnload) { letters += "R" }
        if contains(.unsignedModule) { letters += "E" }
        return letters
    }
}
