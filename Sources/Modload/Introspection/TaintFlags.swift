/// Why a host can no longer be fully trusted (the kernel's taint flags).
public struct TaintFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A module was unloaded by force while references were held (kernel 'R'): code may still
    /// run into it.
    public static let forcedUnload = TaintFlags(rawValue: 1 << 0)

    /// The kernel-style letters, e.g. `"R"`; empty when untainted.
    public var description: String {
        var letters = ""
        if contains(.forcedUnload) { letters += "R" }
        return letters
    }
}
