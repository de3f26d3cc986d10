import Foundation
import Testing
@testable import Modload
import ModloadRepository

/// The module repository: depmod over a tree of module files built from source, modprobe.d
/// configuration, and requests resolved through it — kmod's testsuite scenarios, ported.
@Suite("Module repository: depmod, configuration, modprobe")
struct RepositoryTests {
    /// depmod's index of `tree`, published.
    static func index(_ tree: ModuleTree) throws -> Depmod.Report {
        let report = try Depmod.run(try ModuleRoot(tree.root))
        try report.index.write(to: try ModuleRoot(tree.root))
        return report
    }

    /// A host whose requests resolve through `tree` with `configuration`.
    static func host(_ tree: ModuleTree, configuration: ModprobeConfiguration = ModprobeConfiguration()) throws -> (ModuleHost, ModuleRepository) {
        let repository = try ModuleRepository(root: try ModuleRoot(tree.root), configuration: configuration)
        return (try ModuleHost(configuration: .testing(resolver: repository)), repository)
    }

    /// kmod's mod-foo fixture: mod-foo uses a, b and c.
    static func foo(_ tree: ModuleTree) async throws {
        try await tree.module("mod-foo-a", at: "kernel/lib/mod-foo-a.so", exports: ["print_fooA"])
        try await tree.module("mod-foo-b", at: "kernel/fs/foo/mod-foo-b.so", exports: ["print_fooB"])
        try await tree.module("mod-foo-c", at: "kernel/mod-foo-c.so", exports: ["print_fooC"])
        try await tree.module("mod-foo", at: "kernel/fs/mod-foo.so", imports: ["print_fooB", "print_fooA", "print_fooC"])
    }

    @Test func depmodWritesKmodsFilesWithTheClosureUsersFirst() async throws {
        let tree = try ModuleTree()
        try await Self.foo(tree)
        try await tree.module("pcspkr", aliases: ["platform:pcspkr"], softdep: "pre: mod-foo-c")
        let report = try Self.index(tree)
        #expect(report.warnings.isEmpty, "\(report.warnings)")
        let dep = try String(contentsOfFile: tree.root + "/modules.dep", encoding: .utf8)
        #expect(dep.split(separator: "\n").contains("kernel/fs/mod-foo.so: kernel/fs/foo/mod-foo-b.so kernel/lib/mod-foo-a.so kernel/mod-foo-c.so"), "\(dep)")
        #expect(dep.split(separator: "\n").contains("kernel/fs/foo/mod-foo-b.so:"))
        #expect(dep.split(separator: "\n").contains("kernel/lib/mod-foo-a.so:"))
        let alias = try String(contentsOfFile: tree.root + "/modules.alias", encoding: .utf8)
        #expect(alias == "# Aliases extracted from modules themselves.\nalias platform:pcspkr pcspkr\n")
        let symbols = try String(contentsOfFile: tree.root + "/modules.symbols", encoding: .utf8)
        #expect(symbols.hasPrefix("# Aliases for symbols, used by symbol_request().\n"))
        #expect(symbols.contains("alias symbol:print_fooA mod_foo_a\n"))
        let softdep = try String(contentsOfFile: tree.root + "/modules.softdep", encoding: .utf8)
        #expect(softdep == "# Soft dependencies extracted from modules themselves.\nsoftdep pcspkr pre: mod-foo-c\n")
        // What the loader reads back is what was written.
        #expect(try ModuleIndex.load(from: try ModuleRoot(tree.root)) == report.index)
        // Providers first: the plan loads a, then b, then c, then mod-foo.
        let repository = try ModuleRepository(root: try ModuleRoot(tree.root))
        #expect(try repository.plan("mod-foo").map(\.module) == ["mod_foo_c", "mod_foo_a", "mod_foo_b", "mod_foo"])
    }

    @Test func aCycleIsNamedAsKmodNamesItAndNothingIsWritten() async throws {
        let tree = try ModuleTree()
        // a→b→c→a (a and b also use f); d↔e; h→i→j→h and h→i→j→k→h — kmod's detect-loop graph.
        try await tree.module("mod-loop-a", exports: ["a"], imports: ["b", "f"])
        try await tree.module("mod-loop-b", exports: ["b"], imports: ["c", "f"])
        try await tree.module("mod-loop-c", exports: ["c"], imports: ["a"])
        try await tree.module("mod-loop-d", exports: ["d"], imports: ["e"])
        try await tree.module("mod-loop-e", exports: ["e"], imports: ["d"])
        try await tree.module("mod-loop-f", exports: ["f"])
        try await tree.module("mod-loop-h", exports: ["h"], imports: ["i"])
        try await tree.module("mod-loop-i", exports: ["i"], imports: ["j"])
        try await tree.module("mod-loop-j", exports: ["j"], imports: ["h", "k"])
        try await tree.module("mod-loop-k", exports: ["k"], imports: ["h"])
        let run = try await CLITests.modload(["depmod", "-b", tree.root])
        #expect(run.status == 1)
        let lines = run.standardError.split(separator: "\n").map(String.init)
        #expect(lines.last == "depmod: ERROR: Found 9 modules in dependency cycles!", "\(run.standardError)")
        // Cycles compared as rings (kmod's starting point depends on hash order).
        func ring(_ line: String) -> Set<String> { Set(line.replacingOccurrences(of: "depmod: ERROR: Cycle detected: ", with: "").components(separatedBy: " -> ")) }
        let cycles = Set(lines.dropLast().map(ring))
        #expect(cycles == [
            ["mod_loop_a", "mod_loop_b", "mod_loop_c"], ["mod_loop_d", "mod_loop_e"], ["mod_loop_h", "mod_loop_i", "mod_loop_j"],
            ["mod_loop_h", "mod_loop_i", "mod_loop_j", "mod_loop_k"],
        ])
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("depmod: ERROR: Cycle detected: ") })
        #expect(!FileManager.default.fileExists(atPath: tree.root + "/modules.dep"))
        #expect(!FileManager.default.fileExists(atPath: tree.root + "/\(ModuleIndex.currentLink)"))
    }

    @Test func showDependsAndDryRunPrintThePlanAndLoadNothing() async throws {
        let tree = try ModuleTree()
        try await Self.foo(tree)
        try tree.write("options mod-foo-a delay_ms=1\n", to: "modprobe.d/test.conf")
        _ = try await CLITests.modload(["depmod", "-b", tree.root])
        let show = try await CLITests.modload(["modprobe", "-b", tree.root, "--show-depends", "mod-foo", "fail=0"])
        #expect(show.status == 0, "\(show.standardError)")
        #expect(show.standardOutput == """
            insmod \(tree.root)/kernel/mod-foo-c.so 
            insmod \(tree.root)/kernel/lib/mod-foo-a.so delay_ms=1
            insmod \(tree.root)/kernel/fs/foo/mod-foo-b.so 
            insmod \(tree.root)/kernel/fs/mod-foo.so fail=0

            """)
        let dry = try await CLITests.modload(["modprobe", "-b", tree.root, "-n", "mod-foo"])
        #expect(dry.standardOutput.split(separator: "\n").count == 4)
        // The library's plan loads nothing either.
        let (host, repository) = try Self.host(tree)
        _ = try repository.plan("mod-foo")
        #expect(host.modules.isEmpty)
        // Unknown names are one line and exit 1.
        let unknown = try await CLITests.modload(["modprobe", "-b", tree.root, "-D", "nothing"])
        #expect(unknown.status == 1)
        #expect(unknown.standardError == "modload: nothing: not found in the module root \(try ModuleRoot(tree.root).path)\n")
    }

    @Test func aRequestLoadsTheDependencyTreeWithIndependentBranchesOverlapping() async throws {
        let tree = try ModuleTree()
        // A diamond under two branches: top needs left and right; both need base.
        try await tree.module("base", exports: ["base_fn"])
        try await tree.module("left", exports: ["left_fn"], imports: ["base_fn"])
        try await tree.module("right", exports: ["right_fn"], imports: ["base_fn"])
        try await tree.module("top", imports: ["left_fn", "right_fn"])
        // Inits long enough to overlap even on a loaded machine (the whole suite runs at once).
        try tree.write("options left delay_ms=1000\noptions right delay_ms=1000\n", to: "modprobe.d/slow.conf")
        _ = try Self.index(tree)
        let configuration = ModprobeConfiguration(directories: [tree.root + "/modprobe.d"])
        let (host, _) = try Self.host(tree, configuration: configuration)
        let outcome = try await host.request("top")
        #expect(outcome.how == .loaded)
        #expect(Set(host.modules.map(\.name)) == ["base", "left", "right", "top"])
        #expect(host.statistics(of: "base")?.initCalls == 1)  // the shared dependency, once
        #expect(host.info(of: "left")?.parameters.int("delay_ms") == 1000)  // configured options applied
        // The branches' inits overlapped: each began before the other ended.
        func time(_ module: String, _ what: String) throws -> UInt64 {
            let ref = try host.acquire(module)
            return try ref.export("\(module)_\(what)", as: (@convention(c) () -> UInt64).self)()
        }
        let (leftStart, leftEnd) = (try time("left", "started"), try time("left", "ended"))
        let (rightStart, rightEnd) = (try time("right", "started"), try time("right", "ended"))
        #expect(leftStart < rightEnd && rightStart < leftEnd, "left \(leftStart)…\(leftEnd), right \(rightStart)…\(rightEnd)")
        // Everything but top was loaded for a dependency.
        #expect(host.modules.filter(\.loadedAsDependency).map(\.name).sorted() == ["base", "left", "right"])
    }

    @Test func aRequestOpensTheWholeClosureDeepestFirstWhileInitsRun() async throws {
        // A chain longer than the closure lane is wide (one opening per processor): a request for
        // its top asks for the whole closure at once, in load order, so the deepest file is
        // mapped before the first dependency's, whose turn in the lane comes only once the deepest
        // has been admitted. Found a level at a time, each file would be mapped only after the one
        // above it was bound: the first dependency first, the deepest last.
        let depth = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 2
        let tree = try ModuleTree()
        for level in 1...depth {
            try await tree.module("l\(level)", exports: ["l\(level)_fn"], imports: level < depth ? ["l\(level + 1)_fn"] : [])
        }
        try await tree.module("top", imports: ["l1_fn"])
        _ = try Self.index(tree)
        let (host, repository) = try Self.host(tree)
        #expect(repository.dependencies(of: "top") == (1...depth).reversed().map { "l\($0)" })
        try await host.request("top")
        func time(_ module: String, _ what: String) throws -> UInt64 {
            try host.acquire(module).export("\(module)_\(what)", as: (@convention(c) () -> UInt64).self)()
        }
        let leaf = "l\(depth)"
        #expect(try time(leaf, "mapped") < time("l1", "mapped"), "the deepest file was mapped after the first dependency's")
        #expect(host.modules.count == depth + 1)
        #expect(host.modules.filter(\.loadedAsDependency).count == depth)
    }

    @Test func blacklistAppliesToAliasesOnlyAndDenyToEverything() async throws {
        let tree = try ModuleTree()
        try await tree.module("pcspkr", aliases: ["platform:pcspkr"])
        try await tree.module("pcspkr2", aliases: ["platform:pcspkr2"])
        try await tree.module("floppy", exports: ["floppy_fn"], aliases: ["block-major-2-*"])
        try await tree.module("uses_floppy", imports: ["floppy_fn"])
        _ = try Self.index(tree)
        let configuration = ModprobeConfiguration(parsing: "blacklist pcspkr\ndeny floppy\n", file: "test.conf")
        let (host, _) = try Self.host(tree, configuration: configuration)
        let blocked = await expectError(.notFound) { try await host.request("platform:pcspkr") }
        #expect(blocked?.reason.contains("pcspkr is blacklisted for aliases (test.conf:1)") == true)
        try await host.request("platform:pcspkr2")  // an exact match, not a prefix
        try await host.request("pcspkr")  // by name: loads
        let denied = await expectError(.permissionDenied) { try await host.request("floppy") }
        #expect(denied?.reason.contains("floppy is denied (test.conf:2)") == true)
        _ = await expectError(.permissionDenied) { try await host.request("block-major-2-0") }
        // ... and as a dependency.
        let dependent = await expectError(.permissionDenied) { try await host.request("uses_floppy") }
        #expect(dependent?.description.contains("floppy is denied") == true, "\(String(describing: dependent))")
        #expect(Set(host.modules.map(\.name)) == ["pcspkr", "pcspkr2"])
    }

    @Test func softdepsLoadAroundTheModuleEveryLineMergedAndALoopEnds() async throws {
        let tree = try ModuleTree()
        try await tree.module("mod-loop-a")
        try await tree.module("mod-loop-b")
        try await tree.module("foo-a")
        try await tree.module("foo-b")
        try await tree.module("foo-c")
        try await tree.module("foo")
        _ = try Self.index(tree)
        try tree.write("softdep foo pre: foo-a\n", to: "one/a.conf")
        try tree.write("softdep foo pre: foo-b\nsoftdep foo post: foo-c\n", to: "two/b.conf")
        try tree.write("softdep mod-loop-b post: mod-loop-a\nsoftdep mod-loop-a post: mod-loop-b\n", to: "two/loop.conf")
        let configuration = ModprobeConfiguration(directories: [tree.root + "/one", tree.root + "/two"])
        #expect(configuration.softDependencies["foo"] == SoftDependencies(pre: ["foo-a", "foo-b"], post: ["foo-c"]))
        let (host, repository) = try Self.host(tree, configuration: configuration)
        #expect(try repository.plan("foo").map(\.module) == ["foo_a", "foo_b", "foo", "foo_c"])
        let events = host.events()
        try await host.request("foo")
        try await host.request("mod-loop-b")
        #expect(Set(host.modules.map(\.name)) == ["foo_a", "foo_b", "foo", "foo_c", "mod_loop_a", "mod_loop_b"])
        // pre before, post after: the order modules went live.
        var live: [String] = []
        for await event in events where event.kind == .live {
            live.append(event.module)
            if live.count == 6 { break }
        }
        #expect(Array(live.prefix(4)) == ["foo_a", "foo_b", "foo", "foo_c"])
    }

    @Test func configurationPrecedenceOptionsAndNamedWarnings() throws {
        let tree = try ModuleTree()
        try tree.write("options snd-hda index=1\noptions snd_hda model=auto\n", to: "etc/sound.conf")
        try tree.write("options snd-hda index=9\n", to: "lib/sound.conf")  // masked by etc/sound.conf
        try tree.write("options snd-hda \\\n  power_save=1\nbogus line here\ninstall snd-hda /bin/true\nalias\n", to: "lib/zz.conf")
        try tree.write("not read", to: "lib/notes.txt")
        try tree.write("", to: "lib/unreadable.conf")
        chmod(tree.root + "/lib/unreadable.conf", 0)
        let configuration = ModprobeConfiguration(directories: [tree.root + "/etc", tree.root + "/lib", tree.root + "/absent"])
        #expect(configuration.files == [tree.root + "/etc/sound.conf", tree.root + "/lib/zz.conf"] || getuid() == 0)
        #expect(configuration.options(for: "snd_hda") == "index=1 model=auto power_save=1")
        let messages = configuration.warnings.map(\.description)
        #expect(messages.contains("\(tree.root)/lib/zz.conf:3: ignoring bad line starting with 'bogus': unknown directive"), "\(messages)")
        #expect(messages.contains { $0.hasPrefix("\(tree.root)/lib/zz.conf:4: ignoring bad line starting with 'install': install commands are not supported") })
        #expect(messages.contains("\(tree.root)/lib/zz.conf:5: ignoring bad line starting with 'alias': alias takes a pattern and a module name"))
        if getuid() != 0 {
            #expect(messages.contains("\(tree.root)/lib/unreadable.conf: skipped: cannot open it: Permission denied"), "\(messages)")
        }
    }

    @Test func namesNormalizeAsKmods() throws {
        let configuration = ModprobeConfiguration(parsing: "alias -aa[-bb-]cc- target\n", file: "x.conf")
        #expect(configuration.aliases.first?.pattern == "_aa[-bb-]cc_")
    }

    @Test func removeUnloadsUnusedDependenciesAndRefusesInUseNamingTheHolder() async throws {
        let tree = try ModuleTree()
        try await Self.foo(tree)
        try await tree.module("other", imports: ["print_fooC"])
        _ = try Self.index(tree)
        let (host, repository) = try Self.host(tree)
        try await host.request("mod-foo")
        try await host.request("other")  // holds mod_foo_c
        try await host.request("mod-foo-a")  // asked for by a caller: stays
        let inUse = await expectError(.wouldBlock) { try await repository.remove("mod-foo-b", from: host) }
        #expect(inUse?.description.contains("used by mod_foo") == true, "\(String(describing: inUse))")
        let removed = try await repository.remove("mod-foo", from: host)
        #expect(removed == ["mod_foo", "mod_foo_b"])  // a was asked for, c is used by other
        #expect(Set(host.modules.map(\.name)) == ["mod_foo_a", "mod_foo_c", "other"])
        _ = await expectError(.notFound) { try await repository.remove("mod-foo", from: host) }
    }

    @Test func aStaleIndexIsCaughtAndBrokenFilesAreSkippedByName() async throws {
        let tree = try ModuleTree()
        let path = try await tree.module("fresh", exports: ["fresh_fn"])
        try tree.write("not an ELF file", to: "kernel/broken.so")
        let report = try Self.index(tree)
        #expect(report.warnings.map(\.description).contains { $0.hasPrefix("\(tree.root)/kernel/broken.so: skipped: ") }, "\(report.warnings)")
        #expect(report.index.entries.map(\.name) == ["fresh"])
        // The file changes after depmod ran.
        try await tree.module("fresh", exports: ["fresh_fn", "more"])
        let (host, _) = try Self.host(tree)
        let stale = await expectError(.invalidFile) { try await host.request("fresh") }
        #expect(stale?.description == "fresh [\(path)]: changed since the index was built (index is stale: run modload depmod)")
        #expect(host.modules.isEmpty)

        // A rewrite that keeps the inode, the size and the modification time (`cp -p` over it,
        // `rsync -t`) is caught by the change time, which nobody can set back.
        let reindexed = try Self.index(tree).index.entry(named: "fresh")!.stamp
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for _ in 0..<1_000 where FileStamp.of(path)!.changed == reindexed.changed {
            usleep(1_000)  // file times tick coarsely: rewrite until the change time moved
            let fd = open(path, O_WRONLY | O_TRUNC)
            #expect(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
            var times = [timespec(tv_sec: Int(reindexed.modified / 1_000_000_000), tv_nsec: Int(reindexed.modified % 1_000_000_000))]
            times.append(times[0])
            futimens(fd, times)
            close(fd)
        }
        let rewritten = FileStamp.of(path)!
        #expect(rewritten.inode == reindexed.inode && rewritten.size == reindexed.size && rewritten.modified == reindexed.modified)
        #expect(rewritten.changed != reindexed.changed)
        let (host2, _) = try Self.host(tree)
        _ = await expectError(.invalidFile) { try await host2.request("fresh") }
        #expect(host2.modules.isEmpty)
        // Indexed again, it loads.
        _ = try Self.index(tree)
        let (host3, _) = try Self.host(tree)
        _ = try await host3.request("fresh")
        #expect(host3.modules.map(\.name) == ["fresh"])
    }

    @Test func depmodsOptionsDuplicatesOrderAndModinfoByName() async throws {
        let tree = try ModuleTree()
        try await tree.module("alpha", exports: ["alpha_fn"], aliases: ["pci:v00008086d*"])
        try await tree.module("beta", imports: ["alpha_fn", "missing_fn"])
        try await tree.module("alpha", at: "updates/alpha.so", exports: ["alpha_fn"], aliases: ["pci:v00008086d*"])
        try await tree.module("gamma", at: "extra/gamma.so")
        try tree.write("extra/gamma.so\nkernel/beta.so\n", to: "modules.order")
        let root = try ModuleRoot(tree.root).path

        // -n: the text files on standard output, nothing written; -e: unresolved imports; -v: providers.
        let dry = try await CLITests.modload(["depmod", "-b", tree.root, "-n", "-e", "-v"])
        #expect(dry.status == 0, "\(dry.standardError)")
        #expect(!FileManager.default.fileExists(atPath: tree.root + "/modules.dep"))
        let printed = dry.standardOutput.split(separator: "\n").map(String.init)
        // modules.order first (gamma, beta), then the rest by path; updates/ wins over kernel/.
        #expect(Array(printed.drop { !$0.hasPrefix("/") }.drop { $0.hasPrefix("/") }.prefix(3))
            == ["extra/gamma.so:", "kernel/beta.so: updates/alpha.so", "updates/alpha.so:"], "\(printed)")
        #expect(printed.contains("\(root)/kernel/beta.so needs \"alpha_fn\": \(root)/updates/alpha.so"))
        #expect(printed.contains("alias pci:v00008086d* alpha"))
        #expect(dry.standardError.contains("depmod: WARNING: \(root)/kernel/beta.so needs unknown symbol missing_fn"))
        #expect(dry.standardError.contains(
            "depmod: WARNING: \(root)/kernel/alpha.so: module alpha is also in \(root)/updates/alpha.so, which is used"))

        // Written: modinfo finds a module by name or alias through the root, kmod's way.
        #expect(try await CLITests.modload(["depmod", "-b", tree.root]).status == 0)
        let byName = try await CLITests.modload(["modinfo", "-b", tree.root, "-F", "filename", "alpha"])
        #expect(byName.standardOutput == "\(root)/updates/alpha.so\n", "\(byName.standardError)")
        let byAlias = try await CLITests.modload(["modinfo", "-b", tree.root, "-F", "name", "pci:v00008086d00001234"])
        #expect(byAlias.standardOutput == "alpha\n", "\(byAlias.standardError)")

        // -c: the configuration, then the index's aliases and symbols.
        try tree.write("blacklist gamma\noptions beta debug=1\n", to: "modprobe.d/local.conf")
        let config = try await CLITests.modload(["modprobe", "-b", tree.root, "-c"])
        #expect(config.standardOutput.hasPrefix("blacklist gamma\noptions beta debug=1\n\n# End of configuration files. Dumping indexes now:\n\n"))
        #expect(config.standardOutput.contains("alias symbol:alpha_fn alpha\n"))
        let resolved = try await CLITests.modload(["modprobe", "-b", tree.root, "-R", "pci:v00008086d00001234"])
        #expect(resolved.standardOutput == "alpha\n")

        // A second run publishes a new generation; the one before stays, older ones go.
        for _ in 0..<3 { #expect(try await CLITests.modload(["depmod", "-b", tree.root]).status == 0) }
        let generations = try FileManager.default.contentsOfDirectory(atPath: tree.root + "/" + ModuleIndex.generationsFolder)
        #expect(generations.count == 2, "\(generations)")
    }

    @Test func aFailedDependencyFailsTheRequestNamingItAndWhatLoadedStays() async throws {
        let tree = try ModuleTree()
        try await tree.module("good", exports: ["good_fn"])
        try await tree.module("bad", exports: ["bad_fn"])
        try await tree.module("top", imports: ["good_fn", "bad_fn"])
        _ = try Self.index(tree)
        let (host, _) = try Self.host(tree, configuration: ModprobeConfiguration(parsing: "options bad fail=1\n", file: "t.conf"))
        let error = await expectError(.initFailed) { try await host.request("top") }  // bad's own error, carried up
        #expect(error?.module == "top")
        #expect(error?.description.contains("needs bad, which could not be loaded") == true, "\(String(describing: error))")
        // kmod's behaviour: what loaded stays loaded (all-or-nothing is another mode).
        #expect(host.modules.map(\.name) == ["good"])
    }

    @Test func modulesLoadListsNamesInFileOrderWithEtcMaskingUsrLib() throws {
        let tree = try ModuleTree()
        try tree.write("# boot\nfirst\n\n; old style comment\n  second\t\nnot a name\n", to: "etc/a.conf")
        try tree.write("masked\n", to: "lib/a.conf")
        try tree.write("third\n", to: "lib/b.conf")
        try tree.write("ignored\n", to: "lib/c.txt")
        let list = ModulesLoadList(directories: ["\(tree.root)/etc", "\(tree.root)/lib", "\(tree.root)/missing"])
        #expect(list.modules.map(\.name) == ["first", "second", "third"])
        #expect(list.modules.first.map { "\($0.origin)" } == "\(tree.root)/etc/a.conf:2")
        #expect(list.warnings.map(\.description) == ["\(tree.root)/etc/a.conf:6: not a module name: \"not a name\""])
    }
}
