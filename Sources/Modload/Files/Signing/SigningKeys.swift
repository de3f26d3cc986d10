#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Foundation

/// An Ed25519 key pair for signing module files (`modload keygen`, `modload sign`).
///
/// On disk it is a small text file, kept private:
///
///     modload-ed25519-private-key
///     signer: build-bot
///     key: <base64 of the 32-byte private key>
public struct SigningKey: Sendable {
    /// Who signs with it: written into every signature it makes.
    public let signer: String
    /// The 32-byte private key (a `Curve25519.Signing.PrivateKey` is not `Sendable`).
    private let raw: [UInt8]
    private var key: Curve25519.Signing.PrivateKey {
        // The bytes were checked when the key was made or read.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }

    static let header = "modload-ed25519-private-key"

    /// A new random key pair.
    ///
    /// - Throws: `invalidArgument` if `signer` is empty, longer than 255 bytes, or has a newline.
    public init(generatingFor signer: String) throws(ModuleError) {
        try SigningKeyFile.checkSigner(signer)
        self.signer = signer
        self.raw = Array(Curve25519.Signing.PrivateKey().rawRepresentation)
    }

    /// Reads a private key file.
    ///
    /// - Throws: `invalidArgument` naming the file and what is wrong with it.
    public init(contentsOf path: String) throws(ModuleError) {
        let (signer, raw) = try SigningKeyFile.read(path, header: Self.header)
        guard (try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)) != nil else {
            throw ModuleError(.invalidArgument, file: path, reason: "is not an Ed25519 private key")
        }
        self.raw = Array(raw)
        self.signer = signer
    }

    /// The public half, for keyrings.
    public var publicKey: PublicSigningKey {
        PublicSigningKey(signer: signer, rawRepresentation: Array(key.publicKey.rawRepresentation))
    }

    /// The key file's text.
    public var fileContents: String {
        SigningKeyFile.render(header: Self.header, signer: signer, raw: key.rawRepresentation)
    }

    /// Signs `message`.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        Array(try key.signature(for: message))
    }
}

/// An Ed25519 public key that a host may trust (one file per key in a keyring directory):
///
///     modload-ed25519-public-key
///     signer: build-bot
///     key: <base64 of the 32-byte public key>
public struct PublicSigningKey: Sendable, Hashable, CustomStringConvertible {
    /// Who the key belongs to.
    public let signer: String
    /// The 32 key bytes.
    public let rawRepresentation: [UInt8]

    static let header = "modload-ed25519-public-key"

    /// A key from its name and bytes.
    ///
    /// - Throws: `invalidArgument` if the bytes are not an Ed25519 public key.
    public init(signer: String, bytes: [UInt8]) throws(ModuleError) {
        try SigningKeyFile.checkSigner(signer)
        guard (try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)) != nil else {
            throw ModuleError(.invalidArgument, reason: "\(bytes.count) bytes are not an Ed25519 public key")
        }
        self.init(signer: signer, rawRepresentation: bytes)
    }

    init(signer: String, rawRepresentation: [UInt8]) {
        self.signer = signer
        self.rawRepresentation = rawRepresentation
    }

    /// Reads a public key file.
    ///
    /// - Throws: `invalidArgument` naming the file and what is wrong with it.
    public init(contentsOf path: String) throws(ModuleError) {
        let (signer, raw) = try SigningKeyFile.read(path, header: Self.header)
        guard (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else {
            throw ModuleError(.invalidArgument, file: path, reason: "is not an Ed25519 public key")
        }
        self.init(signer: signer, rawRepresentation: Array(raw))
    }

    /// The key file's text.
    public var fileContents: String {
        SigningKeyFile.render(header: Self.header, signer: signer, raw: Data(rawRepresentation))
    }

    /// The first 8 bytes of the SHA-256 of the key, in hex: how reports name a key.
    public var fingerprint: String { Self.fingerprint(of: rawRepresentation) }

    static func fingerprint(of key: [UInt8]) -> String {
        SHA256.hash(data: key).prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// `signer (key fingerprint)`.
    public var description: String { "\(signer) (key \(fingerprint))" }
}

/// The public keys a host trusts (the kernel's `.builtin_trusted_keys`).
public struct Keyring: Sendable, Equatable {
    /// The trusted keys.
    public private(set) var keys: Set<PublicSigningKey>

    /// A keyring of `keys`.
    public init(_ keys: [PublicSigningKey] = []) {
        self.keys = Set(keys)
    }

    /// A keyring of every `*.pub` file in `directory`.
    ///
    /// - Throws: `invalidArgument` if the directory cannot be read or a key file is malformed.
    public init(directory: String) throws(ModuleError) {
        guard let stream = opendir(directory) else {
            let code = errno
            switch code {
            case ENOENT: throw ModuleError(.notFound, file: directory, reason: "no such keyring directory")
            case ENOTDIR: throw ModuleError(.invalidArgument, file: directory, reason: "is not a directory (a keyring is a directory of *.pub files)")
            case EACCES, EPERM: throw ModuleError(.permissionDenied, file: directory, reason: "cannot read the keyring directory: \(String(cString: strerror(code)))")
            default: throw ModuleError(.invalidArgument, file: directory, reason: "cannot read the keyring directory: \(String(cString: strerror(code)))")
            }
        }
        var names: [String] = []
        while let entry = readdir(stream) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        closedir(stream)
        var keys: [PublicSigningKey] = []
        for name in names.sorted() where name.hasSuffix(".pub") {
            keys.append(try PublicSigningKey(contentsOf: directory + "/" + name))
        }
        self.init(keys)
    }

    /// Adds a key.
    public mutating func add(_ key: PublicSigningKey) { keys.insert(key) }

    /// The trusted key with these bytes, if any.
    func key(matching raw: [UInt8]) -> PublicSigningKey? {
        keys.first { $0.rawRepresentation == raw }
    }
}

/// The key-file text format shared by private and public keys.
enum SigningKeyFile {
    static func checkSigner(_ signer: String) throws(ModuleError) {
        let length = signer.utf8.count
        guard length > 0, length <= 255, !signer.contains(where: \.isNewline) else {
            throw ModuleError(
                .invalidArgument, reason: "a signer name is 1-255 bytes on one line (got \(String(reflecting: signer)))")
        }
    }

    static func render(header: String, signer: String, raw: Data) -> String {
        "\(header)\nsigner: \(signer)\nkey: \(raw.base64EncodedString())\n"
    }

    static func read(_ path: String, header: String) throws(ModuleError) -> (signer: String, raw: Data) {
        let (bytes, _) = try ModuleFileBytes.contents(of: path, what: "key file", maximumSize: 1 << 16, failure: .invalidArgument)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ModuleError(.invalidArgument, file: path, reason: "is not a key file (not UTF-8 text)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard lines.first == header else {
            throw ModuleError(.invalidArgument, file: path, reason: "is not a \(header) file (its first line is not \"\(header)\")")
        }
        var signer: String?
        var raw: Data?
        for line in lines.dropFirst() {
            if line.hasPrefix("signer: ") { signer = String(line.dropFirst("signer: ".count)) }
            if line.hasPrefix("key: ") { raw = Data(base64Encoded: String(line.dropFirst("key: ".count))) }
        }
        guard let signer, !signer.isEmpty else { throw ModuleError(.invalidArgument, file: path, reason: "has no \"signer:\" line") }
        guard let raw, raw.count == 32 else {
            throw ModuleError(.invalidArgument, file: path, reason: "has no \"key:\" line with 32 base64 bytes")
        }
        return (signer, raw)
    }
}
