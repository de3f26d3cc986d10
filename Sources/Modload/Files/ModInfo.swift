/// What `modload modinfo` prints: a module file's metadata, signature and code, as kmod's `modinfo`
/// does for a `.ko` — one `field: value` line each, repeated fields repeated — all read from the
/// file's bytes (nothing is mapped or run).
extension ModuleFileInfo {
    /// The `modinfo` fields, in order: `(field, value)`.
    public var modinfoFields: [(String, String)] {
        let m = metadata
        var lines: [(String, String)] = [
            ("filename", path), ("name", m.name), ("version", m.version), ("description", m.description),
            ("license", m.license), ("abi", String(m.abiVersion)),
            ("accounting", m.accounting == .counting ? "counting" : "noncounting"),
            ("code", containsSwift ? "Swift" : "C"),
            ("unload", neverUnmapped.map { "retires the code (\($0))" } ?? "unmaps the file"),
            ("size", String(size)),
        ]
        lines += m.aliases.map { ("alias", $0) }
        if !m.softDependencies.isEmpty { lines.append(("softdep", m.softDependencies.description)) }
        // kmod's `depends`: what it imports from; here the imported symbols (providers are the
        // repository's to resolve).
        lines += m.exports.map { ("exports", $0.description) }
        lines += m.imports.map { ("imports", $0.description) }
        lines += m.parameters.map { parameter in
            var text = "\(parameter.name):\(parameter.description.isEmpty ? "" : parameter.description + " ")(\(parameter.kind.rawValue)"
            if let value = parameter.defaultValue { text += ", default \(value)" }
            return ("parm", text + ")")
        }
        if containsSwift, let toolchain = SwiftToolchain.line(in: compilers) { lines.append(("swift", toolchain)) }
        let known: Set<String> = [
            "abi", "name", "version", "description", "license", "accounting", "export", "import", "parmtype", "parm",
            "parmdefault", "alias", "softdep",
        ]
        lines += m.fields.filter { !known.contains($0.key) }.map { ($0.key, $0.value) }
        lines.append(("signer", signature.description))
        return lines
    }

    /// The `modinfo` text.
    public var modinfo: String {
        let lines = modinfoFields
        let width = lines.map(\.0.count).max()! + 2
        return lines.map { ($0 + ":").padding(toWidth: width) + $1 }.joined(separator: "\n")
    }

    /// The values of one field, as `modinfo -F FIELD` prints them (one per line): a `modinfo`
    /// field name (`alias`, `parm`, `signer`, …) or a key of the metadata section (`export`,
    /// `parmtype`, …); `depends` lists the imported symbols' names. Empty if the file has none.
    public func values(ofField field: String) -> [String] {
        switch field {
        case "depends": return metadata.imports.map(\.name)
        case "export", "import", "parmtype", "parmdefault": return metadata.values(of: field)
        default: return modinfoFields.filter { $0.0 == field }.map(\.1)
        }
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
        case aliases, softDependencies, exports, imports, parameters, signature, swiftToolchain, fields
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

    private struct Dependencies: Encodable {
        let pre: [String]
        let post: [String]
    }

    private struct Field: Encodable {
        let key: String
        let value: String
    }

    /// One JSON object: the metadata's fields, `exports`/`imports` as `{name, signature}`,
    /// `parameters` as `{name, type, description, defaultValue}`, `softDependencies` as
    /// `{pre, post}`, `signature` as `{status, signer, keyFingerprint}`, and `fields`: every line
    /// of the metadata section as `{key, value}`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        let m = metadata
        try c.encode(path, forKey: .path)
        try c.encode(m.name, forKey: .name)
        try c.encode(m.version, forKey: .version)
        try c.encode(m.description, forKey: .description)
        try c.encode(m.license, forKey: .license)
        try c.encode(m.abiVersion, forKey: .abiVersion)
        try c.encode(m.accounting == .counting ? "counting" : "noncounting", forKey: .accounting)
        try c.encode(containsSwift, forKey: .containsSwift)
        try c.encode(neverUnmapped, forKey: .neverUnmapped)
        try c.encode(size, forKey: .size)
        try c.encode(m.aliases, forKey: .aliases)
        try c.encode(Dependencies(pre: m.softDependencies.pre, post: m.softDependencies.post), forKey: .softDependencies)
        try c.encode(m.exports.map { Symbol(name: $0.name, signature: $0.signature.text) }, forKey: .exports)
        try c.encode(m.imports.map { Symbol(name: $0.name, signature: $0.signature.text) }, forKey: .imports)
        try c.encode(
            m.parameters.map {
                Parameter(name: $0.name, type: $0.kind.rawValue, description: $0.description, defaultValue: $0.defaultValue?.description)
            }, forKey: .parameters)
        try c.encode(
            Signature(status: signature.kind.rawValue, signer: signature.signer, keyFingerprint: signature.keyFingerprint),
            forKey: .signature)
        try c.encode(containsSwift ? SwiftToolchain.line(in: compilers) : nil, forKey: .swiftToolchain)
        try c.encode(m.fields.map { Field(key: $0.key, value: $0.value) }, forKey: .fields)
    }
}
