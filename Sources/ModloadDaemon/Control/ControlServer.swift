#if canImport(Glibc)
import Glibc
#endif
import Logging
import ModloadControl
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The control socket's server: accepts connections and serves each (``Connection``) in a task of
/// its own, until shutdown.
///
/// 1. **Bind** (``bind(_:methods:)``, before the daemon reports ready): the socket file made ready
///    (``SocketFile``: a stale one replaced, a live daemon an error), bound, given its mode and
///    group.
/// 2. **Accept**: each connection's peer credentials are read as it is accepted (`SO_PEERCRED`);
///    past ``DaemonConfiguration/maximumConnections`` a connection is closed at once.
/// 3. **Shutdown** (graceful, first of the daemon's services): the listening socket closes — no
///    new connections — then every open connection is ended, and the socket file removed.
final class ControlServer: Service {
    private let listener: NIOAsyncChannel<(PeerCredentials, NIOAsyncChannel<ByteBuffer, ByteBuffer>), Never>
    private let methods: Methods
    private let path: String
    private let maximumConnections: Int

    private init(
        listener: NIOAsyncChannel<(PeerCredentials, NIOAsyncChannel<ByteBuffer, ByteBuffer>), Never>, methods: Methods, path: String,
        maximumConnections: Int
    ) {
        self.listener = listener
        self.methods = methods
        self.path = path
        self.maximumConnections = maximumConnections
    }

    /// 1. Binds the socket of `configuration`.
    static func bind(_ configuration: DaemonConfiguration, methods: Methods) async throws(DaemonError) -> ControlServer {
        let path = configuration.socketPath
        guard path.utf8.count <= ControlSocket.maximumPathLength else {
            throw DaemonError(.socket, reason: "\(path): a socket path is at most \(ControlSocket.maximumPathLength) bytes")
        }
        try SocketFile.prepare(path)
        let limit = configuration.maximumMessageSize
        let listener: NIOAsyncChannel<(PeerCredentials, NIOAsyncChannel<ByteBuffer, ByteBuffer>), Never>
        do {
            listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 1024)
                .bind(unixDomainSocketPath: path) { channel in
                    PeerCredentials.of(channel).flatMapThrowing { peer in
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
                        return (peer, try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel))
                    }
                }
        } catch {
            throw DaemonError(.socket, reason: "cannot listen on \(path): \(error)")
        }
        try SocketFile.restrict(path, mode: configuration.effectiveSocketMode, group: configuration.allowedGroup)
        return ControlServer(listener: listener, methods: methods, path: path, maximumConnections: configuration.maximumConnections)
    }

    func run() async throws {
        let methods = methods
        let maximum = maximumConnections
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { connections in
                try await listener.executeThenClose { inbound in
                    // 2. Accept.
                    for try await (peer, channel) in inbound {
                        guard methods.connections.add(1, ordering: .relaxed).newValue <= maximum else {
                            methods.connections.subtract(1, ordering: .relaxed)
                            methods.logger.warning("closed a connection: \(maximum) connections are open", metadata: ["peer.uid": "\(peer.uid)"])
                            try? await channel.channel.close()
                            continue
                        }
                        connections.addTask {
                            await Connection(channel: channel, peer: peer, methods: methods).serve()
                            methods.connections.subtract(1, ordering: .relaxed)
                        }
                    }
                }
                // 3. The listener is closed: end the open connections.
                connections.cancelAll()
            }
        } onGracefulShutdown: { [listener] in
            listener.channel.close(promise: nil)
        }
        _ = unlink(path)
        methods.logger.info("control socket closed", metadata: ["socket": "\(path)"])
    }
}
