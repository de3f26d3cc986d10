import Logging
import ModloadControl
import NIOCore
import Synchronization

/// One client connection: its calls answered in order, as varlink requires.
///
/// 1. **Read** one message at a time (``FrameDecoder``); a message that is not a varlink call
///    (not UTF-8, not JSON, no method) ends the connection — logged, with nothing run — since
///    nothing after it can be trusted either.
/// 2. **Answer** it (``Methods``), unless it is `oneway`. The connection's task runs on the
///    event loop of its channel (``EventLoopTaskExecutor``), so a call that only reads the host's
///    table — List, Info, Holders, Statistics, `org.varlink.service` — is read, answered and
///    written on one thread. A call that may block or wait (Load, Unload, and Resolve and Plan,
///    which may read the repository's files) runs on the global concurrent executor instead.
/// 3. **Stream** Monitor with `more`: the first reply (no event) says the subscription is open;
///    each event follows as its own reply. The stream runs until the client sends another call
///    (which ends it and is answered) or closes the connection.
/// 4. **Close** when the client closes, on a protocol error, or at shutdown (the task is
///    cancelled). Nothing a client sends or fails to send outlives its connection.
struct Connection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    let peer: PeerCredentials
    let methods: Methods

    func serve() async {
        let logger = methods.logger
        do {
            try await withTaskExecutorPreference(EventLoopTaskExecutor(channel.channel.eventLoop)) {
                try await channel.executeThenClose { inbound, outbound in
                    // The open stream, if any: a task of its own, since reading goes on beside it.
                    let stream = StreamSlot()
                    defer { stream.end() }
                    try await withTaskCancellationHandler {
                        // 1. Read.
                        for try await frame in inbound {
                            await stream.endAndWait()
                            let call: VarlinkCall
                            do throws(VarlinkProtocolError) {
                                call = try VarlinkCall.decode(frame.readableBytesView)
                            } catch {
                                logger.notice("closed a connection: \(error)", metadata: ["peer.uid": "\(peer.uid)", "peer.pid": "\(peer.pid)"])
                                return
                            }
                            // 3. Stream.
                            if methods.isMonitorStream(call) {
                                if let refusal = methods.refusal(ofMonitor: call) {
                                    try await outbound.write(ByteBuffer(bytes: refusal))
                                    continue
                                }
                                let events = methods.host.events()
                                stream.start {
                                    try await outbound.write(ByteBuffer(bytes: VarlinkReply.encode(HostInterface.MonitorReply(event: nil), continues: true)))
                                    for await event in events {
                                        let reply = HostInterface.MonitorReply(event: HostInterface.Event(event))
                                        try await outbound.write(ByteBuffer(bytes: VarlinkReply.encode(reply, continues: true)))
                                    }
                                }
                                continue
                            }
                            // 2. Answer.
                            let reply =
                                methods.isTableRead(call)
                                ? await methods.answer(call, from: peer)
                                : await withTaskExecutorPreference(globalConcurrentExecutor) { await methods.answer(call, from: peer) }
                            if !call.oneway { try await outbound.write(ByteBuffer(bytes: reply)) }
                        }
                        // 4. The client closed: its stream ends (the defer).
                    } onCancel: {
                        stream.end()
                    }
                }
            }
        } catch is CancellationError {
        } catch {
            logger.debug("connection ended: \(error)", metadata: ["peer.uid": "\(peer.uid)", "peer.pid": "\(peer.pid)"])
        }
    }
}

/// A connection's one open stream: started, ended by the next call, the client's close or
/// shutdown. Lock rule: the mutex guards only the task handle; cancelling runs outside it.
private final class StreamSlot: Sendable {
    private let task = Mutex<Task<Void, any Error>?>(nil)

    func start(_ body: @escaping @Sendable () async throws -> Void) {
        let started = Task { try await body() }
        task.withLock { $0 = started }
    }

    /// Cancels the stream (no wait).
    func end() {
        task.withLock { $0 }?.cancel()
    }

    /// Cancels the stream and waits until it has stopped writing.
    func endAndWait() async {
        guard let open = task.withLock({ current in defer { current = nil }; return current }) else { return }
        open.cancel()
        _ = await open.result
    }
}
