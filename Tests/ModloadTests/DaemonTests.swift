import Foundation
import ModloadControl
import ModloadRepository
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `modload daemon` as users run it: a real process on a real Unix socket, the CLI verbs and
/// other clients against it, over a module tree of C module files compiled in the test.
@Suite("Daemon", .serialized, .timeLimit(.minutes(5)))
struct DaemonTests {
    /// base ← mid ← top (each imports from the one before), solo alone, listed in modules-load.d:
    /// compiled once per test process (the example builder compiles one file at a time for every
    /// suite), copied into a fresh tree for each test and indexed there.
    static func tree() async throws -> ModuleTree {
        let template = try await templateTree.value
        let tree = try ModuleTree()
        for folder in ["kernel", "modules-load.d", "modprobe.d"] {
            try FileManager.default.copyItem(atPath: "\(template.root)/\(folder)", toPath: "\(tree.root)/\(folder)")
        }
        let root = try ModuleRoot(tree.root)
        try Depmod.run(root).index.write(to: root)
        return tree
    }

    private static let templateTree = Task { () throws -> ModuleTree in
        let tree = try ModuleTree()
        try await tree.module("base", exports: ["base_fn"])
        try await tree.module("mid", exports: ["mid_fn"], imports: ["base_fn"])
        try await tree.module("top", imports: ["mid_fn"], aliases: ["pci:v00008086d*"])
        try await tree.module("solo")
        try tree.write("solo\n# a comment\n; another\n", to: "modules-load.d/boot.conf")
        try tree.write("", to: "modprobe.d/empty.conf")
        return tree
    }

    @Test("the verbs: modprobe, lsmod with used-by, holders, rmmod, modprobe -r, insmod, stats, kmod's errors")
    func verbs() async throws {
        let tree = try await Self.tree()
        let daemon = try await DaemonProcess(root: tree.root)
        // Loaded at start from modules-load.d.
        var run = try await daemon.verb("lsmod")
        #expect(run.status == 0)
        #expect(run.standardOutput.hasPrefix("Module                  Size  Used by\n"), "\(run.standardOutput)")
        #expect(run.standardOutput.contains("\nsolo "), "\(run.standardOutput)")

        run = try await daemon.verb("modprobe", ["top"])
        #expect(run.status == 0, "\(run.standardError)")
        run = try await daemon.verb("lsmod")
        let lines = Dictionary(
            run.standardOutput.split(separator: "\n").dropFirst().map { line in
                let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                return (fields[0], Array(fields.dropFirst(2)))
            }, uniquingKeysWith: { a, _ in a })
        #expect(lines["base"] == ["1", "mid"], "\(run.standardOutput)")
        #expect(lines["mid"] == ["1", "top"], "\(run.standardOutput)")
        #expect(lines["top"] == ["0"], "\(run.standardOutput)")

        run = try await daemon.verb("holders", ["mid"])
        #expect(run.status == 0 && run.standardOutput.contains("used by modules: top"), "\(run.standardOutput)")
        run = try await daemon.verb("rmmod", ["mid"])
        #expect(run.status == 1)
        #expect(run.standardError == "rmmod: ERROR: Module mid is in use by: top\n", "\(run.standardError)")
        run = try await daemon.verb("rmmod", ["--json", "mid"])
        let refusal = try JSONSerialization.jsonObject(with: Data(run.standardError.utf8)) as? [String: [String: Any]]
        #expect(refusal?["error"]?["code"] as? String == "wouldBlock", "\(run.standardError)")

        run = try await daemon.verb("rmmod", ["top"])
        #expect(run.status == 0 && run.standardError.isEmpty, "\(run.standardError)")
        run = try await daemon.verb("modprobe", ["-r", "--json", "mid"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput == "{\"removed\":[\"mid\",\"base\"]}\n", "\(run.standardOutput)")
        run = try await daemon.verb("rmmod", ["mid"])
        #expect(run.status == 1 && run.standardError == "rmmod: ERROR: Module mid is not currently loaded\n", "\(run.standardError)")

        // insmod: a file, with kmod's error for a module already loaded.
        run = try await daemon.verb("insmod", ["\(tree.root)/kernel/solo.so"])
        #expect(run.status == 1 && run.standardError.hasPrefix("insmod: ERROR: could not insert module"), "\(run.standardError)")
        run = try await daemon.verb("rmmod", ["solo"])
        #expect(run.status == 0)
        run = try await daemon.verb("insmod", ["\(tree.root)/kernel/solo.so", "delay_ms=1"])
        #expect(run.status == 0, "\(run.standardError)")
        run = try await daemon.verb("modprobe", ["--first-time", "solo"])
        #expect(run.status == 1 && run.standardError == "modprobe: ERROR: could not insert 'solo': Module already in kernel\n", "\(run.standardError)")
        run = try await daemon.verb("modprobe", ["nosuch"])
        #expect(run.status == 1 && run.standardError.hasPrefix("modprobe: FATAL: Module nosuch not found"), "\(run.standardError)")
        run = try await daemon.verb("modprobe", ["-q", "nosuch"])
        #expect(run.status == 1 && run.standardError.isEmpty, "\(run.standardError)")
        // By alias, through the daemon's repository.
        run = try await daemon.verb("modprobe", ["pci:v00008086d00001234"])
        #expect(run.status == 0, "\(run.standardError)")

        run = try await daemon.verb("stats", ["--json"])
        let stats = try JSONDecoder().decode(HostInterface.StatisticsReply.self, from: Data(run.standardOutput.utf8))
        #expect(stats.liveModules == 4, "\(stats)")
        #expect(stats.modules.first { $0.name == "solo" }.map { [$0.loads, $0.unloads, $0.initCalls] } == [2, 1, 2])

        // Resolve and Plan answer from the daemon's index.
        let client = try daemon.client()
        #expect(try client.resolve("pci:v00008086d00001234") == ["top"])
        #expect(try client.plan("top").map(\.module) == ["base", "mid", "top"])
        #expect(try client.holders("base").dependents == ["mid"])

        // The dry-run forms need no daemon.
        run = try await Programs.run(Programs.built("modload"), ["modprobe", "-b", tree.root, "-C", "\(tree.root)/modprobe.d", "--show-depends", "top"])
        #expect(run.standardOutput == "insmod \(tree.root)/kernel/base.so \ninsmod \(tree.root)/kernel/mid.so \ninsmod \(tree.root)/kernel/top.so \n", "\(run.standardOutput)")
        #expect(try await daemon.stop() == 0)
    }

    @Test("monitor prints one line per event as it happens; --json one object per line")
    func monitor() async throws {
        let tree = try await Self.tree()
        let daemon = try await DaemonProcess(root: tree.root)
        let socket = daemon.socket
        for json in [false, true] {
            let done = Flag()
            let monitor = Task {
                defer { done.set() }
                return try await Programs.run(Programs.built("modload"), ["monitor", "--socket", socket, "-n", "4"] + (json ? ["--json"] : []))
            }
            // Events until the monitor has seen four and left: it may subscribe at any moment, so
            // keep them coming (bounded: a monitor that never prints fails, never hangs).
            let client = try daemon.client()
            // Bounded by time, not rounds: on a loaded machine the monitor process may take
            // seconds to start while rounds run fast.
            let giveUp = ContinuousClock.now + .seconds(60)
            var rounds = 0
            while !done.isSet && ContinuousClock.now < giveUp {
                rounds += 1
                _ = try? client.load(HostInterface.LoadParameters(name: "top"))
                _ = try? client.unload(HostInterface.UnloadParameters(name: "top"))
            }
            guard done.isSet else {
                Issue.record("the monitor printed fewer than 4 events in \(rounds) load/unload rounds")
                _ = try await daemon.stop()  // its connection closes: the monitor exits too
                return
            }
            let run = try await monitor.value
            #expect(run.status == 0, "\(run.standardError)")
            let events = run.standardOutput.split(separator: "\n").filter { json || $0.hasPrefix("MODLOAD[") }
            #expect(events.count == 4, "\(run.standardOutput)")
            if json {
                let kinds = events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["kind"] as? String }
                #expect(kinds.count == 4 && Set(kinds).isSubset(of: ["requested", "coming", "live", "going", "gone"]), "\(run.standardOutput)")
            } else {
                #expect(run.standardOutput.hasPrefix("monitor will print the received events for:\nMODLOAD - the module host on \(socket)\n"))
                // top's transitions; its load also requests what it uses (already live).
                #expect(events.allSatisfy { $0.hasSuffix(" top") || $0.contains("requested") }, "\(run.standardOutput)")
            }
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test("SIGTERM: the socket stops accepting, every module unloads in reverse dependency order, exit 0")
    func shutdownOrder() async throws {
        let tree = try await Self.tree()
        let daemon = try await DaemonProcess(root: tree.root)
        let client = try daemon.client()
        _ = try client.load(HostInterface.LoadParameters(name: "top"))
        #expect(try client.list().map(\.name).sorted() == ["base", "mid", "solo", "top"])
        client.connection.close()
        #expect(try await daemon.stop(SIGTERM) == 0)
        let order = daemon.log.split(separator: "\n").compactMap { line in line.range(of: "unloaded ").map { String(line[$0.upperBound...]) } }
        #expect(Set(order) == ["base", "mid", "solo", "top"], "\(daemon.log)")
        if let top = order.firstIndex(of: "top"), let mid = order.firstIndex(of: "mid"), let base = order.firstIndex(of: "base") {
            #expect(top < mid && mid < base, "exit order \(order)")
        }
        #expect(daemon.log.contains("shutdown: 4 modules unloaded, 0 refused"), "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: daemon.socket), "the socket file is removed")
    }

    @Test("a non-root peer (uid 65534) may list but not load: PermissionDenied names the method and uid, nothing changes",
        .enabled(if: getuid() == 0, "needs root to run a client as another user"))
    func permissions() async throws {
        let tree = try await Self.tree()
        let daemon = try await DaemonProcess(root: tree.root, ["--socket-mode", "0666"])
        let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", Programs.built("modload")]
        var run = try await Programs.run("/usr/bin/setpriv", asNobody + ["lsmod", "--socket", daemon.socket])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("\nsolo "), "\(run.standardOutput)")
        run = try await Programs.run("/usr/bin/setpriv", asNobody + ["insmod", "--socket", daemon.socket, "\(tree.root)/kernel/top.so"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("io.modload.Host.Load changes the host: uid 65534 may not call it"), "\(run.standardError)")
        run = try await Programs.run("/usr/bin/setpriv", asNobody + ["rmmod", "--json", "--socket", daemon.socket, "solo"])
        let error = try JSONSerialization.jsonObject(with: Data(run.standardError.utf8)) as? [String: [String: Any]]
        #expect(error?["error"]?["code"] as? String == "permissionDenied", "\(run.standardError)")
        #expect(try daemon.client().list().map(\.name) == ["solo"], "nothing changed")
        #expect(daemon.log.contains("refused io.modload.Host.Load"), "\(daemon.log)")
        // The default mode without a group: only the owner may connect at all.
        let mode = try FileManager.default.attributesOfItem(atPath: daemon.socket)[.posixPermissions] as? Int
        #expect(mode == 0o666)
        #expect(try await daemon.stop() == 0)
        let strict = try await DaemonProcess(root: tree.root)
        #expect(try FileManager.default.attributesOfItem(atPath: strict.socket)[.posixPermissions] as? Int == 0o600)
        run = try await Programs.run("/usr/bin/setpriv", asNobody + ["lsmod", "--socket", strict.socket])
        #expect(run.status == 1 && run.standardError.contains("permission denied"), "\(run.standardError)")
        #expect(try await strict.stop() == 0)
    }

    @Test("a stale socket file is replaced; a live daemon on the socket is an error")
    func staleSocket() async throws {
        let tree = try await Self.tree()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-stale-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A socket file whose listener is gone, as a killed daemon leaves it.
        let path = "\(folder)/s"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try ControlSocket.address(path)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0)
        close(fd)
        var run = try await Programs.run(Programs.built("modload"), ["lsmod", "--socket", path])
        #expect(run.status == 1 && run.standardError.contains("no modload daemon is listening on \(path)"), "\(run.standardError)")

        let first = try await DaemonProcess(root: tree.root)
        run = try await Programs.run(Programs.built("modload"), ["daemon", "--socket", first.socket, "-b", tree.root, "--modules-load", "\(tree.root)/none"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("a modload daemon is already listening on \(first.socket)"), "\(run.standardError)")
        #expect(first.isRunning)
        #expect(try await first.stop() == 0)
        // The stale one from before: replaced.
        let second = try await DaemonProcess(root: tree.root, socket: path)
        #expect(try second.client().list().map(\.name) == ["solo"])
        _ = try await second.stop()
    }
}
