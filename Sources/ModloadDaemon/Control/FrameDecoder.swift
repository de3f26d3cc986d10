import ModloadControl
import NIOCore

/// Cuts a connection's byte stream into varlink messages, by the rules of
/// ``ModloadControl/VarlinkFraming``: one `ByteBuffer` per message, its NUL dropped; a message
/// over the limit is an error, which closes the connection; bytes left without a NUL at the end
/// are dropped.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// The largest message accepted.
    let limit: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let end = try buffer.withUnsafeReadableBytes { (bytes) throws(VarlinkProtocolError) -> Int? in
            try VarlinkFraming.endOfMessage(in: bytes, limit: limit)
        }
        guard let end, let frame = buffer.readSlice(length: end) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
