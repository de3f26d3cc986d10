import CModloadABI

/// The signature trailer `modload sign` appends to a module file (layout in `modload.h`,
/// "Signed module files"):
///
///     ELF image | signer | public key (32) | signature (64) | info (8) | magic (28)
///
/// Parsing only splits the file and checks the trailer's shape; ``SignaturePolicy`` verifies it.
struct SignatureTrailer {
    /// The signer's name, as written by `modload sign`.
    let signer: String
    /// The signer's Ed25519 public key.
    let publicKey: [UInt8]
    /// The Ed25519 signature.
    let signature: [UInt8]
    /// Where the signature lies in the file; everything else is the signed message.
    let signatureRange: Range<Int>
    /// Where the trailer begins: the ELF image is the bytes before it.
    let imageEnd: Int

    static let magic = Array(MODLOAD_SIGNATURE_MAGIC.utf8)
    static let algorithmEd25519 = UInt8(MODLOAD_SIG_ED25519.rawValue)
    static let keyLength = 32
    static let signatureLength = 64
    static let infoLength = MemoryLayout<modload_signature_info>.size

    /// Why a trailer is malformed (the loader reports it as `badSignature`).
    struct Malformed: Error {
        let reason: String
    }

    /// `true` if `bytes` ends with the signature magic (so it claims to be signed).
    static func isPresent(in bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= magic.count && bytes[(bytes.count - magic.count)...].elementsEqual(magic)
    }

    /// Splits a file into its ELF image and its trailer, if it has one: the one place a file's
    /// trailer is parsed (``ModuleFile``).
    ///
    /// - Throws: `badSignature` naming `file`, if the file ends with the magic but the trailer is
    ///   malformed.
    static func split(_ bytes: UnsafeRawBufferPointer, file: String) throws(ModuleError) -> (imageEnd: Int, trailer: SignatureTrailer?) {
        guard isPresent(in: bytes) else { return (bytes.count, nil) }
        do throws(Malformed) {
            let trailer = try parse(bytes)
            return (trailer.imageEnd, trailer)
        } catch {
            throw ModuleError(.badSignature, file: file, reason: error.reason)
        }
    }

    /// Parses the trailer of a file that ends with the magic.
    private static func parse(_ bytes: UnsafeRawBufferPointer) throws(Malformed) -> SignatureTrailer {
        let end = bytes.count - magic.count
        guard end >= infoLength else { throw Malformed(reason: "signature trailer is truncated") }
        let info = end - infoLength
        let algorithm = bytes[info], keyLength = Int(bytes[info + 1]), signerLength = Int(bytes[info + 2])
        let signatureLength = bytes[(info + 4)..<(info + 8)].reduce(0) { $0 << 8 | Int($1) }
        guard bytes[info + 3] == 0 else { throw Malformed(reason: "signature info has a nonzero reserved byte") }
        guard algorithm == algorithmEd25519 else {
            throw Malformed(reason: "unknown signature algorithm \(algorithm) (this host knows 1, Ed25519)")
        }
        guard keyLength == Self.keyLength, signatureLength == Self.signatureLength else {
            throw Malformed(
                reason: "an Ed25519 signature has a \(Self.keyLength)-byte key and \(Self.signatureLength) bytes; "
                    + "this one claims \(keyLength) and \(signatureLength)")
        }
        guard signerLength > 0 else { throw Malformed(reason: "signature names no signer") }
        let signatureStart = info - signatureLength
        let keyStart = signatureStart - keyLength
        let signerStart = keyStart - signerLength
        guard signerStart >= 0 else { throw Malformed(reason: "signature trailer is truncated") }
        guard let signer = String(validating: bytes[signerStart..<keyStart], as: UTF8.self) else {
            throw Malformed(reason: "signer name is not UTF-8")
        }
        return SignatureTrailer(
            signer: signer, publicKey: Array(bytes[keyStart..<signatureStart]),
            signature: Array(bytes[signatureStart..<info]), signatureRange: signatureStart..<info, imageEnd: signerStart)
    }

    /// The bytes a signer signs: the whole file with the signature's bytes left out.
    static func message(of bytes: UnsafeRawBufferPointer, without signature: Range<Int>) -> [UInt8] {
        var message = [UInt8]()
        message.reserveCapacity(bytes.count - signature.count)
        message.append(contentsOf: bytes[..<signature.lowerBound])
        message.append(contentsOf: bytes[signature.upperBound...])
        return message
    }

    /// The trailer for `signer` and `publicKey`, with `sign` producing the signature over the
    /// image and every trailer byte but the signature.
    static func build(
        image: [UInt8], signer: String, publicKey: [UInt8], sign: ([UInt8]) throws -> [UInt8]
    ) throws -> [UInt8] {
        let signerBytes = Array(signer.utf8)
        precondition(signerBytes.count > 0 && signerBytes.count <= 255 && publicKey.count == keyLength)
        let info: [UInt8] = [
            algorithmEd25519, UInt8(keyLength), UInt8(signerBytes.count), 0,
            0, 0, UInt8(signatureLength >> 8), UInt8(signatureLength & 0xff),
        ]
        let signature = try sign(image + signerBytes + publicKey + info + magic)
        precondition(signature.count == signatureLength)
        return signerBytes + publicKey + signature + info + magic
    }
}
