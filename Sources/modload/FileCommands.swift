import ArgumentParser
import Foundation
import Modload
import ModloadRepository

struct ModinfoCommand: ParsableCommand, ReportsJSON {
    static let configuration = CommandConfiguration(
        commandName: "modinfo",
        abstract: "Show what a module file says: name, version, license, aliases, softdeps, exports, imports, parameters, signer.",
        discussion: """
            Everything is read from the file's bytes — its metadata section, its ELF image and its \
            signature — after checking it as a load would. Nothing of it is mapped or run.
            """
    )

    @Argument(help: "The module file, or a module name or alias to find in the module root.")
    var file: String

    @OptionGroup var repository: RepositoryOptions

    @Option(name: [.customShort("F"), .long], help: "Print only this field's values, one per line (e.g. alias, depends, parm, export).")
    var field: String?

    @Option(help: "A directory of trusted public keys (*.pub), to say whether the signature is trusted.")
    var keyring: String?

    @Flag(help: "Print one JSON object instead of the fields.")
    var json = false

    func run() throws {
        let keys = try keyring.map { try Keyring(directory: $0) } ?? Keyring()
        for path in try paths() {
            let info = try ModuleFileInfo.inspect(path, keyring: keys)
            if let field {
                for value in info.values(ofField: field) { print(value) }
            } else if json {
                print(try jsonLine(info))
            } else {
                print(info.modinfo)
            }
        }
    }

    /// kmod's rule: a path to a file is that file; anything else is looked up in the module root
    /// by name or alias (every module it resolves to).
    private func paths() throws -> [String] {
        var status = stat()
        if file.contains("/") || file.hasSuffix(".so") || (stat(file, &status) == 0 && status.st_mode & S_IFMT == S_IFREG) {
            return [file]
        }
        let root = try repository.root()
        let found = try ModuleRepository(root: root).lookup(file).modules
        guard !found.isEmpty else {
            throw ModuleError(.notFound, module: file, reason: "not found in the module root \(root.path)")
        }
        return found.map { root.absolute($0.path) }
    }
}

struct SealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Write a module file's metadata section from its descriptor (Swift modules, after linking; before signing).",
        discussion: """
            Swift cannot place strings in an ELF section at compile time, so a module written with \
            ModloadModule gets the metadata section hosts, modinfo and depmod read (without running \
            the file) from this step, which maps the file and reads its descriptor once — as the \
            kernel's modpost writes .modinfo after compiling. C modules declare theirs with the \
            MODLOAD_* macros and need no sealing.
            """
    )

    @Argument(help: "The module file (rewritten in place, atomically).")
    var file: String

    func run() throws {
        let metadata = try ModuleSealing.seal(file: file)
        print("\(file): sealed \(metadata.name) \(metadata.version) (\(metadata.fields.count) metadata lines)")
    }
}

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair for signing module files: PREFIX.key (private) and PREFIX.pub.",
        discussion: "Put PREFIX.pub in a host's keyring directory; keep PREFIX.key private (it is written mode 0600)."
    )

    @Option(help: "Who signs with the key (written into every signature).")
    var signer: String

    @Option(help: "Where to write the key pair: PREFIX.key and PREFIX.pub.")
    var out: String

    @Flag(help: "Overwrite existing key files.")
    var force = false

    func run() throws {
        // The key files' names: PREFIX.key and PREFIX.pub, never inside a directory named by --out.
        var isDirectory: ObjCBool = false
        if out.hasSuffix("/") || (FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw RuntimeFailure(file: out, reason: "is a directory; --out takes a file prefix (\(out.hasSuffix("/") ? out : out + "/")NAME makes NAME.key and NAME.pub)")
        }
        let key = try SigningKey(generatingFor: signer)
        let (privatePath, publicPath) = (out + ".key", out + ".pub")
        for path in [privatePath, publicPath] where !force && FileManager.default.fileExists(atPath: path) {
            throw RuntimeFailure(file: path, reason: "exists; pass --force to overwrite it")
        }
        try write(key.fileContents, to: privatePath, mode: 0o600)
        try write(key.publicKey.fileContents, to: publicPath, mode: 0o644)
        print("\(privatePath)\n\(publicPath)\nkey \(key.publicKey.fingerprint) for \(signer)")
    }

    /// Writes `text` to `path` with `mode` (replacing the file), or fails in plain words.
    private func write(_ text: String, to path: String, mode: mode_t) throws {
        unlink(path)  // --force, or nothing there: a new file gets `mode` whatever the old one had
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw RuntimeFailure(file: path, reason: "cannot be written: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Foundation.write(fd, $0.baseAddress!, $0.count) }) == bytes.count else {
            throw RuntimeFailure(file: path, reason: "cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}

struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Append an Ed25519 signature to a module file (replacing one it has).",
        discussion: "The file is checked to be a module file first; it is rewritten atomically."
    )

    @Argument(help: "The private key file (from modload keygen).")
    var key: String

    @Argument(help: "The module file to sign.")
    var file: String

    func run() throws {
        let signingKey = try SigningKey(contentsOf: key)
        try ModuleSigning.sign(file: file, with: signingKey)
        print("\(file): signed by \(signingKey.publicKey)")
    }
}
