/// What `modload modinfo` prints: a module file's descriptor, signature and code, as kmod's
/// `modinfo` does for a `.ko` (one `field: value` line each, repeated fields repeated).
extension ModuleFileInfo {
    /// The `modinfo` text.
    public var modinfo: String {
        let d = descriptor
        var lines: [(String, String)] = [
            ("filename", path), ("name", d.name), ("version", d.version), ("description", d.description),
            ("license", d.license), ("abi", String(d.abiVersion)),
            ("accounting", d.accounting == .counting ? "counting" : "noncounting"),
            ("code", containsSwift ? "Swift" : "C"),
            ("unload", neverUnmapped.map { "retires the code (\($0))" } ?? "unmaps the file"),
            ("size", String(size)),
            ("entries", (["init"] + (d.hasCleanup ? ["cleanup"] : []) + (d.hasExit ? ["exit"] : [])).joined(separator: " ")),
        ]
        lines += d.exports.map { ("exports", $0.description) }
        lines += d.imports.map { ("imports", $0.description) }
        lines += d.parameters.map { parameter in
            var text = "\(parameter.name):\(parameter.description.isEmpty ? "" : parameter.description + " ")(\(parameter.kind.rawValue)"
            if let value = parameter.defaultValue { text += ", default \(value)" }
            return ("parm", text + ")")
        }
        lines.append(("signer", signature.description))
        let width = lines.map(\.0.count).max()! + 2
        return lines.map { ($0 + ":").padding(toWidth: width) + $1 }.joined(separator: "\n")
    }
}

extension String {
    fileprivate func padding(toWidth width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

extension ModuleFileInfo: Encodable {
    private enum Keys: String, CodingKey {
        case path, name, version, description, license, abiVersion, accounting, containsSwift, neverUnmapped, size
        case entryPoints, exports, imports, parameters, signature
    }

    private struct Symbol: Encodable {
        let name: String
        let signature: String
    }

    private struct Parameter: Encodable {
        let name: String
        let type: String
        let description: String
        let defaultValue: String?
    }

    private struct Signature: Encodable {
        let status: String
        let signer: String?
        let keyFingerprint: String?
    }

    /// One JSON object: the descriptor's fields, `exports`/`imports` as `{name, signature}`,
    /// `parameters` as `{name, type, description, defaultValue}`, and `signature` as
    /// `{status, signer, keyFingerprint}`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        let d = descriptor
        try c.encode(path, forKey: .path)
        try c.encode(d.name, forKey: .name)
        try c.encode(d.version, forKey: .version)
        try c.encode(d.description, forKey: .description)
        try c.encode(d.license, forKey: .license)
        try c.encode(d.abiVersion, forKey: .abiVersion)
        try c.encode(d.accounting == .counting ? "counting" : "noncounting", forKey: .accounting)
        try c.encode(containsSwift, forKey: .containsSwift)
        try c.encode(neverUnmapped, forKey: .neverUnmapped)
        try c.encode(size, forKey: .size)
        try c.encode(["init"] + (d.hasCleanup ? ["cleanup"] : []) + (d.hasExit ? ["exit"] : []), forKey: .entryPoints)
        try c.encode(d.exports.map { Symbol(name: $0.name, signature: $0.signature.text) }, forKey: .exports)
        try c.encode(d.imports.map { Symbol(name: $0.name, signature: $0.signature.text) }, forKey: .imports)
        try c.encode(
            d.parameters.map {
                Parameter(name: $0.name, type: $0.kind.rawValue, description: $0.description, defaultValue: $0.defaultValue?.description)
            }, forKey: .parameters)
        try c.encode(
            Signature(status: signature.kind.rawValue, signer: signature.signer, keyFingerprint: signature.keyFingerprint),
            forKey: .signature)
    }
}
