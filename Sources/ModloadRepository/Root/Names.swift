import Modload

/// kmod's name rules: module names compare with `-` and `_` the same (the canonical spelling
/// writes `_`); in an alias, `-` becomes `_` except inside a `[…]` class of a glob pattern.
enum Names {
    /// The canonical spelling of a module name (`snd-hda-intel` → `snd_hda_intel`), or the name
    /// as given if it is no valid module name.
    static func module(_ name: String) -> String {
        (try? ModuleHost.canonicalName(name)) ?? String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// An alias or pattern with `-` as `_` outside brackets (`-aa[-bb-]cc-` → `_aa[-bb-]cc_`), or
    /// `nil` for an unmatched bracket (kmod's `alias_normalize`).
    static func alias(_ text: String) -> String? {
        var out = ""
        var inBracket = false
        for character in text {
            switch character {
            case "[":
                if inBracket { return nil }
                inBracket = true
                out.append(character)
            case "]":
                if !inBracket { return nil }
                inBracket = false
                out.append(character)
            case "-" where !inBracket:
                out.append("_")
            default:
                out.append(character)
            }
        }
        return inBracket ? nil : out
    }
}
