import Foundation
import ModloadControl
import Testing

/// The control protocol's own code, without a daemon: framing, calls and replies, parameters,
/// error names, the embedded interface definition, the socket path rule.
@Suite("Control protocol (varlink)")
struct ControlProtocolTests {
    func end(of bytes: [UInt8], limit: Int = 16) throws -> Int? {
        try bytes.withUnsafeBytes { try VarlinkFraming.endOfMessage(in: $0, limit: limit) }
    }

    @Test func framingFindsTheFirstNULAndRefusesAnOverlongMessage() throws {
        #expect(try end(of: Array("{}".utf8) + [0] + Array("{".utf8)) == 2)
        #expect(try end(of: Array("{\"a\":".utf8)) == nil)
        #expect(try end(of: [UInt8](repeating: 32, count: 16)) == nil, "exactly the limit, NUL still to come")
        #expect(throws: VarlinkProtocolError(.tooLarge, reason: "a message longer than 16 bytes (no NUL terminator within the limit)")) {
            try end(of: [UInt8](repeating: 32, count: 17))
        }
        #expect(try end(of: [UInt8](repeating: 32, count: 16) + [0]) == 16)
    }

    @Test func aCallDecodesItsFlagsAndRefusesWhatIsNotACall() throws {
        let call = try VarlinkCall.decode(Array(#"{"method":"io.modload.Host.Info","parameters":{"name":"x"},"more":true}"#.utf8))
        #expect(call.interface == "io.modload.Host" && call.memberName == "Info" && call.more && !call.oneway)
        #expect(try call.decodeParameters(HostInterface.NameParameters.self).name == "x")
        for (bytes, code) in [
            (Array("nope".utf8), VarlinkProtocolError.Code.notJSON), ([0xC3, 0x28], .notUTF8), (Array("[1]".utf8), .notJSON),
            (Array(#"{"method":7}"#.utf8), .notAMessage), (Array(#"{"method":"a.B","oneway":1}"#.utf8), .notAMessage),
            (Array(#"{"method":"a.B","parameters":[1]}"#.utf8), .notAMessage), (Array(#"{"method":"a.B","more":1}"#.utf8), .notAMessage),
            (Array(#"{"method":"a.B","x":nope}"#.utf8), .notJSON), (Array(#"{"method":"a.B","parameters":{"a":nope}}"#.utf8), .notJSON),
            (Array(#"{"method":"a.B"} x"#.utf8), .notJSON), (Array(#"{"method":"a.B",}"#.utf8), .notJSON), (Array(#"{"parameters":{}}"#.utf8), .notAMessage),
        ] {
            #expect(throws: VarlinkProtocolError.self, "\(bytes)") { try VarlinkCall.decode(bytes) }
            #expect((try? VarlinkCall.decode(bytes)) == nil)
            do { _ = try VarlinkCall.decode(bytes) } catch { #expect(error.code == code, "\(String(decoding: bytes, as: UTF8.self))") }
        }
        // An escaped method name is unescaped; a member varlink does not define is skipped (it is JSON).
        let escaped = try VarlinkCall.decode(Array(#" {"extra":[1,{"z":"}]"}],"method":"a\u002eB" ,"oneway":null} "#.utf8))
        #expect(escaped.method == "a.B" && !escaped.oneway)
        // null parameters and null optional fields are no parameters.
        let empty = try VarlinkCall.decode(Array(#"{"method":"io.modload.Host.Unload","parameters":{"name":"x","mode":null}}"#.utf8))
        #expect(try empty.decodeParameters(HostInterface.UnloadParameters.self) == HostInterface.UnloadParameters(name: "x"))
    }

    @Test func parametersThatAreMissingMistypedOrUnknownAreNamed() throws {
        func refusal(_ json: String, as type: (some Codable).Type) -> String? {
            let call = try? VarlinkCall.decode(Array("{\"method\":\"a.B\",\"parameters\":\(json)}".utf8))
            do {
                _ = try call?.decodeParameters(type)
                return nil
            } catch {
                #expect(error.name == "org.varlink.service.InvalidParameter")
                return error.decodeParameters([String: String].self)?["parameter"]
            }
        }
        #expect(refusal("{}", as: HostInterface.NameParameters.self) == "name")
        #expect(refusal(#"{"name":3}"#, as: HostInterface.NameParameters.self) == "name")
        #expect(refusal(#"{"name":"x","extra":true}"#, as: HostInterface.NameParameters.self) == "extra")
        #expect(refusal(#"{"name":"x","mode":"gently"}"#, as: HostInterface.UnloadParameters.self) == "mode")
        #expect(refusal(#"{"name":"x","mode":"drain","timeoutMs":5}"#, as: HostInterface.UnloadParameters.self) == nil)
    }

    @Test func repliesRoundTripAndErrorsAreNamedAfterTheirCode() throws {
        let bytes = VarlinkReply.encode(HostInterface.ResolveReply(modules: ["a"]), continues: true)
        #expect(bytes.last == 0)
        let reply = try VarlinkReply.decode(bytes.dropLast())
        #expect(reply.continues && reply.error == nil)
        #expect(try reply.decodeParameters(HostInterface.ResolveReply.self).modules == ["a"])
        let error = HostInterface.error(HostInterface.ErrorParameters(code: "wouldBlock", errno: 11, reason: "in use", module: "a"))
        #expect(error.name == "io.modload.Host.WouldBlock" && error.description == "in use")
        let decoded = try VarlinkReply.decode(VarlinkReply.encode(error).dropLast())
        #expect(decoded.error == "io.modload.Host.WouldBlock")
        #expect(try decoded.decodeParameters(HostInterface.ErrorParameters.self).module == "a")
        #expect(HostInterface.errorName(forCode: "errno99") == "io.modload.Host.Failed")
        #expect(HostInterface.errorName(forCode: "permissionDenied") == "io.modload.Host.PermissionDenied")
    }

    @Test func everyNamedErrorAndMethodIsInTheDefinitionFileWhichIsWhatIsEmbedded() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/ModloadControl/Interface/io.modload.Host.varlink")
        #expect(try String(contentsOf: file, encoding: .utf8) == HostInterface.definition)
        #expect(HostInterface.definition.contains("interface io.modload.Host\n"))
        for code in HostInterface.namedErrorCodes.union(["errno99"]) {
            let name = HostInterface.errorName(forCode: code).split(separator: ".").last!
            #expect(HostInterface.definition.contains("\nerror \(name) ("), "\(name)")
        }
        for method in HostInterface.Method.allCases {
            #expect(HostInterface.definition.contains("\nmethod \(method.rawValue)("), "\(method)")
        }
        #expect(!HostInterface.definition.contains("\r"), "varlink definitions use LF line ends")
    }

    @Test func theSocketPathRule() {
        #expect(ControlSocket.path(explicit: "/x", environment: ["MODLOAD_SOCKET": "/y"]) == "/x")
        #expect(ControlSocket.path(explicit: nil, environment: ["MODLOAD_SOCKET": "/y"]) == "/y")
        #expect(ControlSocket.path(explicit: nil, environment: [:], uid: 0) == "/run/modload/io.modload.Host")
        #expect(ControlSocket.path(explicit: nil, environment: ["XDG_RUNTIME_DIR": "/run/user/7"], uid: 7) == "/run/user/7/modload/io.modload.Host")
        #expect(ControlSocket.path(explicit: nil, environment: [:], uid: 7) == "/run/user/7/modload/io.modload.Host")
        #expect((try? ControlSocket.address(String(repeating: "a", count: 200))) == nil)
    }

    @Test func theHandWrittenListReplyDecodesToTheSameValueAsItsCodableEncoding() throws {
        let odd = "quote \" backslash \\ newline \n tab \t bell \u{07} nul \u{0} é ☃ 🧩"
        let modules = [
            HostInterface.Module(
                name: "a", version: odd, description: "", license: "MIT", state: "live", unloading: false, size: 1 << 40, refcount: -1,
                usedBy: ["b", odd], uses: [], parameters: "x=1", parameterWarnings: [odd], taints: ["E", "R"], file: nil,
                loadedAsDependency: true),
            HostInterface.Module(
                name: "b", version: "1", description: odd, license: "", state: "going", unloading: true, size: 0, refcount: 3, usedBy: [],
                uses: ["a"], parameters: "", parameterWarnings: [], taints: [], file: "/x/\(odd).so", loadedAsDependency: false),
        ]
        let reply = HostInterface.ListReply(modules: modules)
        let written = VarlinkReply.encode(reply)
        #expect(written.last == 0 && !written.dropLast().contains(0), "a NUL inside a string is escaped")
        let decoded = try VarlinkReply.decode(written.dropLast()).decodeParameters(HostInterface.ListReply.self)
        #expect(decoded == reply)
        let codable = try JSONDecoder().decode(HostInterface.ListReply.self, from: JSONEncoder().encode(reply))
        #expect(codable == decoded)
        #expect(try VarlinkReply.decode(VarlinkReply.encode(HostInterface.ListReply(modules: [])).dropLast()).decodeParameters(HostInterface.ListReply.self).modules.isEmpty)
    }

    @Test func aReplyIsSplitWithoutParsingItsParametersAndGarbageIsRefused() throws {
        let reply = try VarlinkReply.decode(Array(#" { "parameters" : {"a":"}\"{[","b":[{"c":null}]} , "continues":true } "#.utf8))
        #expect(reply.continues && reply.error == nil)
        #expect(String(decoding: reply.parameters, as: UTF8.self) == #"{"a":"}\"{[","b":[{"c":null}]}"#)
        #expect(try VarlinkReply.decode(Array(#"{"error":"x.Y","parameters":null}"#.utf8)).error == "x.Y")
        #expect(try VarlinkReply.decode(Array("{}".utf8)).parameters == Array("{}".utf8))
        for garbage in [#"{"a":"#, #"{"parameters":[1]}"#, #"{"error":3}"#, "[]", #"{"a":1}x"#, #"{"a" 1}"#, #"{"a":"unterminated}"#, ""] {
            #expect((try? VarlinkReply.decode(Array(garbage.utf8))) == nil, "\(garbage)")
        }
    }
}
