#if canImport(Glibc)
import Glibc
#endif
import CModloadLimits
import Foundation
import ModloadControl
import ModloadExampleBuilder
import ModloadRepository
import Synchronization

/// `modload bench control`: a real `modload daemon` (this executable, in a process of its own)
/// on a Unix socket, measured from clients on POSIX threads.
///
/// 1. **List** of 100 live modules, one client, p50/p99 — the round trip of the bytes (call out,
///    reply in, framed) and, in a loop of its own, with the client's decoding of the reply — each
///    call back to back, as the baseline's are — against a raw
///    Unix-socket ping-pong of the same bytes in the same run: in C, a client and an echo server
///    in another process on a socket bound at a path, as the daemon is (the baseline the target
///    is held to: p50 and p99 ≤ 3× raw); and, for reference, the same within this process (a
///    socketpair and an echo thread), which saves the switch between address spaces.
/// 2. **Burst**: 500 clients, connected and released at once, each asking Load of one module
///    file (same parameters: one file version, one merged load) whose init sleeps 50 ms: exactly
///    one init; the wall time; and when the last answer arrived after the init ended (the module
///    writes its end time, CLOCK_MONOTONIC, to a file: the same clock in both processes).
/// 3. **Soak**: rounds of 200 clients × 100 mixed calls (Load/Unload of 10 modules, List, Info,
///    Statistics), the daemon's resident memory and open descriptors after each round: flat
///    means no leak per connection or per load.
public enum ControlBench {
    public struct Report: Codable, Sendable {
        public var scenario = "control"
        public let machine: Machine
        public let list: ListFigures
        public let burst: BurstFigures
        public let soak: [SoakRound]
    }

    public struct ListFigures: Codable, Sendable {
        public let modules: Int
        public let calls: Int
        /// The call's and the reply's size on the wire.
        public let callBytes: Int
        public let replyBytes: Int
        /// Round trip of the bytes through the daemon (µs).
        public let modload: Distribution
        /// The same, with the client decoding the reply into Swift values (µs).
        public let modloadDecoded: Distribution
        /// Raw ping-pong of the same bytes with another process on a Unix socket (µs, C).
        public let raw: Distribution
        /// Raw ping-pong of the same bytes on a socketpair with a thread of this process (µs).
        public let rawInProcess: Distribution
        public var ratioP50: Double { modload.median / raw.median }
        public var ratioP99: Double { modload.p99 / raw.p99 }
    }

    public struct BurstFigures: Codable, Sendable {
        public let clients: Int
        public let initMs: Int
        /// Init calls the daemon counted, and the times the module's init wrote its end time.
        public let initCalls: Int
        public let stamps: Int
        /// Answers by `how` (`loaded`, `joined`, `alreadyLive`) and failures.
        public let answers: [String: Int]
        public let failures: Int
        /// Each distinct failure, with how many clients met it.
        public let failureReasons: [String: Int]
        /// Release to the last answer (ms).
        public let wallMs: Double
        /// The last answer's arrival after the init ended (ms).
        public let lastAnswerAfterInitMs: Double
    }

    public struct SoakRound: Codable, Sendable {
        public let round: Int
        public let clients: Int
        public let calls: Int
        /// Calls answered with an error other than the documented refusals of a Load/Unload race.
        public let unexpected: Int
        public let rssKiB: Int
        public let openFiles: Int
    }

    public static func run(quick: Bool, modload: String) async throws -> Report {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-bench-control-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: "\(folder)/kernel", withIntermediateDirectories: true)
        // One compile, a hundred copies with their own names: the fixture's name is in its metadata,
        // so each copy is compiled (100 small C files: a few seconds).
        for index in 0..<100 { try await place(ExampleBuilder.fixtureSource(name: String(format: "m%03d", index)), in: folder, as: String(format: "m%03d", index)) }
        try await place(ExampleBuilder.fixtureSource(name: "burst"), in: folder, as: "burst")
        let root = try ModuleRoot(folder)
        try Depmod.run(root).index.write(to: root)

        let daemon = try DaemonChild(modload: modload, root: folder)
        defer { daemon.stop() }
        let setup = try HostClient(socketPath: daemon.socket, timeout: .seconds(120))
        for index in 0..<100 { _ = try setup.load(HostInterface.LoadParameters(name: String(format: "m%03d", index))) }

        let list = try measureList(socket: daemon.socket, calls: quick ? 200 : 5_000)
        let burst = try measureBurst(socket: daemon.socket, file: "\(folder)/kernel/burst.so", stamp: "\(folder)/burst.stamp", clients: quick ? 50 : 500)
        var soak: [SoakRound] = []
        for round in 1...(quick ? 2 : 10) {
            soak.append(runSoakRound(round, socket: daemon.socket, pid: daemon.pid, clients: quick ? 20 : 200, calls: quick ? 20 : 100))
        }
        return Report(machine: .current, list: list, burst: burst, soak: soak)
    }

    // MARK: 1. List

    private static func measureList(socket: String, calls: Int) throws -> ListFigures {
        let connection = try ControlConnection(socketPath: socket, timeout: .seconds(60))
        let call = try VarlinkCall(method: HostInterface.Method.list.qualifiedName, parameters: HostInterface.NoParameters()).encoded()
        let client = try HostClient(socketPath: socket, timeout: .seconds(60))
        // The reply's bytes, for the raw baseline: one call read frame by frame.
        try connection.sendRaw(call)
        let replyBytes = try connection.receiveFrame() + [0]
        var modload: [Double] = []
        var decoded: [Double] = []
        // Back to back, as the baseline is: the bytes' round trips in one loop, the decoded ones in
        // another (interleaved, a decode's 30 KB of garbage would evict what the next call reads).
        for _ in 0..<calls {
            let start = nowNanoseconds()
            try connection.sendRaw(call)
            _ = try connection.receiveFrame()
            modload.append(Double(nowNanoseconds() - start) / 1e3)
        }
        for _ in 0..<calls {
            let start = nowNanoseconds()
            let modules = try client.list()
            decoded.append(Double(nowNanoseconds() - start) / 1e3)
            precondition(modules.count == 100, "bench control: List returned \(modules.count) modules")
        }
        return ListFigures(
            modules: 100, calls: calls, callBytes: call.count, replyBytes: replyBytes.count, modload: Distribution(modload),
            modloadDecoded: Distribution(decoded), raw: Distribution(try processPingPong(socket: socket + ".raw", call: call, reply: replyBytes, calls: calls)),
            rawInProcess: Distribution(rawPingPong(call: call, reply: replyBytes, calls: calls)))
    }

    /// The baseline: the same bytes with an echo server in another process (C).
    private static func processPingPong(socket: String, call: [UInt8], reply: [UInt8], calls: Int) throws -> [Double] {
        var samples = [Double](repeating: 0, count: calls)
        let status = call.withUnsafeBufferPointer { call in
            reply.withUnsafeBufferPointer { reply in
                call.withMemoryRebound(to: CChar.self) { call in
                    reply.withMemoryRebound(to: CChar.self) { reply in
                        ml_limit_socket_pingpong_us(socket, call.baseAddress, call.count, reply.baseAddress, reply.count, Int32(calls), &samples)
                    }
                }
            }
        }
        guard status == 0 else { throw BenchFailure("bench control: the raw ping-pong on \(socket) could not run") }
        return samples
    }

    /// The in-process reference: the same bytes over a socketpair, answered by an echo thread that
    /// reads up to the call's NUL and writes the reply.
    private static func rawPingPong(call: [UInt8], reply: [UInt8], calls: Int) -> [Double] {
        var pair: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        let (near, far) = (pair[0], pair[1])
        let server = BenchThread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                var seen = false
                while !seen {
                    let count = buffer.withUnsafeMutableBytes { recv(far, $0.baseAddress, $0.count, 0) }
                    if count <= 0 { return }
                    seen = buffer[..<count].contains(0)
                }
                guard writeAll(far, reply) else { return }
            }
        }
        var samples: [Double] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        for _ in 0..<calls {
            let start = nowNanoseconds()
            _ = writeAll(near, call)
            var received = 0
            while received < reply.count {
                let count = buffer.withUnsafeMutableBytes { recv(near, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                received += count
            }
            samples.append(Double(nowNanoseconds() - start) / 1e3)
        }
        shutdown(near, Int32(SHUT_RDWR))
        server.join()
        close(near)
        close(far)
        return samples
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    // MARK: 2. Burst

    private static func measureBurst(socket: String, file: String, stamp: String, clients: Int) throws -> BurstFigures {
        let initMs = 50
        let request = HostInterface.LoadParameters(file: file, parameters: "delay_ms=\(initMs) stamp=\(stamp)")
        let gate = StartGate(count: clients + 1)
        let answers = Mutex<(how: [String: Int], failures: [String: Int], last: UInt64)>(([:], [:], 0))
        let threads = (0..<clients).map { _ in
            BenchThread(stackSize: 256 * 1024) {
                let client = Result { () throws(ControlError) in try HostClient(socketPath: socket, timeout: .seconds(120)) }
                gate.arriveAndWait()
                let outcome = client.flatMap { client in Result { () throws(ControlError) in try client.load(request) } }
                let now = nowNanoseconds()
                answers.withLock {
                    switch outcome {
                    case .success(let outcome): $0.how[outcome.how, default: 0] += 1
                    case .failure(let error): $0.failures[error.reason, default: 0] += 1
                    }
                    $0.last = max($0.last, now)
                }
            }
        }
        gate.arriveAndWait()
        let released = nowNanoseconds()
        for thread in threads { thread.join() }
        let (how, failures, last) = answers.withLock { ($0.how, $0.failures, $0.last) }
        let stamps = ((try? String(contentsOfFile: stamp, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { UInt64($0) }
        let initCalls = (try? HostClient(socketPath: socket, timeout: .seconds(60)).statistics().modules.first { $0.name == "burst" }?.initCalls) ?? nil
        let ended = stamps.max() ?? last
        return BurstFigures(
            clients: clients, initMs: initMs, initCalls: initCalls ?? -1, stamps: stamps.count, answers: how, failures: failures.values.reduce(0, +),
            failureReasons: failures,
            wallMs: Double(last - released) / 1e6, lastAnswerAfterInitMs: (Double(last) - Double(ended)) / 1e6)
    }

    // MARK: 3. Soak

    private static func runSoakRound(_ round: Int, socket: String, pid: Int32, clients: Int, calls: Int) -> SoakRound {
        let names = (0..<10).map { String(format: "m%03d", $0) }
        let unexpected = Atomic<Int>(0)
        let threads = (0..<clients).map { thread in
            BenchThread(stackSize: 256 * 1024) {
                guard let client = try? HostClient(socketPath: socket, timeout: .seconds(120)) else {
                    unexpected.add(1, ordering: .relaxed)
                    return
                }
                for step in 0..<calls {
                    let name = names[(thread * 7 + step * 3) % names.count]
                    do throws(ControlError) {
                        switch step % 5 {
                        case 0: _ = try client.load(HostInterface.LoadParameters(name: name))
                        case 1: _ = try client.unload(HostInterface.UnloadParameters(name: name))
                        case 2: _ = try client.list()
                        case 3: _ = try client.statistics()
                        default: _ = try client.info(name)
                        }
                    } catch {
                        // The refusals a Load/Unload race meets are answers too; anything else is not.
                        if !["notFound", "busy"].contains(error.hostError?.code ?? "") { unexpected.add(1, ordering: .relaxed) }
                    }
                }
            }
        }
        for thread in threads { thread.join() }
        // Every module of the churn back, so each round starts alike.
        if let client = try? HostClient(socketPath: socket, timeout: .seconds(60)) {
            for name in names { _ = try? client.load(HostInterface.LoadParameters(name: name)) }
        }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.flatMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        } ?? -1
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
        return SoakRound(round: round, clients: clients, calls: clients * calls, unexpected: unexpected.load(ordering: .relaxed), rssKiB: rss, openFiles: files)
    }

    private static func place(_ source: String, in folder: String, as name: String) async throws {
        let built = try await ExampleBuilder.shared.compile(cSource: source, named: "bench-control-\(getpid())-\(name).so")
        try FileManager.default.moveItem(atPath: built, toPath: "\(folder)/kernel/\(name).so")
    }

    public static func render(_ r: Report) -> String {
        let l = r.list
        var text = "control — a real modload daemon on a Unix socket, clients on POSIX threads:\n"
        text += String(format: "  List of %d modules (%d-byte reply), %d calls:\n", l.modules, l.replyBytes, l.calls)
        text += String(format: "    round trip   p50 %8.1f µs   p99 %8.1f µs\n", l.modload.median, l.modload.p99)
        text += String(format: "    raw socket   p50 %8.1f µs   p99 %8.1f µs   ratio p50 %.2f× p99 %.2f×   target ≤ 3×   (C, echo in another process)\n", l.raw.median, l.raw.p99, l.ratioP50, l.ratioP99)
        text += String(format: "    in-process   p50 %8.1f µs   p99 %8.1f µs   ratio p50 %.2f× p99 %.2f×   (socketpair, echo thread)\n", l.rawInProcess.median, l.rawInProcess.p99, l.modload.median / l.rawInProcess.median, l.modload.p99 / l.rawInProcess.p99)
        text += String(format: "    decoded      p50 %8.1f µs   p99 %8.1f µs   (the client also turns the reply into Swift values)\n", l.modloadDecoded.median, l.modloadDecoded.p99)
        let b = r.burst
        text += String(format: "  %d clients at once Load one module file (init %d ms): %d init (%d stamp), answers %@, %d failed\n",
            b.clients, b.initMs, b.initCalls, b.stamps, b.answers.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "), b.failures)
        text += String(format: "    wall %.2f ms   last answer %.2f ms after the init ended\n", b.wallMs, b.lastAnswerAfterInitMs)
        for (reason, count) in b.failureReasons.sorted(by: { $0.value > $1.value }) { text += "    failed \(count)×: \(reason)\n" }
        text += "  soak (daemon after each round):\n"
        for s in r.soak {
            text += String(format: "    round %2d  %6d calls  %d unexpected  RSS %6d KiB  open files %d\n", s.round, s.calls, s.unexpected, s.rssKiB, s.openFiles)
        }
        return text
    }
}

/// A `modload daemon` child process for the benchmark, stopped with SIGTERM.
private final class DaemonChild: @unchecked Sendable {
    let socket: String
    let pid: Int32
    private let process: Process

    init(modload: String, root: String) throws {
        socket = "\(root)/control.sock"
        process = Process()
        process.executableURL = URL(fileURLWithPath: modload)
        process.arguments = [
            "daemon", "--socket", socket, "-b", root, "-C", "\(root)/modprobe.d", "--modules-load", "\(root)/modules-load.d",
            "--log-level", "error",
        ]
        try process.run()
        pid = process.processIdentifier
        for _ in 0..<3_000 {
            if (try? HostClient(socketPath: socket, timeout: .seconds(10)).statistics()) != nil { return }
            if !process.isRunning { break }
            usleep(10_000)
        }
        process.terminate()
        throw BenchFailure("bench control: the daemon (\(modload) daemon --socket \(socket)) did not start")
    }

    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        process.waitUntilExit()
    }
}

/// Releases a fixed number of threads at once (a pthread barrier).
private final class StartGate: @unchecked Sendable {  // the barrier is what synchronizes
    private let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    init(count: Int) { pthread_barrier_init(barrier, nil, UInt32(count)) }
    deinit {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }
    func arriveAndWait() { pthread_barrier_wait(barrier) }
}

/// A benchmark that cannot run, and why.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
