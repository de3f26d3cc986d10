#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ModloadExamples
import Testing
@testable import Modload

/// The `modload` command, run as a user runs it: the built executable, in a process of its own.
@Suite("The modload command")
struct CLITests {
    /// What one run of the command did.
    struct Run {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    /// The `modload` executable SwiftPM built beside this test bundle.
    static var executable: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        return bundle.appendingPathComponent("modload").path
    }

    /// Runs `modload arguments…` and waits for it (without blocking a pool thread).
    static func modload(_ arguments: String...) async throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return Run(
            status: status,
            standardOutput: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            standardError: String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    static func mode(of path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func keygenWritesAPrivateKeyOnlyItsOwnerReadsAndRefusesToOverwriteWithoutForce() async throws {
        let folder = try ModuleFolder()
        let prefix = folder.path + "/alice"
        let made = try await Self.modload("keygen", "--signer", "alice", "--out", prefix)
        #expect(made.status == 0, "\(made.standardError)")
        #expect(try Self.mode(of: prefix + ".key") & 0o777 == 0o600)
        let key = try String(contentsOfFile: prefix + ".key", encoding: .utf8)
        let publicKey = try String(contentsOfFile: prefix + ".pub", encoding: .utf8)
        #expect(try SigningKey(contentsOf: prefix + ".key").publicKey.fileContents == publicKey)

        let again = try await Self.modload("keygen", "--signer", "alice", "--out", prefix)
        #expect(again.status != 0)
        #expect(again.standardError.contains("exists"))
        #expect(try String(contentsOfFile: prefix + ".key", encoding: .utf8) == key)  // untouched

        let forced = try await Self.modload("keygen", "--signer", "alice", "--out", prefix, "--force")
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(try String(contentsOfFile: prefix + ".key", encoding: .utf8) != key)
        #expect(try Self.mode(of: prefix + ".key") & 0o777 == 0o600)
    }

    @Test func signAppendsASignatureThatModinfoAndAKeyringTrust() async throws {
        let folder = try ModuleFolder()
        let keys = folder.path + "/keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        #expect(try await Self.modload("keygen", "--signer", "release", "--out", keys + "/release").status == 0)
        let file = try await folder.copy(.checksum, as: "libchecksum-cli.so")
        let signed = try await Self.modload("sign", keys + "/release.key", file)
        #expect(signed.status == 0, "\(signed.standardError)")
        #expect(signed.standardOutput.hasPrefix("\(file): signed by"))
        let untrusted = try ModuleFileInfo.inspect(file)
        #expect(untrusted.signature.kind == .untrusted && untrusted.signature.signer == "release")
        let trusted = try ModuleFileInfo.inspect(file, keyring: try Keyring(directory: keys))
        #expect(trusted.signature.kind == .trusted)
        // The signed file loads under an enforcing host that trusts the key.
        let host = try ModuleHost(configuration: .init(signaturePolicy: .enforce(try Keyring(directory: keys))))
        #expect(try await host.insert(file: file).how == .loaded)
        try await host.unload("checksum")
        // Signing what is not a module file is refused, and changes nothing.
        let text = try folder.write(Array("not a module".utf8), as: "notes.txt")
        let refused = try await Self.modload("sign", keys + "/release.key", text)
        #expect(refused.status != 0)
        #expect(try String(contentsOfFile: text, encoding: .utf8) == "not a module")
    }
}
