import Foundation
import PackagePlugin

/// Embeds the target's varlink interface definition (`Interface/io.modload.Host.varlink`) as a
/// Swift string on every build, so the file in the repository is exactly what the daemon returns
/// for `org.varlink.service.GetInterfaceDescription` — with no resource bundle to lose.
@main
struct VarlinkInterfacePlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let definition = context.package.directoryURL.appending(path: "Sources/\(target.name)/Interface/io.modload.Host.varlink")
        let output = context.pluginWorkDirectoryURL.appending(path: "InterfaceDefinition.swift")
        return [
            .buildCommand(
                displayName: "Embedding the varlink interface io.modload.Host",
                executable: try context.tool(named: "modload-varlink-embed").url,
                arguments: [definition.path, output.path],
                inputFiles: [definition],
                outputFiles: [output])
        ]
    }
}
