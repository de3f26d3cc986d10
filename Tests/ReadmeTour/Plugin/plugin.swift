import Foundation
import PackagePlugin

/// Generates the README tour's sources from `README.md` on every build: the program's `main.swift`
/// (target `ModloadReadmeTour`) and the module author's block (target `ModloadReadmeModule`).
@main
struct ReadmeTourPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let readme = context.package.directoryURL.appending(path: "README.md")
        let kind = target.name == "ModloadReadmeModule" ? "module" : "program"
        let output = context.pluginWorkDirectoryURL.appending(path: kind == "program" ? "main.swift" : "ReadmeModule.swift")
        return [
            .buildCommand(
                displayName: "Extracting the Swift blocks of README.md (\(kind))",
                executable: try context.tool(named: "modload-readme-extract").url,
                arguments: [readme.path, kind, output.path],
                inputFiles: [readme],
                outputFiles: [output])
        ]
    }
}
