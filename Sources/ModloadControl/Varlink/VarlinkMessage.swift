import Foundation

/// A varlink method call: `{"method": "iface.Method", "parameters": {…}, "oneway": …, "more": …}`.
public struct VarlinkCall: Sendable {
    /// The qualified method name, `interface.Method`.
    public let method: String
    /// The parameters object as JSON (`{}` when the call had none or `null`).
    public let parameters: [UInt8]
    /// No reply is wanted.
    public let oneway: Bool
    /// A stream of replies is wanted (`continues: true` on all but the last).
    public let more: Bool
    /// The connection is to be handed to another protocol after the reply (not supported here).
    public let upgrade: Bool
    /// The parameters given a value (not `null`).
    let givenKeys: [String]

    /// The interface part of ``method`` (before its last dot).
    public var interface: String { method.lastIndex(of: ".").map { String(method[..<$0]) } ?? "" }
    /// The method part of ``method`` (after its last dot).
    public var memberName: String { method.lastIndex(of: ".").map { String(method[method.index(after: $0)...]) } ?? method }

    /// A call to send.
    public init(method: String, parameters: some Encodable, oneway: Bool = false, more: Bool = false) throws(VarlinkProtocolError) {
        guard let data = try? VarlinkJSON.encoder.encode(parameters) else {
            throw VarlinkProtocolError(.notJSON, reason: "the parameters of \(method) cannot be encoded as JSON")
        }
        self.method = method
        self.parameters = Array(data)
        self.oneway = oneway
        self.more = more
        self.upgrade = false
        self.givenKeys = []
    }

    private init(method: String, parameters: [UInt8], givenKeys: [String], oneway: Bool, more: Bool, upgrade: Bool) {
        self.method = method
        self.parameters = parameters
        self.givenKeys = givenKeys
        self.oneway = oneway
        self.more = more
        self.upgrade = upgrade
    }

    /// The call in `message` (one frame, without its NUL).
    ///
    /// - Throws: ``VarlinkProtocolError`` if the bytes are not UTF-8, not a JSON object, or not a
    ///   call (no `method` string, a flag that is not a boolean, parameters that are not an object).
    public static func decode(_ message: some Collection<UInt8>) throws(VarlinkProtocolError) -> VarlinkCall {
        // The envelope is split without parsing the parameters (``VarlinkJSON/members(of:)``);
        // decodeParameters decodes them. Parameters and members other than the call's own are
        // checked as JSON here, so a message that is not JSON is refused whole, wherever it breaks.
        let (bytes, members) = try VarlinkJSON.envelope(message, kind: "message")
        var method: String?
        var flags: [String: Bool] = [:]
        var parameters = Array("{}".utf8)
        var givenKeys: [String] = []
        for (key, range) in members {
            let value = bytes[range]
            switch key {
            case "method":
                guard let name = VarlinkJSON.string(value) else {
                    throw VarlinkProtocolError(.notAMessage, reason: "the call's \"method\" is not a string")
                }
                method = name
            case "oneway", "more", "upgrade":
                switch String(decoding: value, as: UTF8.self) {
                case "true": flags[key] = true
                case "false": flags[key] = false
                case "null": break
                default: throw VarlinkProtocolError(.notAMessage, reason: "the call's \"\(key)\" is not a boolean")
                }
            case "parameters":
                if value.elementsEqual("null".utf8) { break }
                guard value.first == UInt8(ascii: "{"), let given = VarlinkJSON.members(of: Array(value)) else {
                    throw VarlinkProtocolError(.notAMessage, reason: "the call's \"parameters\" is not an object")
                }
                guard given.isEmpty || VarlinkJSON.isJSON(value) else {
                    throw VarlinkProtocolError(.notJSON, reason: "a message that is not JSON (its \"parameters\")")
                }
                parameters = Array(value)
                givenKeys = given.filter { !parameters[$0.value].elementsEqual("null".utf8) }.map(\.key).sorted()
            default:
                guard VarlinkJSON.isJSON(value) else {
                    throw VarlinkProtocolError(.notJSON, reason: "a message that is not JSON (its \"\(key)\")")
                }
            }
        }
        guard let method, !method.isEmpty else {
            throw VarlinkProtocolError(.notAMessage, reason: "a message without a \"method\" string is not a varlink call")
        }
        return VarlinkCall(
            method: method, parameters: parameters, givenKeys: givenKeys,
            oneway: flags["oneway"] ?? false, more: flags["more"] ?? false, upgrade: flags["upgrade"] ?? false)
    }

    /// The call as it goes on the wire, NUL included.
    public func encoded() -> [UInt8] {
        var object = "{\"method\":" + VarlinkJSON.quoted(method) + ",\"parameters\":" + String(decoding: parameters, as: UTF8.self)
        if oneway { object += ",\"oneway\":true" }
        if more { object += ",\"more\":true" }
        object += "}"
        return Array(object.utf8) + [0]
    }

    /// The parameters as `P`.
    ///
    /// - Throws: `org.varlink.service.InvalidParameter` naming the first parameter that is
    ///   missing, of the wrong type, or not one of `P`'s.
    public func decodeParameters<P: Codable>(_ type: P.Type) throws(VarlinkError) -> P {
        let value: P
        do {
            value = try VarlinkJSON.decoder.decode(P.self, from: Data(parameters))
        } catch let error as DecodingError {
            throw VarlinkError.invalidParameter(VarlinkJSON.parameterName(of: error) ?? givenKeys.first ?? "parameters")
        } catch {
            throw VarlinkError.invalidParameter("parameters")
        }
        // A key P does not have would be dropped silently by the decoder: compare with what the
        // decoded value encodes (every given key of P encodes again, since null ones were removed).
        if !givenKeys.isEmpty {
            let known = (try? VarlinkJSON.encoder.encode(value)).flatMap { VarlinkJSON.members(of: Array($0)) }.map { Set($0.map(\.key)) } ?? []
            if let unknown = givenKeys.first(where: { !known.contains($0) }) { throw VarlinkError.invalidParameter(unknown) }
        }
        return value
    }
}

/// A reply: `{"parameters": {…}, "continues": …}` or `{"error": "iface.Error", "parameters": {…}}`.
public struct VarlinkReply: Sendable {
    /// The qualified error name, if the call failed.
    public let error: String?
    /// The parameters object as JSON (`{}` when the reply had none or `null`).
    public let parameters: [UInt8]
    /// More replies follow (a `more` call's stream).
    public let continues: Bool

    /// A successful reply, NUL included.
    /// A type that writes its own JSON (``JSONWritable``) is written that way; any other with
    /// `JSONEncoder`.
    public static func encode(_ parameters: some Encodable, continues: Bool = false) -> [UInt8] {
        if let writable = parameters as? any JSONWritable {
            var writer = JSONWriter(capacity: 64 * 1024)
            writer.raw("{\"parameters\":")
            writable.write(to: &writer)
            writer.raw(continues ? ",\"continues\":true}\0" : "}\0")
            return writer.bytes
        }
        var reply = Array("{\"parameters\":".utf8)
        reply += (try? VarlinkJSON.encoder.encode(parameters)).map(Array.init) ?? Array("{}".utf8)
        reply += Array((continues ? ",\"continues\":true}" : "}").utf8)
        reply.append(0)
        return reply
    }

    /// An error reply, NUL included.
    public static func encode(_ error: VarlinkError) -> [UInt8] {
        Array(("{\"error\":" + VarlinkJSON.quoted(error.name) + ",\"parameters\":" + String(decoding: error.parameters, as: UTF8.self) + "}").utf8) + [0]
    }

    /// The reply in `message` (one frame, without its NUL).
    ///
    /// - Throws: ``VarlinkProtocolError`` if it is not UTF-8, not a JSON object, or not a reply.
    public static func decode(_ message: some Collection<UInt8>) throws(VarlinkProtocolError) -> VarlinkReply {
        // The envelope is split without parsing the parameters (a List reply is tens of KB, and
        // JSONSerialization takes milliseconds for it); decodeParameters parses them once.
        let (bytes, members) = try VarlinkJSON.envelope(message, kind: "reply")
        var error: String?
        var parameters = Array("{}".utf8)
        var continues = false
        for (key, range) in members {
            let value = Array(bytes[range])
            switch key {
            case "error" where value != Array("null".utf8):
                guard let name = try? VarlinkJSON.decoder.decode(String.self, from: Data(value)) else {
                    throw VarlinkProtocolError(.notAMessage, reason: "a reply's \"error\" is not a string")
                }
                error = name
            case "parameters" where value != Array("null".utf8):
                guard value.first == UInt8(ascii: "{") else {
                    throw VarlinkProtocolError(.notAMessage, reason: "a reply's \"parameters\" is not an object")
                }
                parameters = value
            case "continues":
                continues = value == Array("true".utf8)
            default:
                break
            }
        }
        return VarlinkReply(error: error, parameters: parameters, continues: continues)
    }

    /// The parameters as `R`.
    ///
    /// - Throws: ``VarlinkProtocolError`` `notAMessage` if they do not decode as `R`.
    public func decodeParameters<R: Decodable>(_ type: R.Type) throws(VarlinkProtocolError) -> R {
        do {
            return try VarlinkJSON.decoder.decode(R.self, from: Data(parameters))
        } catch {
            let field = (error as? DecodingError).flatMap(VarlinkJSON.parameterName(of:)).map { " (\($0))" } ?? ""
            throw VarlinkProtocolError(.notAMessage, reason: "a reply whose parameters are not what the interface says\(field)")
        }
    }
}

/// A varlink error reply: a qualified name and its parameters. What a method throws to answer
/// with an error, and what the client hands back when the daemon answers with one.
public struct VarlinkError: Error, Sendable, CustomStringConvertible {
    /// The qualified name, e.g. `io.modload.Host.NotFound`.
    public let name: String
    /// The parameters object as JSON.
    public let parameters: [UInt8]

    /// An error named `name` with `parameters`.
    public init(name: String, parameters: some Encodable) {
        self.name = name
        self.parameters = (try? VarlinkJSON.encoder.encode(parameters)).map(Array.init) ?? Array("{}".utf8)
    }

    /// An error with the raw parameters of a reply.
    public init(name: String, rawParameters: [UInt8]) {
        self.name = name
        self.parameters = rawParameters
    }

    /// The parameters as `P`, if they decode as one.
    public func decodeParameters<P: Decodable>(_ type: P.Type) -> P? {
        try? VarlinkJSON.decoder.decode(P.self, from: Data(parameters))
    }

    /// The error's `reason` parameter when it has one (every io.modload.Host error does), else its
    /// name and parameters.
    public var description: String {
        if let reason = (try? VarlinkJSON.object(parameters))?["reason"] as? String { return reason }
        return parameters == Array("{}".utf8) ? name : "\(name) \(String(decoding: parameters, as: UTF8.self))"
    }
}

/// The JSON details both sides share.
enum VarlinkJSON {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }
    static var decoder: JSONDecoder { JSONDecoder() }

    /// The JSON object in `bytes`.
    static func object(_ bytes: some Collection<UInt8>) throws(VarlinkProtocolError) -> [String: Any] {
        let array = Array(bytes)
        guard String(validating: array, as: UTF8.self) != nil else {
            throw VarlinkProtocolError(.notUTF8, reason: "a message that is not UTF-8")
        }
        guard let value = try? JSONSerialization.jsonObject(with: Data(array), options: [.fragmentsAllowed]) else {
            throw VarlinkProtocolError(.notJSON, reason: "a message that is not JSON")
        }
        guard let object = value as? [String: Any] else {
            throw VarlinkProtocolError(.notJSON, reason: "a message that is JSON but not an object")
        }
        return object
    }

    /// The members of the JSON object in `bytes`: each key and where its value's text lies —
    /// values are skipped over (strings with their escapes, nested objects and arrays), not
    /// parsed; `nil` if the bytes are not one object. A value's own validity is left to whoever
    /// decodes it.
    static func members(of bytes: [UInt8]) -> [(key: String, value: Range<Int>)]? {
        var i = 0
        func blanks() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        func skipString() -> Bool {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
            i += 1
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\\"): i += 2
                case UInt8(ascii: "\""):
                    i += 1
                    return true
                default: i += 1
                }
            }
            return false
        }
        func skipValue() -> Bool {
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case UInt8(ascii: "\""): return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < bytes.count {
                    switch bytes[i] {
                    case UInt8(ascii: "\""): if !skipString() { return false }; continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            return true
                        }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                let start = i
                while i < bytes.count, !["," , "}", "]", " ", "\n", "\t", "\r"].map({ UInt8(ascii: $0) }).contains(bytes[i]) { i += 1 }
                return i > start
            }
        }
        blanks()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        var members: [(key: String, value: Range<Int>)] = []
        blanks()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            blanks()
            return i == bytes.count ? members : nil
        }
        while true {
            blanks()
            let keyStart = i
            guard skipString(), let key = string(bytes[keyStart..<i]) else { return nil }
            blanks()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            blanks()
            let valueStart = i
            guard skipValue() else { return nil }
            members.append((key, valueStart..<i))
            blanks()
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "}") else { return nil }
            i += 1
            blanks()
            return i == bytes.count ? members : nil
        }
    }

    /// `message`'s bytes and its top-level members, checked to be UTF-8 and one JSON object
    /// (`kind` — "message", "reply" — names it in the error).
    static func envelope(
        _ message: some Collection<UInt8>, kind: String
    ) throws(VarlinkProtocolError) -> (bytes: [UInt8], members: [(key: String, value: Range<Int>)]) {
        let bytes = Array(message)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw VarlinkProtocolError(.notUTF8, reason: "a \(kind) that is not UTF-8")
        }
        guard let members = members(of: bytes) else {
            throw VarlinkProtocolError(.notJSON, reason: "a \(kind) that is not one JSON object")
        }
        return (bytes, members)
    }

    /// Whether `text` is one JSON value (what ``members(of:)`` skips over without checking).
    static func isJSON(_ text: ArraySlice<UInt8>) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed])) != nil
    }

    /// The JSON string literal `text` (quotes included) decoded; `nil` if it is not one. One
    /// without escapes is taken as it is; one with escapes is decoded by `JSONDecoder`.
    static func string(_ text: ArraySlice<UInt8>) -> String? {
        guard text.count >= 2, text.first == UInt8(ascii: "\""), text.last == UInt8(ascii: "\"") else { return nil }
        let inner = text.dropFirst().dropLast()
        if !inner.contains(UInt8(ascii: "\\")) {
            guard !inner.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") }) else { return nil }
            return String(validating: inner, as: UTF8.self)
        }
        return try? decoder.decode(String.self, from: Data(text))
    }

    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String {
        (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    /// The top-level parameter a decoding error is about.
    static func parameterName(of error: DecodingError) -> String? {
        switch error {
        case .keyNotFound(let key, let context): (context.codingPath.first ?? key).stringValue
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            context.codingPath.first?.stringValue
        @unknown default: nil
        }
    }
}
