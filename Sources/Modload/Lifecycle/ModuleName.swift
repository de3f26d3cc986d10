/// A validated module name in canonical form.
///
/// Rules (the kernel's, DESIGN §2): 1–55 bytes of `[A-Za-z0-9_-]`; `-` and `_` are the same
/// character when names are matched, so the canonical form writes every `-` as `_` (as `modprobe`
/// and `/proc/modules` do). Names are case-sensitive.
struct ModuleName: Hashable, Sendable, CustomStringConvertible {
    /// The longest name, in bytes (the kernel's `MODULE_NAME_LEN - 1`).
    static let maximumLength = 55

    /// The canonical spelling (`acpi-cpufreq` → `acpi_cpufreq`).
    let canonical: String

    /// Validates `raw`, or throws `invalidArgument` saying exactly what is wrong. Allocates only
    /// when the name contains `-` (lookups of canonical names cost no allocation).
    @inline(__always)
    init(validating raw: String) throws(ModuleError) {
        var raw = raw
        let length = raw.utf8.count
        guard length != 0 else {
            throw ModuleError(.invalidArgument, reason: "module name is empty")
        }
        guard length <= Self.maximumLength else {
            throw ModuleError(
                .invalidArgument,
                reason: "module name \"\(raw.prefix(20))…\" is \(length) bytes; the limit is \(Self.maximumLength)")
        }
        var hasDash = false
        let bad: Int? = raw.withUTF8 { bytes in
            for (offset, byte) in bytes.enumerated() {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                    continue
                case UInt8(ascii: "-"):
                    hasDash = true
                default:
                    return offset
                }
            }
            return nil
        }
        if let bad {
            throw ModuleError(
                .invalidArgument,
                reason: "module name \(String(reflecting: raw)) has a forbidden character at byte \(bad); "
                    + "names use only A-Z a-z 0-9 _ -")
        }
        canonical = hasDash ? String(raw.map { $0 == "-" ? "_" : $0 }) : raw
    }

    var description: String { canonical }
}
