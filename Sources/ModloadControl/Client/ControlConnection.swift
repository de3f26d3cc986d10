#if canImport(Glibc)
import Glibc
#endif

/// One connection to a varlink service on a Unix socket, with blocking calls: what the CLI verbs
/// (and tests, and any program without an event loop) use. Calls on one connection are answered
/// in order; use one connection per thread.
///
/// Every failure is a ``ControlError`` naming the socket; nothing here crashes on what the peer
/// sends.
public final class ControlConnection {
    /// The socket connected to.
    public let socketPath: String
    private var descriptor: Int32
    /// Bytes received and not yet handed out; the first `searched` of them hold no NUL.
    private var received: [UInt8] = []
    private var searched = 0
    /// What `recv` reads into, kept for the connection's life.
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    /// Connects to the service at `socketPath`.
    ///
    /// - Parameter timeout: how long one send or one wait for a reply may block before the call
    ///   fails with `connectionLost`; `nil` (the default): as long as it takes. A Monitor stream
    ///   waits for events, so give it none.
    /// - Throws: ``ControlError`` `noDaemon` (no socket file, or nobody accepting on it),
    ///   `accessDenied`, `invalidPath`, `connectionLost`.
    public init(socketPath: String, timeout: Duration? = nil) throws(ControlError) {
        self.socketPath = socketPath
        var address = try ControlSocket.address(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw ControlError(.connectionLost, socketPath: socketPath, reason: "cannot create a socket: \(String(cString: strerror(errno)))")
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if status != 0 {
            let error = errno
            Glibc.close(fd)
            switch error {
            case ENOENT, ECONNREFUSED, ENOTDIR:
                throw ControlError(
                    .noDaemon, socketPath: socketPath,
                    reason: "no modload daemon is listening on \(socketPath) (start one with: modload daemon --socket \(socketPath))")
            case EACCES, EPERM:
                throw ControlError(
                    .accessDenied, socketPath: socketPath, reason: "may not connect to the modload daemon's socket \(socketPath): permission denied")
            default:
                throw ControlError(
                    .connectionLost, socketPath: socketPath, reason: "cannot connect to \(socketPath): \(String(cString: strerror(error)))")
            }
        }
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        descriptor = fd
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    /// Closes the connection (a later call fails with `connectionLost`).
    public func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    /// Calls `method` and returns its reply's parameters as `R`.
    ///
    /// - Throws: ``ControlError``: `remote` with the daemon's error, `connectionLost`,
    ///   `protocolViolation`.
    public func call<R: Decodable>(_ method: String, _ parameters: some Encodable, returning: R.Type) throws(ControlError) -> R {
        try send(VarlinkCall(method: method, parameters: parameters))
        let reply = try receiveReply()
        return try decode(reply, as: R.self)
    }

    /// Calls `method` with `more` and hands each reply's parameters to `body` until the daemon ends
    /// the stream or `body` returns `false` (which closes the connection: varlink has no way to end
    /// a stream but that).
    ///
    /// - Throws: as ``call(_:_:returning:)``, and whatever `body` throws.
    public func stream<R: Decodable>(
        _ method: String, _ parameters: some Encodable, returning: R.Type, _ body: (R) throws -> Bool
    ) throws {
        try send(VarlinkCall(method: method, parameters: parameters, more: true))
        while true {
            let reply = try receiveReply()
            let value = try decode(reply, as: R.self)
            guard try body(value) else {
                close()
                return
            }
            if !reply.continues { return }
        }
    }

    /// Sends raw bytes as they are (for tests of what the daemon does with bad input).
    public func sendRaw(_ bytes: [UInt8]) throws(ControlError) {
        try write(bytes)
    }

    /// The next reply, whatever it is (for tests).
    public func receiveReply() throws(ControlError) -> VarlinkReply {
        let message = try receiveFrame()
        do throws(VarlinkProtocolError) {
            return try VarlinkReply.decode(message)
        } catch {
            throw ControlError(.protocolViolation, socketPath: socketPath, reason: "the daemon on \(socketPath) sent \(error)")
        }
    }

    private func decode<R: Decodable>(_ reply: VarlinkReply, as type: R.Type) throws(ControlError) -> R {
        if let name = reply.error {
            let error = VarlinkError(name: name, rawParameters: reply.parameters)
            throw ControlError(.remote, socketPath: socketPath, reason: error.description, remote: error)
        }
        do throws(VarlinkProtocolError) {
            return try reply.decodeParameters(R.self)
        } catch {
            throw ControlError(.protocolViolation, socketPath: socketPath, reason: "the daemon on \(socketPath) sent \(error)")
        }
    }

    private func send(_ call: @autoclosure () throws(VarlinkProtocolError) -> VarlinkCall) throws(ControlError) {
        let message: VarlinkCall
        do throws(VarlinkProtocolError) { message = try call() } catch {
            throw ControlError(.protocolViolation, socketPath: socketPath, reason: error.reason)
        }
        try write(message.encoded())
    }

    private func write(_ bytes: [UInt8]) throws(ControlError) {
        guard descriptor >= 0 else { throw lost("the connection is closed") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw lost(String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    /// The next message's bytes as they came, NUL excluded, not decoded (for benchmarks and tests).
    public func receiveFrame() throws(ControlError) -> [UInt8] {
        while true {
            // Only the bytes that arrived since the last search are searched for the NUL.
            let framed = received.withUnsafeBytes { raw in
                Result { () throws(VarlinkProtocolError) in
                    try VarlinkFraming.endOfMessage(in: UnsafeRawBufferPointer(rebasing: raw[searched...]), limit: VarlinkFraming.maximumReplySize - searched)
                }
            }
            guard case .success(let found) = framed else {
                close()
                throw ControlError(.protocolViolation, socketPath: socketPath, reason: "the daemon on \(socketPath) sent a message over the size limit")
            }
            if let found {
                let end = searched + found
                let message = Array(received[..<end])
                if end + 1 == received.count { received.removeAll(keepingCapacity: true) } else { received.removeFirst(end + 1) }
                searched = 0
                return message
            }
            searched = received.count
            guard descriptor >= 0 else { throw lost("the connection is closed") }
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw lost("no answer within the timeout") }
                throw lost(String(cString: strerror(errno)))
            }
            if count == 0 { throw lost("the daemon closed the connection") }
            received.append(contentsOf: chunk[..<count])
        }
    }

    private func lost(_ why: String) -> ControlError {
        ControlError(.connectionLost, socketPath: socketPath, reason: "lost the connection to the modload daemon on \(socketPath): \(why)")
    }
}
