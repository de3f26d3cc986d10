/// Renders module snapshots the way `lsmod` does, with the state `/proc/modules` shows (and, as
/// there, a module's taint letters after it):
///
///     Module                  Size  Used by            State
///     ext4                    4096  1 jbd2_user        Live
///     crc32c                 16384  0                  Live (E)
///     e1000e                  8192  0                  Live [generation 2]
///     e1000e                  8192  1                  Old [generation 1]
///
/// While a name is listed twice (a replace's current generation and the old one still draining),
/// each of its lines ends with its generation.
enum ModuleListing {
    static func render(_ modules: [ModuleInfo]) -> String {
        let nameWidth = max(24, (modules.map(\.name.utf8.count).max() ?? 0) + 2)
        let usedByTexts = modules.map { info in
            info.usedBy.isEmpty ? "\(info.refcount)" : "\(info.refcount) \(info.usedBy.joined(separator: ","))"
        }
        let usedByWidth = max(9, (usedByTexts.map(\.utf8.count).max() ?? 0) + 2)
        let counts = Dictionary(modules.map { ($0.name, 1) }, uniquingKeysWith: +)
        var lines = [pad("Module", nameWidth) + pad("Size", 8, left: true) + "  " + pad("Used by", usedByWidth) + "State"]
        for (info, usedBy) in zip(modules, usedByTexts) {
            lines.append(
                pad(info.name, nameWidth) + pad("\(info.size)", 8, left: true) + "  "
                    + pad(usedBy, usedByWidth) + (info.isUnloading ? ModuleState.going.procName : info.state.procName)
                    + (info.taints.isEmpty ? "" : " (\(info.taints))")
                    + (counts[info.name, default: 0] > 1 || info.state == .old ? " [generation \(info.generation)]" : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.utf8.count))
        return left ? fill + text : text + fill
    }
}
