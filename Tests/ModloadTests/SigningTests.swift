import Foundation
import Testing
import ModloadExampleBuilder
@testable import Modload

/// Signed module files (the kernel's MODULE_SIG): keys, signing, and the enforce and permissive
/// policies. A bad signature is refused under every policy; any byte changed after signing is
/// caught.
@Suite("Module files: signatures")
struct SigningTests {
    static let alice = try! SigningKey(generatingFor: "alice")
    static let mallory = try! SigningKey(generatingFor: "mallory")

    func host(_ policy: SignaturePolicy) -> ModuleHost {
        var configuration = ModuleHost.Configuration.testing()
        configuration.signaturePolicy = policy
        return ModuleHost.forTesting(configuration)
    }

    func signedCopy(_ folder: ModuleFolder, by key: SigningKey = alice, as name: String = "libchecksum.so") async throws -> String {
        let path = try await folder.copy(.checksum, as: name)
        try ModuleSigning.sign(file: path, with: key)
        return path
    }

    @Test func enforceLoadsFilesSignedByATrustedKeyAndNothingElse() async throws {
        let folder = try ModuleFolder()
        let signed = try await signedCopy(folder)
        let enforcing = host(.enforce(Keyring([Self.alice.publicKey])))
        let info = try await enforcing.insert(file: signed).file!
        #expect(info.signature == SignatureStatus(kind: .trusted, signer: "alice", keyFingerprint: Self.alice.publicKey.fingerprint))
        #expect(enforcing.taints.isEmpty)
        #expect(enforcing.info(of: "checksum")?.taints == [])
        #expect(try await enforcing.unload("checksum").image == .unmapped)

        // Unsigned: refused.
        let unsigned = try await folder.copy(.checksum, as: "libunsigned.so")
        let refused = await expectError(.keyRejected) { try await enforcing.insert(file: unsigned) }
        #expect(refused?.reason == "is not signed, and this host enforces signatures")
        #expect(refused?.errno == EKEYREJECTED)
        // Signed by a key the host does not trust: refused, naming signer and key.
        let untrusted = try await signedCopy(folder, by: Self.mallory, as: "libmallory.so")
        let stranger = await expectError(.keyRejected) { try await enforcing.insert(file: untrusted) }
        #expect(stranger?.reason.contains("signed by mallory with key \(Self.mallory.publicKey.fingerprint)") == true)
        #expect(enforcing.modules.isEmpty && enforcing.taints.isEmpty)
        #expect(mappings(of: unsigned).isEmpty && mappings(of: untrusted).isEmpty)
    }

    @Test func permissiveLoadsUnsignedAndUntrustedFilesAndTaints() async throws {
        let folder = try ModuleFolder()
        let untrusted = try await signedCopy(folder, by: Self.mallory)
        let permissive = host(SignaturePolicy(mode: .permissive, keyring: Keyring([Self.alice.publicKey])))
        let info = try await permissive.insert(file: untrusted).file!
        #expect(info.signature.kind == .untrusted && info.signature.signer == "mallory")
        #expect(permissive.taints.contains(.unsignedModule))
        #expect(permissive.info(of: "checksum")?.taints == .unsignedModule)
        #expect("\(permissive.taints)" == "E")

        // A trusted signature does not taint.
        let clean = host(SignaturePolicy(mode: .permissive, keyring: Keyring([Self.mallory.publicKey])))
        try await clean.insert(file: untrusted)
        #expect(clean.taints.isEmpty)
    }

    @Test func aByteChangedAnywhereAfterSigningIsRejectedUnderEveryPolicy() async throws {
        let folder = try ModuleFolder()
        let signed = try await signedCopy(folder)
        let bytes = try ModuleFolder.bytes(of: signed)
        let imageLength = try ModuleFolder.bytes(of: try await ExampleBuilder.shared.path(of: .checksum)).count
        // In the code, in the signer's name, in the key, in the signature, in the info block.
        let offsets = [0x1000 + 17, imageLength, imageLength + 5 + 3, imageLength + 5 + 32 + 10, bytes.count - 28 - 5]
        for (index, offset) in offsets.enumerated() {
            var changed = bytes
            changed[offset] ^= 0x01
            let path = try folder.write(changed, as: "changed-\(index).so")
            for policy in [SignaturePolicy.permissive, .enforce(Keyring([Self.alice.publicKey]))] {
                let host = host(policy)
                let error = await expectError(.badSignature) { try await host.insert(file: path) }
                #expect(error?.file == path)
                #expect(host.modules.isEmpty && host.taints.isEmpty)
            }
        }
        #expect(try ModuleFileInfo.inspect(signed).signature.kind == .untrusted)
    }

    @Test func malformedTrailersAreBadSignatures() async throws {
        let folder = try ModuleFolder()
        let bytes = try ModuleFolder.bytes(of: try await signedCopy(folder))
        let info = bytes.count - 28 - 8
        var algorithm = bytes
        algorithm[info] = 2  // a signature type this host does not know
        #expect(await badSignature(try folder.write(algorithm, as: "algorithm.so")).contains("unknown signature algorithm 2"))
        var length = bytes
        length[info + 7] = 65
        #expect(await badSignature(try folder.write(length, as: "length.so")).contains("claims 32 and 65"))
        var reserved = bytes
        reserved[info + 3] = 1
        #expect(await badSignature(try folder.write(reserved, as: "reserved.so")).contains("reserved"))
        // The magic alone, with nothing before it that could be a trailer.
        let magicOnly = try folder.write(Array("~Modload signature appended~".utf8), as: "magic.so")
        #expect(await badSignature(magicOnly).contains("truncated"))
    }

    func badSignature(_ path: String) async -> String {
        let host = host(.permissive)
        return await expectError(.badSignature) { try await host.insert(file: path) }?.reason ?? ""
    }

    @Test func signingTwiceReplacesTheSignatureAndRefusesNonModules() async throws {
        let folder = try ModuleFolder()
        let path = try await signedCopy(folder)
        let once = try ModuleFolder.bytes(of: path).count
        try ModuleSigning.sign(file: path, with: Self.mallory)
        #expect(try ModuleFolder.bytes(of: path).count == once + 2)  // "mallory" is 2 bytes longer than "alice"
        #expect(try ModuleFileInfo.inspect(path, keyring: Keyring([Self.mallory.publicKey])).signature.kind == .trusted)

        let text = try folder.write(Array("not a module".utf8), as: "text.so")
        #expect(throws: ModuleError.self) { try ModuleSigning.sign(file: text, with: Self.alice) }
        #expect(try ModuleFolder.bytes(of: text) == Array("not a module".utf8))
    }

    @Test func keyFilesRoundTripAndMalformedOnesAreRefused() throws {
        let folder = try ModuleFolder()
        let privatePath = try folder.write(Array(Self.alice.fileContents.utf8), as: "alice.key")
        let publicPath = try folder.write(Array(Self.alice.publicKey.fileContents.utf8), as: "alice.pub")
        let reread = try SigningKey(contentsOf: privatePath)
        #expect(reread.signer == "alice" && reread.publicKey == Self.alice.publicKey)
        #expect(try PublicSigningKey(contentsOf: publicPath) == Self.alice.publicKey)
        #expect(try Keyring(directory: folder.path).keys == [Self.alice.publicKey])

        for (name, text) in [
            ("swapped.key", Self.alice.publicKey.fileContents),  // a public key where a private one belongs
            ("short.key", "modload-ed25519-private-key\nsigner: x\nkey: AAAA\n"),
            ("nosigner.key", "modload-ed25519-private-key\nkey: \(Data(count: 32).base64EncodedString())\n"),
        ] {
            let path = try folder.write(Array(text.utf8), as: name)
            #expect(throws: ModuleError.self) { try SigningKey(contentsOf: path) }
        }
        #expect(throws: ModuleError.self) { try SigningKey(generatingFor: "") }
        #expect(throws: ModuleError.self) { try SigningKey(generatingFor: "two\nlines") }
    }
}
