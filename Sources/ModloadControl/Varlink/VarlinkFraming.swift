#if canImport(Glibc)
import Glibc
#endif

/// Varlink's transport framing: each message is one JSON object followed by a NUL byte on a stream
/// socket. JSON text never contains a raw NUL, so the first NUL ends the message.
///
/// Rules, shared by the daemon and the client:
/// 1. A message is the bytes before the first NUL; the NUL is consumed with it.
/// 2. A message may not exceed ``maximumMessageSize`` bytes (NUL excluded). A peer that sends more
///    without a NUL is cut off: the connection is closed, since nothing after it can be trusted to
///    be a message boundary.
/// 3. Bytes left without a NUL when the peer closes are not a message and are dropped.
public enum VarlinkFraming {
    /// The largest message either side accepts: 1 MiB. A listing of 10,000 modules is ≈ 3 MiB
    /// in JSON, so the daemon's replies may be larger (the limit guards what a peer *sends* to a
    /// reader that must buffer it); the client accepts replies up to ``maximumReplySize``.
    public static let maximumMessageSize = 1 << 20

    /// The largest reply the client buffers: 64 MiB.
    public static let maximumReplySize = 64 << 20

    /// The offset of the NUL that ends the first message in `bytes`, or `nil` if no whole message
    /// has arrived yet.
    ///
    /// - Throws: ``VarlinkProtocolError`` `tooLarge` if the first message is longer than `limit`
    ///   (whether or not its NUL has arrived).
    public static func endOfMessage(in bytes: UnsafeRawBufferPointer, limit: Int) throws(VarlinkProtocolError) -> Int? {
        let searched = min(bytes.count, limit + 1)
        if let base = bytes.baseAddress, let nul = memchr(base, 0, searched) { return base.distance(to: UnsafeRawPointer(nul)) }
        if bytes.count > limit {
            throw VarlinkProtocolError(.tooLarge, reason: "a message longer than \(limit) bytes (no NUL terminator within the limit)")
        }
        return nil
    }
}

/// A peer broke the protocol itself (not a method's rules): the connection cannot go on.
public struct VarlinkProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public enum Code: String, Sendable, Equatable {
        /// A message over the size limit.
        case tooLarge
        /// A message that is not UTF-8.
        case notUTF8
        /// A message that is not one JSON object.
        case notJSON
        /// A JSON object that is not a varlink call or reply (no method, a flag that is not a bool …).
        case notAMessage
    }

    /// What was wrong.
    public let code: Code
    /// In plain words.
    public let reason: String

    /// An error of `code`.
    public init(_ code: Code, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}
