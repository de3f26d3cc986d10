import Modload
import ModloadControl

/// The host's values as the interface's: one place where the core's types meet the protocol's.
extension HostInterface.Module {
    init(_ info: ModuleInfo) {
        self.init(
            name: info.name, generation: info.generation, version: info.version, description: info.description, license: info.license,
            state: info.state.description, unloading: info.isUnloading, size: info.size, refcount: info.refcount,
            usedBy: info.usedBy, uses: info.uses,
            parameters: info.parameters.text,
            parameterWarnings: info.parameterWarnings, taints: info.taints.description.map(String.init), file: info.file,
            loadedAsDependency: info.loadedAsDependency)
    }
}

extension HostInterface.HolderReport {
    init(_ report: HoldersReport) {
        self.init(
            module: report.module, state: report.state.description, dependents: report.dependents, references: report.references,
            referenceHolders: report.referenceHolders)
    }
}

extension HostInterface.Failure {
    init(_ error: ModuleError) {
        self.init(code: error.code.name, errno: Int(error.errno), reason: "\(error)", module: error.module, file: error.file)
    }
}

extension HostInterface.Event {
    init(_ event: ModuleEvent) {
        self.init(
            kind: event.kind.rawValue, module: event.module, generation: event.generation,
            error: event.error.map(HostInterface.Failure.init))
    }
}

extension HostInterface.ModuleCounts {
    init(name: String, _ counts: ModuleStatistics) {
        let time = counts.initTime.components
        self.init(
            name: name, attempts: counts.attempts, mergedJoiners: counts.mergedJoiners, cachedFailures: counts.cachedFailures,
            initCalls: counts.initCalls, loads: counts.loads, unloads: counts.unloads, failures: counts.failures,
            initMs: Double(time.seconds) * 1e3 + Double(time.attoseconds) / 1e15)
    }
}

extension HostInterface.FileCounts {
    init(_ counts: FileLoadStatistics) {
        self.init(
            attempts: counts.attempts, mergedJoiners: counts.mergedJoiners, failures: counts.failures, mapped: counts.mapped,
            unmapped: counts.unmapped, retired: counts.retired)
    }
}

extension VarlinkError {
    /// The interface's error for `error`: named after its code, with every field it has.
    init(_ error: ModuleError) {
        self = HostInterface.error(
            HostInterface.ErrorParameters(
                code: error.code.name, errno: Int(error.errno), reason: "\(error)", module: error.module, file: error.file,
                state: error.state?.description, holders: error.holders.map(HostInterface.HolderReport.init), cycle: error.cycle,
                memberErrors: error.memberErrors.isEmpty ? nil : error.memberErrors.map(HostInterface.Failure.init),
                rolledBack: error.rolledBack.isEmpty ? nil : error.rolledBack))
    }
}
