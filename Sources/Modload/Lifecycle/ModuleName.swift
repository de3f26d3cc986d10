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

    /// Validates `raw`, or throws `invalidArgument` saying exactly what is wrong.
    init(validating raw: String) throws(ModuleError) {
        let bytes = Array(raw.utf8)
        guard !bytes.isEmpty else {
            throw ModuleError(.invalidArgument, reason: "module name is empty")
        }
        guard bytes.count <= Self.maximumLength else {
            throw ModuleError(
                .invalidArgument,
                reason: "module name \"\(raw.prefix(20))…\" is \(bytes.count) bytes; the limit is \(Self.maximumLength)"
            )
        }
        var canonicalBytes = bytes
        for (offset, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                continue
            case UInt8(ascii: "-"):
                canonicalBytes[offset] = UInt8(ascii: "_")
            default:
                throw ModuleError(
                    .invalidArgument,
                    reason: "module name \(String(reflecting: raw)) has a forbidden character at byte \(offset); "
                        + "names use only A-Z a-z 0-9 _ -"
                )
            }
        }
        canonical = String(decoding: canonicalBytes, as: UTF8.self)
    }

    var description: String { canonical }
}
