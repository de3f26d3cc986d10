import Foundation
import ModloadControl
import ModloadRepository
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's socket under what users and programs send it: bad messages, abandoned calls and
/// streams, a thousand idle connections, a client nobody here wrote (Python's varlink package),
/// 200 concurrent clients, and the metrics endpoint.
@Suite("Daemon protocol", .serialized, .timeLimit(.minutes(10)))
struct DaemonProtocolTests {
    /// Raises this process's open-file limit (and so a daemon's it starts) to hold `count` sockets.
    static func allowFiles(_ count: Int) {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < rlim_t(count) {
            limit.rlim_cur = min(limit.rlim_max, rlim_t(count))
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    @Test("bad input gets the varlink error or a closed connection; the daemon serves on and the host is unchanged")
    func badInput() async throws {
        Self.allowFiles(4096)
        let tree = try await DaemonTests.tree()
        let daemon = try await DaemonProcess(root: tree.root)
        let before = try daemon.client().list()

        /// Sends `bytes` on a new connection and returns the reply, or nil if the daemon closed it.
        func exchange(_ bytes: [UInt8]) throws -> VarlinkReply? {
            let connection = try ControlConnection(socketPath: daemon.socket, timeout: .seconds(30))
            try connection.sendRaw(bytes)
            switch Result(catching: { () throws(ControlError) in try connection.receiveReply() }) {
            case .success(let reply): return reply
            case .failure(let error):
                #expect(error.code == .connectionLost && !error.reason.contains("timeout"), "the daemon neither answered nor closed: \(error)")
                return nil
            }
        }
        func call(_ json: String) throws -> VarlinkReply? { try exchange(Array(json.utf8) + [0]) }

        // Not JSON, not UTF-8, not an object, no method, a flag of the wrong type: closed.
        #expect(try call("hello") == nil)
        #expect(try exchange([0xFF, 0xFE, 0x7B, 0x7D, 0]) == nil)
        #expect(try call("[1,2]") == nil)
        #expect(try call(#"{"parameters":{}}"#) == nil)
        #expect(try call(#"{"method":"io.modload.Host.List","more":"yes"}"#) == nil)
        // Over the size limit without a NUL: closed once the limit is passed.
        #expect(try exchange([UInt8](repeating: UInt8(ascii: "x"), count: VarlinkFraming.maximumMessageSize + 2)) == nil)
        // No NUL, then the client leaves: nothing happens.
        do {
            let connection = try ControlConnection(socketPath: daemon.socket)
            try connection.sendRaw(Array(#"{"method":"io.modload.Host.List""#.utf8))
            connection.close()
        }
        // Unknown interface, method, parameter; a missing one; a wrong type: the varlink errors.
        #expect(try call(#"{"method":"com.example.Nope.Do"}"#)?.error == "org.varlink.service.InterfaceNotFound")
        #expect(try call(#"{"method":"io.modload.Host.Explode"}"#)?.error == "org.varlink.service.MethodNotFound")
        let unknown = try call(#"{"method":"io.modload.Host.List","parameters":{"bogus":1}}"#)
        #expect(unknown?.error == "org.varlink.service.InvalidParameter")
        #expect(String(decoding: unknown?.parameters ?? [], as: UTF8.self) == #"{"parameter":"bogus"}"#)
        let missing = try call(#"{"method":"io.modload.Host.Info","parameters":{}}"#)
        #expect(String(decoding: missing?.parameters ?? [], as: UTF8.self) == #"{"parameter":"name"}"#)
        let mistyped = try call(#"{"method":"io.modload.Host.Unload","parameters":{"name":"solo","mode":"gently"}}"#)
        #expect(mistyped?.error == "org.varlink.service.InvalidParameter")
        #expect(String(decoding: mistyped?.parameters ?? [], as: UTF8.self) == #"{"parameter":"mode"}"#)
        let both = try call(#"{"method":"io.modload.Host.Load","parameters":{"name":"solo","file":"/x"}}"#)
        #expect(both?.error == "io.modload.Host.InvalidArgument")
        let relative = try call(#"{"method":"io.modload.Host.Load","parameters":{"file":"kernel/solo.so"}}"#)
        #expect(relative?.error == "io.modload.Host.InvalidArgument")
        #expect(try call(#"{"method":"io.modload.Host.Monitor"}"#)?.error == "org.varlink.service.InvalidParameter")
        // A Monitor stream with parameters it does not take is refused before it opens; the
        // connection goes on.
        do {
            let connection = try ControlConnection(socketPath: daemon.socket, timeout: .seconds(30))
            try connection.sendRaw(Array(#"{"method":"io.modload.Host.Monitor","more":true,"parameters":{"since":1}}"#.utf8) + [0])
            let refused = try connection.receiveReply()
            #expect(refused.error == "org.varlink.service.InvalidParameter" && !refused.continues)
            #expect(String(decoding: refused.parameters, as: UTF8.self) == #"{"parameter":"since"}"#)
            #expect(try connection.call("io.modload.Host.Statistics", HostInterface.NoParameters(), returning: HostInterface.StatisticsReply.self).liveModules == 1)
        }
        // A oneway call gets no reply; the next call on the connection still does.
        do {
            let connection = try ControlConnection(socketPath: daemon.socket, timeout: .seconds(30))
            try connection.sendRaw(Array(#"{"method":"io.modload.Host.List","oneway":true}"#.utf8) + [0])
            #expect(try connection.call("io.modload.Host.Statistics", HostInterface.NoParameters(), returning: HostInterface.StatisticsReply.self).liveModules == 1)
        }
        // Pipelined calls are answered in order.
        do {
            let connection = try ControlConnection(socketPath: daemon.socket, timeout: .seconds(30))
            try connection.sendRaw(
                Array(#"{"method":"io.modload.Host.Info","parameters":{"name":"solo"}}"#.utf8) + [0]
                    + Array(#"{"method":"io.modload.Host.Info","parameters":{"name":"nope"}}"#.utf8) + [0])
            #expect(try connection.receiveReply().error == nil)
            #expect(try connection.receiveReply().error == "io.modload.Host.NotFound")
        }
        // A client that leaves mid-stream, and one that leaves mid-call (a drain it will not wait for).
        do {
            let connection = try ControlConnection(socketPath: daemon.socket, timeout: .seconds(30))
            try connection.sendRaw(Array(#"{"method":"io.modload.Host.Monitor","more":true}"#.utf8) + [0])
            #expect(try connection.receiveReply().continues)
            connection.close()
            let caller = try ControlConnection(socketPath: daemon.socket, timeout: .seconds(30))
            try caller.sendRaw(Array(#"{"method":"io.modload.Host.Load","parameters":{"name":"mid","parameters":"delay_ms=300"}}"#.utf8) + [0])
            caller.close()
        }
        // A thousand idle connections: the daemon still answers a new one.
        var idle: [ControlConnection] = []
        for _ in 0..<1_000 { idle.append(try ControlConnection(socketPath: daemon.socket)) }
        let client = try daemon.client()
        // Connected is not yet accepted: wait (bounded) until the daemon has taken every one.
        var open = 0
        for _ in 0..<3_000 {
            open = try client.statistics().connections
            if open >= 1_001 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(open >= 1_001, "the daemon accepted \(open - 1) of the 1,000 idle connections")
        #expect(try client.info("solo").state == "live")
        for connection in idle { connection.close() }
        idle.removeAll()

        // Still serving, nothing changed but the abandoned load (which ran to its end).
        let after = try client.list()
        #expect(after.filter { $0.name == "solo" } == before.filter { $0.name == "solo" })
        #expect(Set(after.map(\.name)).isSubset(of: ["solo", "mid", "base"]), "\(after.map(\.name))")
        #expect(daemon.isRunning)
        #expect(daemon.log.contains("closed a connection: a message that is not one JSON object"), "\(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }

    @Test("Python's varlink client: GetInfo, GetInterfaceDescription, List, Load and Unload of a module file, Monitor")
    func pythonClient() async throws {
        let tree = try await DaemonTests.tree()
        let daemon = try await DaemonProcess(root: tree.root)
        let script = """
            import sys, varlink
            socket, path = sys.argv[1], sys.argv[2]
            with varlink.Client(address="unix:" + socket) as client:
                with client.open("org.varlink.service") as service:
                    info = service.GetInfo()
                    assert info["interfaces"] == ["org.varlink.service", "io.modload.Host"], info
                    description = service.GetInterfaceDescription("io.modload.Host")["description"]
                    assert description.startswith("# The module host"), description[:80]
                with client.open("io.modload.Host", namespaced=True) as host:
                    assert [m.name for m in host.List().modules] == ["solo"]
                    # insmod: a file (no dependencies resolved, as kmod's insmod).
                    assert host.Unload(name="solo").removed == ["solo"]
                    loaded = host.Load(file=path, parameters="delay_ms=1")
                    assert loaded.module == "solo" and loaded.how == "loaded", loaded
                    # modprobe: a name, with its dependencies.
                    assert host.Load(name="top").how == "loaded"
                    names = sorted(m.name for m in host.List().modules)
                    assert names == ["base", "mid", "solo", "top"], names
                    try:
                        host.Unload(name="mid")
                        raise AssertionError("mid is used by top")
                    except varlink.VarlinkError as error:
                        assert error.error() == "io.modload.Host.WouldBlock", error.error()
                        assert error.parameters()["holders"]["dependents"] == ["top"], error.parameters()
                    assert host.Unload(name="top").removed == ["top"]
                    assert host.Unload(name="mid", removeUnused=True).removed == ["mid", "base"]
                    for reply in host.Monitor(_more=True):
                        assert reply.get("event") is None, reply
                        break
            print("python varlink: ok")
            """
        let file = "\(daemon.folder)/client.py"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await Programs.run("/usr/bin/env", ["python3", file, daemon.socket, "\(tree.root)/kernel/solo.so"])
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        #expect(run.standardOutput == "python varlink: ok\n", "\(run.standardError)")
        #expect(try await daemon.stop() == 0)
    }

    @Test("Python's varlink client and the verbs: Load all or nothing, Replace with a rebuilt file, Refresh, lsmod's generations")
    func setsAndReplace() async throws {
        let tree = try await DaemonTests.tree()
        // A rebuilt copy of mid, for the replace.
        let rebuilt = try await tree.module("mid", at: "updates/mid-rebuilt.so", exports: ["mid_fn"], imports: ["base_fn"])
        let daemon = try await DaemonProcess(root: tree.root)
        let script = """
            import sys, time, varlink
            socket, rebuilt = sys.argv[1], sys.argv[2]
            with varlink.Client(address="unix:" + socket) as client:
                with client.open("io.modload.Host", namespaced=True) as host:
                    # A set with a member nothing provides: every error, nothing loaded.
                    try:
                        host.Load(names=["top", "nosuch"], allOrNothing=True)
                        raise AssertionError("nosuch is not in the repository")
                    except varlink.VarlinkError as error:
                        assert error.error() == "io.modload.Host.NotFound", error.error()
                        members = error.parameters()["memberErrors"]
                        assert [m["module"] for m in members] == ["nosuch"], members
                    assert [m.name for m in host.List().modules] == ["solo"]
                    # top with its closure, as one set.
                    loaded = host.Load(name="top", allOrNothing=True)
                    assert [(m.module, m.how) for m in loaded.members] == [("base", "loaded"), ("mid", "loaded"), ("top", "loaded")], loaded
                    # What top's closure brought is a dependency (modprobe -r takes it with top).
                    origin = {m.name: m.loadedAsDependency for m in host.List().modules}
                    assert origin == {"base": True, "mid": True, "top": False, "solo": False}, origin
                    # Replace mid while top is bound to it: mid 1 stays old, pinned by top.
                    replaced = host.Replace(name="mid", file=rebuilt, drainTimeoutMs=50)
                    assert (replaced.generation, replaced.previous) == (2, "old"), replaced
                    assert replaced.holders.dependents == ["top"], replaced.holders
                    listed = [(m.name, m.generation, m.state) for m in host.List().modules if m.name == "mid"]
                    assert listed == [("mid", 2, "live"), ("mid", 1, "old")], listed
                    # A third generation while the old one drains: not purged.
                    try:
                        host.Replace(name="mid")
                        raise AssertionError("mid 1 still drains")
                    except varlink.VarlinkError as error:
                        assert error.error() == "io.modload.Host.NotPurged", error.error()
                    assert host.Refresh(names=["mid"]).refreshed == ["top"]
                    for _ in range(500):
                        if [m.generation for m in host.List().modules if m.name == "mid"] == [2]: break
                        time.sleep(0.01)
                    assert [m.generation for m in host.List().modules if m.name == "mid"] == [2]
                    # Back to the repository's file, refreshing top as part of the replace.
                    again = host.Replace(name="mid", refreshDependents=True)
                    assert (again.generation, again.previous, again.refreshed) == (3, "gone", ["top"]), again
            print("python varlink: ok")
            """
        let file = "\(daemon.folder)/client.py"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await Programs.run("/usr/bin/env", ["python3", file, daemon.socket, rebuilt])
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        #expect(run.standardOutput == "python varlink: ok\n", "\(run.standardError)")

        // The verbs: a replace that leaves the old generation held, lsmod's generations, refresh.
        var verb = try await daemon.verb("replace", ["mid", rebuilt, "--drain-timeout", "0.05"])
        #expect(verb.status == 0, "\(verb.standardError)")
        #expect(verb.standardOutput.contains("mid: generation 4 is live (replaced generation 3)"), "\(verb.standardOutput)")
        #expect(verb.standardOutput.contains("generation 3 is still old, held by modules bound to it: top"), "\(verb.standardOutput)")
        verb = try await daemon.verb("lsmod")
        #expect(verb.standardOutput.contains(" [generation 4]\n"), "\(verb.standardOutput)")
        #expect(verb.standardOutput.contains("top [old, generation 3]\n"), "\(verb.standardOutput)")
        verb = try await daemon.verb("refresh", ["mid"])
        #expect(verb.standardOutput == "refreshed: top\n", "\(verb.standardOutput)\(verb.standardError)")
        verb = try await daemon.verb("modprobe", ["--all-or-nothing", "solo", "nosuch"])
        #expect(verb.status == 1)
        #expect(verb.standardError.contains("nothing was loaded"), "\(verb.standardError)")
        verb = try await daemon.verb("replace", ["nosuch", rebuilt])
        #expect(verb.status == 1)
        #expect(verb.standardError.contains("could not replace 'nosuch'"), "\(verb.standardError)")
        #expect(try await daemon.stop() == 0)
    }

    @Test("200 clients × 100 mixed calls at once, on real threads: every answer checked, counts and final state agree")
    func concurrentClients() async throws {
        // Under a sanitizer (CI's second and third runs, the daemon built with it too) 50 × 40:
        // the same interleavings at a quarter of the clients, without starving the suites running
        // beside it; the plain run is the full 200 × 100.
        let (clients, calls) = Stress.sanitizer == nil ? (200, 100) : (50, 40)
        Self.allowFiles(4096)
        let tree = try ModuleTree()
        let names = (0..<10).map { "m\($0)" }
        for name in names { try await tree.module(name) }
        let root = try ModuleRoot(tree.root)
        try Depmod.run(root).index.write(to: root)
        let daemon = try await DaemonProcess(root: tree.root)
        let socket = daemon.socket

        /// What one thread saw: per module, loads it ran and unloads that succeeded; and problems.
        final class Tally: @unchecked Sendable {  // each thread writes its own slot
            var loaded: [String: Int] = [:]
            var unloaded: [String: Int] = [:]
            var problems: [String] = []
        }
        let tallies = (0..<clients).map { _ in Tally() }
        await onThreads(clients, timeout: .seconds(300)) { thread in
            let tally = tallies[thread]
            var random = SystemRandomNumberGenerator()
            guard let client = try? HostClient(socketPath: socket, timeout: .seconds(120)) else {
                tally.problems.append("thread \(thread): cannot connect")
                return
            }
            for step in 0..<calls {
                let name = names.randomElement(using: &random)!
                do {
                    switch step % 5 {
                    case 0:
                        let reply = try client.load(HostInterface.LoadParameters(name: name))
                        guard reply.module == name, ["loaded", "joined", "alreadyLive"].contains(reply.how) else {
                            tally.problems.append("Load \(name): \(reply)")
                            break
                        }
                        if reply.how == "loaded" { tally.loaded[name, default: 0] += 1 }
                    case 1:
                        let removed = try client.unload(HostInterface.UnloadParameters(name: name))
                        guard removed == [name] else {
                            tally.problems.append("Unload \(name): removed \(removed)")
                            break
                        }
                        tally.unloaded[name, default: 0] += 1
                    case 2:
                        let modules = try client.list()
                        if let bad = modules.first(where: { !names.contains($0.name) || !["coming", "live", "going"].contains($0.state) }) {
                            tally.problems.append("List: \(bad)")
                        }
                    case 3:
                        // Two calls pipelined on the connection: answered in order.
                        let connection = client.connection
                        try connection.sendRaw(
                            Array("{\"method\":\"io.modload.Host.Holders\",\"parameters\":{\"name\":\"\(name)\"}}".utf8) + [0]
                                + Array(#"{"method":"io.modload.Host.Statistics"}"#.utf8) + [0])
                        let first = try connection.receiveReply()
                        let second = try connection.receiveReply()
                        if let error = first.error, error != "io.modload.Host.NotFound" { tally.problems.append("Holders \(name): \(error)") }
                        if first.error == nil, (try? first.decodeParameters(HostInterface.HoldersReply.self))?.holders.module != name {
                            tally.problems.append("Holders \(name) answered with something else")
                        }
                        if second.error != nil || (try? second.decodeParameters(HostInterface.StatisticsReply.self)) == nil {
                            tally.problems.append("Statistics answered with something else (pipelining out of order?)")
                        }
                    default:
                        _ = try client.info(name)
                    }
                } catch let error as ControlError {
                    // The refusals a concurrent Load/Unload mix may meet, and nothing else.
                    let code = error.hostError?.code
                    let expected: Set<String> =
                        switch step % 5 {
                        case 0: ["busy"]  // being unloaded right now
                        case 1: ["notFound", "busy"]  // not loaded, or loading or unloading now
                        default: ["notFound"]
                        }
                    if error.code != .remote || !expected.contains(code ?? "") {
                        tally.problems.append("step \(step) on \(name): \(error.code) \(code ?? "") \(error.reason)")
                    }
                } catch {
                    tally.problems.append("step \(step) on \(name): \(error)")
                }
            }
        }
        let problems = tallies.flatMap(\.problems)
        #expect(problems.isEmpty, "\(problems.count) wrong answers, first: \(problems.prefix(5))")

        // The daemon's counts agree with what the clients were told, name by name, and what is
        // live is exactly what was loaded more often than unloaded.
        let client = try daemon.client()
        let stats = try client.statistics()
        let live = Set(try client.list().filter { $0.state == "live" }.map(\.name))
        for name in names {
            let loads = tallies.reduce(0) { $0 + $1.loaded[name, default: 0] }
            let unloads = tallies.reduce(0) { $0 + $1.unloaded[name, default: 0] }
            let counts = stats.modules.first { $0.name == name }
            #expect(counts?.loads == loads, "\(name): the daemon counted \(counts?.loads ?? 0) loads, clients were told \(loads)")
            #expect(counts?.unloads == unloads, "\(name): \(counts?.unloads ?? 0) unloads counted, \(unloads) told")
            #expect(counts?.initCalls == loads, "\(name): one init per load")
            #expect(live.contains(name) == (loads - unloads == 1), "\(name): \(loads) loads, \(unloads) unloads, live: \(live.contains(name))")
        }
        #expect(stats.connections == 1, "every client's connection was closed and counted out")
        #expect(try await daemon.stop() == 0)
    }

    @Test("the Prometheus endpoint: GET /metrics has the host's counters after a load; anything else is 404")
    func metrics() async throws {
        let tree = try await DaemonTests.tree()
        // A free port: bind port 0, read it, close it, hand it over.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)
        let daemon = try await DaemonProcess(root: tree.root, ["--metrics", "127.0.0.1:\(port)"])
        _ = try daemon.client().load(HostInterface.LoadParameters(name: "top"))

        func get(_ path: String) -> String {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_port = UInt16(port).bigEndian
            target.sin_addr.s_addr = inet_addr("127.0.0.1")
            var limit = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { return "" }
            let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var response: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                response += chunk[..<count]
            }
            return String(decoding: response, as: UTF8.self)
        }
        let page = get("/metrics")
        #expect(page.hasPrefix("HTTP/1.1 200 OK"), "\(page.prefix(200))")
        // solo at start, then base, mid and top.
        #expect(page.contains("\nmodload_loads_total 4\r\n") || page.contains("\nmodload_loads_total 4\n"), "\(page)")
        #expect(page.contains("\nmodload_live_modules 4"), "\(page)")
        #expect(page.contains("modload_init_duration_seconds"), "\(page)")
        #expect(get("/other").hasPrefix("HTTP/1.1 404"))
        #expect(try await daemon.stop() == 0)
    }
}
