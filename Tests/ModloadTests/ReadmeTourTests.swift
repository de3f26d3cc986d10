import Foundation
import ModloadExampleBuilder
import Testing

/// The README's API tour, as written: the ```swift blocks of README.md are compiled into the
/// `ModloadReadmeTour` program at build time (Tests/ReadmeTour), and this test runs it in a folder
/// holding the two module files the tour loads, built from Examples/ — what a newcomer has after
/// following Examples/README.md. The run must succeed, and every `print(…)  // text` line of the
/// tour must print a line beginning with its text, in order: the README's comments are its
/// expected output.
@Suite("README API tour")
struct ReadmeTourTests {
    /// The README, found from the package root the example builder knows.
    static var readme: String { ExampleBuilder.shared.packageRoot + "/README.md" }

    /// The text each commented `print` of the tour promises, in order: on a line that starts with
    /// `print(`, what follows the last `//`.
    static func promisedOutput(of readme: String) throws -> [String] {
        var promised: [String] = []
        var inSwift = false
        for line in try String(contentsOfFile: readme, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "```swift" { inSwift = true; continue }
            if trimmed == "```" { inSwift = false; continue }
            guard inSwift, trimmed.hasPrefix("print("), let comment = trimmed.range(of: "//", options: .backwards) else { continue }
            promised.append(trimmed[comment.upperBound...].trimmingCharacters(in: .whitespaces))
        }
        return promised
    }

    @Test func tourRunsAsWritten() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modload-tour-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await ExampleBuilder.shared.copy(.checksum, to: folder + "/libchecksum.so")
        try await ExampleBuilder.shared.copy(.journal, to: folder + "/libjournal.so")

        let run = try await Programs.run(Programs.built("ModloadReadmeTour"), [], in: folder)
        #expect(
            run.status == 0 && !run.crashed,
            "the README tour failed (status \(run.status)\(run.crashed ? ", by a signal" : "")):\n\(run.standardError)\(run.standardOutput)")

        // Each promise begins a line of its own, after the previous one's.
        let lines = run.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var next = 0
        let promised = try Self.promisedOutput(of: Self.readme)
        #expect(promised.count >= 10, "the tour's commented prints were not found: \(promised)")
        for text in promised {
            guard let found = lines[next...].firstIndex(where: { $0.hasPrefix(text) }) else {
                Issue.record("the README promises \"\(text)\", which the tour did not print (after output line \(next)):\n\(run.standardOutput)")
                return
            }
            next = found + 1
        }
        // The module files were signed by the tour and loaded under an enforcing policy.
        #expect(run.standardOutput.contains("retired (it contains Swift code)"))
    }
}
