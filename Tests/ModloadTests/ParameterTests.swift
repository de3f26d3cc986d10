import Testing
@testable import Modload

@Suite("Parameters")
struct ParameterTests {
    let spec = [
        ModuleParameter("debug", .int, default: .int(0)),
        ModuleParameter("verbose", .bool, default: .bool(false)),
        ModuleParameter("mode", .string),
        ModuleParameter("ports", .list),
        ModuleParameter("max_cpus", .int),
    ]

    func parse(_ text: String) -> ParameterParser.Result { ParameterParser.parse(text, specification: spec) }

    @Test func valuesAndDefaults() throws {
        let r = parse("debug=0x10 verbose mode=fast ports=80,443 max-cpus=-4")
        #expect(r.errors == [] && r.warnings == [])
        #expect(r.parameters.int("debug") == 16)
        #expect(r.parameters.bool("verbose") == true)
        #expect(r.parameters.string("mode") == "fast")
        #expect(r.parameters.list("ports") == ["80", "443"])
        #expect(r.parameters.int("max_cpus") == -4)
        #expect(parse("").parameters.values == ["debug": .int(0), "verbose": .bool(false)])
        // One line, sorted by name, what List and Info show.
        #expect(r.parameters.text == "debug=16 max_cpus=-4 mode=fast ports=80,443 verbose=Y")
        #expect(parse("").parameters.text == "debug=0 verbose=N")
    }

    @Test func quotesGroupSpaces() throws {
        #expect(parse(#"mode="two words" debug=1"#).parameters.string("mode") == "two words")
        #expect(parse(#""mode=two words""#).parameters.string("mode") == "two words")
        #expect(parse(#"mode="""#).parameters.string("mode") == "")
    }

    @Test func aBareDoubleDashEndsParsing() throws {
        let r = parse("debug=2 -- debug=3 nonsense")
        #expect(r.parameters.int("debug") == 2)
        #expect(r.errors == [])
        #expect(r.warnings == ["parameters 'debug=3 nonsense' after '--' (ignored)"])
        #expect(parse(#"debug=2 "--" debug=3"#).parameters.int("debug") == 2)  // quoted, as the kernel
        #expect(parse("debug=2 --").warnings == [])
    }

    @Test func everyBlankSeparates() throws {
        let r = parse("mode=x\r\ndebug=3\u{0B}max_cpus=4\u{0C}verbose")
        #expect(r.parameters.string("mode") == "x")
        #expect(r.parameters.int("debug") == 3)
        #expect(r.parameters.int("max_cpus") == 4)
        #expect(r.parameters.bool("verbose") == true)
    }

    @Test func integersAsKstrtoint() throws {
        for (text, value) in [("010", 8), ("0x1F", 31), ("-0x10", -16), ("+7", 7), ("0", 0), ("-9223372036854775808", Int.min)] {
            #expect(parse("debug=\(text)").parameters.int("debug") == value, "\(text)")
        }
        for bad in ["--5", "+-5", "0x-5", "09", "0o7", "1e3", "", " 1"] {
            #expect(parse("debug=\"\(bad)\"").errors.count == 1, "\(bad)")
        }
    }

    @Test func boolSpellingsAsKstrtobool() throws {
        for (text, value) in [
            ("y", true), ("Y", true), ("1", true), ("on", true), ("true", true), ("t", true), ("enable", true),
            ("yellow", true), ("n", false), ("0", false), ("off", false), ("N", false), ("false", false), ("d", false),
        ] {
            #expect(parse("verbose=\(text)").parameters.bool("verbose") == value, "\(text)")
        }
        for bad in ["maybe", "o", "2", ""] {
            #expect(parse("verbose=\"\(bad)\"").errors.count == 1, "\(bad)")
        }
    }

    @Test func everyErrorIsReportedAndParsingGoesOn() throws {
        let r = parse("debug mode ports=1 max_cpus=many verbose=maybe unknown=1 mode=ok")
        #expect(r.errors == [
            "parameter 'debug': needs a value (int)",
            "parameter 'mode': needs a value (string)",
            "parameter 'max_cpus': 'many' is not an integer",
            "parameter 'verbose': 'maybe' is not a bool (y/n, 1/0, on/off, true/false)",
        ])
        #expect(r.warnings == ["unknown parameter 'unknown' (ignored)"])
        #expect(r.parameters.string("mode") == "ok")
        #expect(r.parameters.list("ports") == ["1"])
    }

    @Test func aLoadWithBadParametersLoadsNothing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = Linked("tunable", parameters: spec)
        let error = await expectError(.invalidArgument) { try await host.insert(module, parameters: "debug=x verbose=perhaps") }
        #expect(error?.description == "tunable: bad parameters: parameter 'debug': 'x' is not an integer; parameter 'verbose': 'perhaps' is not a bool (y/n, 1/0, on/off, true/false)")
        #expect(module.inits.count == 0)
        #expect(host.state(of: "tunable") == nil)
        #expect(host.statistics(of: "tunable") == nil)
    }

    @Test func initAndInfoSeeTheValues() async throws {
        let host = try ModuleHost(configuration: .testing())
        let seen = Counter()
        let module = Linked("tunable", parameters: spec) { context in
            seen.store(context.parameters.int("debug") ?? -1)
        }
        try await host.insert(module, parameters: "debug=7 unknown=1")
        #expect(seen.count == 7)
        let info = try #require(host.info(of: "tunable"))
        #expect(info.parameters.int("debug") == 7)
        #expect(info.parameters.bool("verbose") == false)
        #expect(info.parameters["max-cpus"] == nil)
    }

    @Test func anErrorNamesEveryBadParameterAndTheUnknownOnes() async throws {
        let handler = CapturingLogs()
        var configuration = ModuleHost.Configuration.testing()
        configuration.logger = handler.logger
        let host = try ModuleHost(configuration: configuration)
        let module = Linked("tunable", parameters: [ModuleParameter("flag", .bool)])
        let error = await expectError(.invalidArgument) { try await host.insert(module, parameters: "flag=maybe bogus=1") }
        #expect(error?.description == "tunable: bad parameters: parameter 'flag': 'maybe' is not a bool (y/n, 1/0, on/off, true/false); unknown parameter 'bogus' (ignored)")
        // The warning was logged while parsing, before the error was decided.
        #expect(handler.messages == ["notice tunable: unknown parameter 'bogus' (ignored)"])
        #expect(module.inits.count == 0 && host.modules.isEmpty)
    }

    @Test func warningsComeBackInTheOutcomeAndInTheInfo() async throws {
        let host = try ModuleHost(configuration: .testing())
        let module = Linked("tunable", parameters: spec)
        let outcome = try await host.insert(module, parameters: "debug=1 typo=2 -- rest")
        let warnings = ["unknown parameter 'typo' (ignored)", "parameters 'rest' after '--' (ignored)"]
        #expect(outcome == LoadOutcome(module: "tunable", how: .loaded, parameterWarnings: warnings))
        #expect(host.info(of: "tunable")?.parameterWarnings == warnings)
        // A caller finding it live gets its own parameters' warnings; the info keeps the loader's.
        let again = try await host.ensureLoaded(Linked("tunable", parameters: spec), parameters: "other=1")
        #expect(again.how == .alreadyLive && again.parameterWarnings == ["unknown parameter 'other' (ignored)"])
        #expect(host.info(of: "tunable")?.parameterWarnings == warnings)
    }

    @Test func aModuleDeclaringABadParameterFailsToLoadInsteadOfCrashing() async throws {
        let host = try ModuleHost(configuration: .testing())
        let mixedUp = Linked(
            "mixed_up",
            parameters: [
                ModuleParameter("debug", .int, default: .bool(true)), ModuleParameter("debug", .int),
                ModuleParameter("bad name", .string),
            ])
        let error = await expectError(.invalidArgument) { try await host.insert(mixedUp) }
        #expect(error?.description == "mixed_up: bad parameters: parameter 'debug' is declared int with a bool default; parameter 'debug' is declared twice; declared parameter \"bad name\" is not a name ([A-Za-z0-9_-]+)")
        #expect(mixedUp.inits.count == 0 && host.modules.isEmpty)
    }
}
