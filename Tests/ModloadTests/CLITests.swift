#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ModloadExampleBuilder
import ModloadDemo
import Testing
@testable import Modload

/// The `modload` command, run as a user runs it: the built executable, in a process of its own.
@Suite("The modload command")
struct CLITests {
    /// Runs the `modload` executable SwiftPM built beside this test bundle.
    static func modload(_ arguments: String...) async throws -> Programs.Run {
        try await modload(arguments)
    }

    static func modload(_ arguments: [String]) async throws -> Programs.Run {
        try await Programs.run(Programs.built("modload"), arguments)
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
        #expect(again.status == 1)  // a runtime failure, not a usage error
        #expect(again.standardError == "modload: \(prefix).key: exists; pass --force to overwrite it\n")
        #expect(try String(contentsOfFile: prefix + ".key", encoding: .utf8) == key)  // untouched

        let forced = try await Self.modload("keygen", "--signer", "alice", "--out", prefix, "--force")
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(try String(contentsOfFile: prefix + ".key", encoding: .utf8) != key)
        #expect(try Self.mode(of: prefix + ".key") & 0o777 == 0o600)
    }

    /// Every runtime failure is one line on stderr and exit 1 (JSON under --json, every key
    /// present); usage errors are the parser's (exit 64).
    @Test func failuresPrintOneReadableLine() async throws {
        let folder = try ModuleFolder()
        let path = folder.path
        _ = try folder.write(Array("garbage\n".utf8), as: "bad.key")
        try FileManager.default.createDirectory(atPath: path + "/keys", withIntermediateDirectories: true)
        _ = try folder.write(Array("garbage\n".utf8), as: "keys/x.pub")
        let cases: [(arguments: [String], status: Int32, line: String)] = [
            (["modinfo", "\(path)/absent.so"], 1, "modload: \(path)/absent.so: no such module file"),
            (["modinfo", path], 1, "modload: \(path): is a directory, not a module file"),
            (["modinfo", "--keyring", "\(path)/nokeys", "/bin/true"], 1, "modload: \(path)/nokeys: no such keyring directory"),
            (["modinfo", "--keyring", "\(path)/keys", "/bin/true"], 1,
             "modload: \(path)/keys/x.pub: is not a modload-ed25519-public-key file (its first line is not \"modload-ed25519-public-key\")"),
            (["sign", "\(path)/nokey.key", "/bin/true"], 1, "modload: \(path)/nokey.key: no such key file"),
            (["sign", "\(path)/bad.key", "/bin/true"], 1,
             "modload: \(path)/bad.key: is not a modload-ed25519-private-key file (its first line is not \"modload-ed25519-private-key\")"),
            (["keygen", "--signer", "me", "--out", path + "/"], 1,
             "modload: \(path)/: is a directory; --out takes a file prefix (\(path)/NAME makes NAME.key and NAME.pub)"),
            (["bench", "nope"], 64,
             "modload bench: unknown scenario 'nope'; the scenarios are burst, parallel, refs, lookup, quiescence, cycle, replace, files, depmod, modprobe, control, limits, all"),
        ]
        for (arguments, status, line) in cases {
            let run = try await Self.modload(arguments)
            #expect(run.status == status, "modload \(arguments.joined(separator: " ")): \(run.standardError)")
            #expect(run.standardError.split(separator: "\n").last.map(String.init) == line, "modload \(arguments.joined(separator: " "))")
            #expect(run.standardOutput.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: path + "/.key"))  // keygen wrote nothing

        let json = try await Self.modload(["modinfo", "--json", "\(path)/absent.so"])
        #expect(json.status == 1)
        #expect(json.standardError == #"{"error":{"code":"notFound","errno":2,"file":""# + path
            + #"/absent.so","module":null,"reason":""# + path + "/absent.so: no such module file\"}}\n")

        let negative = try await Self.modload(["boot", "--cpus", "-5"])  // a value, out of range
        #expect(negative.status == 64)
        #expect(negative.standardError.hasPrefix("Error: --cpus must be between 1 and 65536 (got -5)"))

        // boot: a picture it cannot write, or options about the tree with --builtin, stop it
        // before it boots.
        let unwritable = try await Self.modload(["boot", "--plot", "\(path)/no/such/folder/boot.svg"])
        #expect(unwritable.status == 64 && unwritable.standardError.contains("--plot \(path)/no/such/folder/boot.svg: cannot write there"))
        #expect(unwritable.standardOutput.isEmpty)
        let builtinPlot = try await Self.modload(["boot", "--builtin", "--compare"])
        #expect(builtinPlot.status == 64 && builtinPlot.standardError.contains("--builtin boots no files"))

        let version = try await Self.modload(["--version"])
        #expect(version.standardOutput == "modload 0.12.0 (module ABI \(ModuleFileInfo.abiVersion))\n")
    }

    @Test func bootBootsTheTreeAndPrintsItsJSONAndPlot() async throws {
        let folder = try ModuleFolder()
        let run = try await Self.modload(["boot", "--cpus", "4", "--init-ms", "0", "--json", "--plot", folder.path + "/boot.svg"])
        #expect(run.status == 0, "\(run.standardError)")
        let report = try JSONDecoder().decode(Boot.Report.self, from: Data(run.standardOutput.utf8))
        #expect(report.requests == 1 + 4 * 4 + FileBootTests.devices + 1)
        #expect(report.inits.values.allSatisfy { $0 == 1 } && report.inits["acpi_cpufreq"] == 1)
        #expect(report.timeline?.count == 40 && report.criticalPathMs != nil && report.blacklisted == ["iTCO_wdt": 1] && report.denied == ["floppy": 1])
        #expect(report.modules.contains { $0.name == "intel_pstate" && $0.state == "live" })
        #expect(try String(contentsOfFile: folder.path + "/boot.svg", encoding: .utf8).contains("snd_hda_intel"))
        // The built-in boot keeps its report; --tree prints the module root.
        let builtin = try await Self.modload(["boot", "--builtin", "--cpus", "2", "--json"])
        #expect(try JSONDecoder().decode(Boot.Report.self, from: Data(builtin.standardOutput.utf8)).timeline == nil)
        let tree = try await Self.modload(["boot", "--tree"])
        #expect(tree.status == 0 && FileManager.default.fileExists(atPath: tree.standardOutput.trimmingCharacters(in: .newlines) + "/modules.dep"))
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
