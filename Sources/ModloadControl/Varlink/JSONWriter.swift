/// JSON text written straight into bytes, for the replies that are large and frequent (List:
/// 100 modules is ≈ 32 KB). Foundation's `JSONEncoder` takes ≈ 1 ms for that here — twenty times
/// the socket round trip — so a type whose encoding is hot conforms to ``JSONWritable`` too, and
/// ``VarlinkReply/encode(_:continues:)`` uses that. Its output decodes to the same value as the
/// Codable encoding (a test holds the two together); key order and spacing may differ, which JSON
/// does not care about.
public struct JSONWriter: ~Copyable {
    // Rules: `base` holds `capacity` bytes of which the first `count` are the text; only this
    // writer touches them (it cannot be copied), and they are freed with it. Every append first
    // makes room (`reserve`), then stores — no per-byte checks, which is what made an `Array`
    // writer cost 2.5 ns a byte here.
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    private var needsComma = false

    /// An empty writer with room for `capacity` bytes (it grows as needed).
    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The text so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Bytes as they are (JSON text the caller vouches for: an envelope's fixed parts).
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    /// `{`, the members `body` writes, `}`.
    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// `[`, the elements `body` writes, `]`.
    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        separate()
        append(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A member's key; its value is what is written next.
    public mutating func key(_ key: StaticString) {
        key.withUTF8Buffer { text in
            reserve(text.count + 4)
            if needsComma { store(UInt8(ascii: ",")) }
            store(UInt8(ascii: "\""))
            if let start = text.baseAddress { (base + count).initialize(from: start, count: text.count) }
            count += text.count
            store(UInt8(ascii: "\""))
            store(UInt8(ascii: ":"))
        }
        needsComma = false
    }

    /// A string value, escaped as JSON requires.
    public mutating func string(_ value: String) {
        separate()
        append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            if utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                append(utf8)  // the common case: nothing to escape, one copy
            } else {
                for byte in utf8 { escape(byte) }
            }
        }
        append(UInt8(ascii: "\""))
        needsComma = true
    }

    private mutating func escape(_ byte: UInt8) {
        let backslash = UInt8(ascii: "\\")
        switch byte {
        case UInt8(ascii: "\""), backslash:
            append(backslash)
            append(byte)
        case 0x0A:
            append(backslash)
            append(UInt8(ascii: "n"))
        case 0x0D:
            append(backslash)
            append(UInt8(ascii: "r"))
        case 0x09:
            append(backslash)
            append(UInt8(ascii: "t"))
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef\\u00"
            hex.withUTF8Buffer { digits in
                append(UnsafeBufferPointer(rebasing: digits[16...]))
                append(digits[Int(byte >> 4)])
                append(digits[Int(byte & 15)])
            }
        default:
            append(byte)
        }
    }

    /// An integer value.
    public mutating func int(_ value: Int) {
        separate()
        if (0..<10).contains(value) {
            append(UInt8(ascii: "0") + UInt8(value))
        } else {
            var text = String(value)
            text.withUTF8 { append($0) }
        }
        needsComma = true
    }

    /// A boolean value.
    public mutating func bool(_ value: Bool) {
        separate()
        raw(value ? "true" : "false")
        needsComma = true
    }

    /// An array of strings.
    public mutating func strings(_ values: [String]) {
        array { for value in values { $0.string(value) } }
    }

    @inline(__always)
    private mutating func separate() {
        if needsComma { append(UInt8(ascii: ",")) }
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        reserve(1)
        store(byte)
    }

    @inline(__always)
    private mutating func append(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let start = buffer.baseAddress else { return }
        reserve(buffer.count)
        (base + count).initialize(from: start, count: buffer.count)
        count += buffer.count
    }

    /// Stores one byte in room `reserve` made.
    @inline(__always)
    private mutating func store(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(extra) }
    }

    @inline(never)
    private mutating func grow(_ extra: Int) {
        let larger = max(capacity * 2, count + extra)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        grown.initialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = larger
    }
}

/// A value that writes its own JSON (``JSONWriter``), the same value its Codable encoding is.
public protocol JSONWritable: Encodable {
    /// Writes the value as one JSON value.
    func write(to writer: inout JSONWriter)
}
