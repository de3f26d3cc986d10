/// A validated module name in canonical form, and the key of the module table.
///
/// Rules (the kernel's, docs/design.md §2): 1–55 bytes of `[A-Za-z0-9_-]`; `-` and `_` are the same
/// character when names are matched, so the canonical form writes every `-` as `_` (as `modprobe`
/// and `/proc/modules` do). Names are case-sensitive.
///
/// Validation walks the bytes once and computes the name's hash on the way (FNV-1a with a
/// per-process random seed, then a 64-bit finalizer), so a table lookup does not hash the string
/// again with SipHash — about 20 ns of a lookup's cost.
struct ModuleName: Hashable, Sendable, CustomStringConvertible {
    /// The longest name, in bytes (the kernel's `MODULE_NAME_LEN - 1`).
    static let maximumLength = 55

    /// The canonical spelling (`acpi-cpufreq` → `acpi_cpufreq`).
    let canonical: String
    /// The hash of `canonical`, seeded per process.
    let hash: Int

    /// Random per process, so hashes (and hash-trie shapes) can't be predicted from outside.
    private static let seed = UInt64.random(in: .min ... .max)

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
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ Self.seed
        let bad: Int? = raw.withUTF8 { bytes in
            for (offset, byte) in bytes.enumerated() {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                    hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
                case UInt8(ascii: "-"):
                    hasDash = true
                    hash = (hash ^ UInt64(UInt8(ascii: "_"))) &* 0x100_0000_01b3
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
        // Finalizer (splitmix64): every bit of the result depends on every byte, which the hash
        // trie needs (it consumes the hash five bits per level).
        hash ^= hash >> 30
        hash &*= 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash &*= 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        self.hash = Int(bitPattern: UInt(hash))
    }

    static func == (a: ModuleName, b: ModuleName) -> Bool {
        a.hash == b.hash && a.canonical == b.canonical
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }

    /// Hash tables that ask for a raw hash (the table's hash trie does) get the precomputed one.
    func _rawHashValue(seed: Int) -> Int {
        guard seed != 0 else { return hash }
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(hash)
        return hasher.finalize()
    }

    var description: String { canonical }
}

extension ModuleHost {
    /// The canonical spelling of a module name under the kernel's rules (`acpi-cpufreq` →
    /// `acpi_cpufreq`): what the table keys modules by, for layers that index modules themselves.
    ///
    /// - Throws: `invalidArgument`, saying what is wrong with the name.
    public static func canonicalName(_ name: String) throws(ModuleError) -> String {
        try ModuleName(validating: name).canonical
    }
}
