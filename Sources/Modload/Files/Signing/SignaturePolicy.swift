import Crypto
import Foundation

/// Which module files a host loads (the kernel's `CONFIG_MODULE_SIG` and `module.sig_enforce`).
///
/// - ``Mode/enforce``: only files signed by a key in ``keyring`` load; an unsigned file, or one
///   signed by another key, fails with `keyRejected`.
/// - ``Mode/permissive`` (the default, as the kernel's default): those files load too, but taint
///   the host and the module with ``TaintFlags/unsignedModule`` ('E').
///
/// Under both, a signature that is malformed, of an unknown kind, or does not verify — any byte of
/// the file changed after signing — fails with `badSignature`.
public struct SignaturePolicy: Sendable, Equatable {
    /// How unsigned and untrusted files are treated.
    public enum Mode: String, Sendable, Equatable {
        /// Refuse them (`keyRejected`).
        case enforce
        /// Load them, tainting host and module 'E'.
        case permissive
    }

    /// How unsigned and untrusted files are treated.
    public var mode: Mode
    /// The keys whose signatures are trusted.
    public var keyring: Keyring

    /// A policy; by default permissive with an empty keyring.
    public init(mode: Mode = .permissive, keyring: Keyring = Keyring()) {
        self.mode = mode
        self.keyring = keyring
    }

    /// Permissive, no trusted keys: everything loads, unsigned files taint.
    public static let permissive = SignaturePolicy()

    /// Only files signed by a key in `keyring` load.
    public static func enforce(_ keyring: Keyring) -> SignaturePolicy {
        SignaturePolicy(mode: .enforce, keyring: keyring)
    }

    /// Checks a file's signature against this policy.
    ///
    /// - Parameters:
    ///   - bytes: the whole file; `trailer`: its signature trailer, as ``SignatureTrailer/split(_:file:)`` found it.
    /// - Returns: what the signature says.
    /// - Throws: `badSignature` (unknown kind, does not verify — every policy) or `keyRejected`
    ///   (unsigned or untrusted, when enforcing), naming `file`.
    func check(_ bytes: UnsafeRawBufferPointer, trailer: SignatureTrailer?, file: String) throws(ModuleError) -> SignatureStatus {
        let status = try SignatureStatus.verify(bytes, trailer: trailer, file: file, keyring: keyring)
        if mode == .enforce {
            switch status.kind {
            case .trusted:
                break
            case .unsigned:
                throw ModuleError(.keyRejected, file: file, reason: "is not signed, and this host enforces signatures")
            case .untrusted:
                throw ModuleError(
                    .keyRejected, file: file,
                    reason: "is signed by \(status.signer ?? "?") with key \(status.keyFingerprint ?? "?"), "
                        + "which is not in this host's keyring")
            }
        }
        return status
    }
}

/// What a module file's signature says.
public struct SignatureStatus: Sendable, Equatable, CustomStringConvertible {
    /// Whether it is signed, and by whom.
    public enum Kind: String, Sendable, Equatable {
        /// No signature.
        case unsigned
        /// A valid signature by a key in the keyring.
        case trusted
        /// A valid signature by a key not in the keyring.
        case untrusted
    }

    /// Whether it is signed, and by a trusted key.
    public let kind: Kind
    /// The signer's name, as the signature states it.
    public let signer: String?
    /// The signing key's fingerprint (``PublicSigningKey/fingerprint``).
    public let keyFingerprint: String?

    /// `unsigned`, or `signer (key …), trusted|untrusted`.
    public var description: String {
        guard let signer, let keyFingerprint else { return kind.rawValue }
        return "\(signer) (key \(keyFingerprint)), \(kind.rawValue)"
    }

    /// Verifies a file's signature trailer, if it has one.
    static func verify(
        _ bytes: UnsafeRawBufferPointer, trailer: SignatureTrailer?, file: String, keyring: Keyring
    ) throws(ModuleError) -> SignatureStatus {
        guard let trailer else { return SignatureStatus(kind: .unsigned, signer: nil, keyFingerprint: nil) }
        let fingerprint = PublicSigningKey.fingerprint(of: trailer.publicKey)
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: trailer.publicKey) else {
            throw ModuleError(.badSignature, file: file, reason: "the signature's public key is not an Ed25519 key")
        }
        let message = SignatureTrailer.message(of: bytes, without: trailer.signatureRange)
        guard key.isValidSignature(trailer.signature, for: message) else {
            throw ModuleError(
                .badSignature, file: file,
                reason: "signature by \(trailer.signer) (key \(fingerprint)) does not verify: the file changed after signing")
        }
        let trusted = keyring.key(matching: trailer.publicKey) != nil
        return SignatureStatus(kind: trusted ? .trusted : .untrusted, signer: trailer.signer, keyFingerprint: fingerprint)
    }
}

/// Signing module files (`modload sign`).
public enum ModuleSigning {
    /// Appends a signature by `key` to the module file at `path`, replacing a signature it already
    /// has. The file is rewritten atomically (a new file renamed over it) with its permissions.
    ///
    /// - Throws: `invalidFile` if it is not a module file (nothing is written), `invalidArgument`
    ///   if it cannot be read or written.
    public static func sign(file path: String, with key: SigningKey) throws(ModuleError) {
        let file = try ModuleFileBytes.read(path)
        let image: [UInt8] = try file.bytes.withUnsafeBytes { bytes in
            Result { () throws(ModuleError) -> [UInt8] in
                let end: Int
                do throws(ModuleError) {
                    end = try SignatureTrailer.split(bytes, file: path).imageEnd
                } catch {
                    throw ModuleError(.badSignature, file: path, reason: error.reason + " (cannot replace it)")
                }
                let image = UnsafeRawBufferPointer(rebasing: bytes[..<end])
                _ = try ModuleFile.image(image, file: path)
                return Array(image)
            }
        }.get()
        let signed: [UInt8]
        do {
            signed = image + (try SignatureTrailer.build(
                image: image, signer: key.signer, publicKey: key.publicKey.rawRepresentation, sign: key.sign))
        } catch {
            throw ModuleError(.invalidArgument, file: path, reason: "signing failed", underlying: error)
        }
        try ModuleFileBytes.replace(path, with: signed)
    }
}
