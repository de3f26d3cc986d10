// journal — a module file written in Swift (with the ModloadModule library): a toy journal that
// checksums every record it commits with the C module `checksum`'s CRC-32C.
//
// Imports  checksum_crc32c  u32(u32,ptr,usize)   from checksum (C)
// Exports  journal_commit   u32(ptr,usize)        commits a record; returns its checksum
//          journal_commits  u64()                 records committed since init
//          journal_version  u32()                 1, or 2 when built with -D JOURNAL_V2
// Params   barrier (bool)   whether commits are ordered (logged at init)
// Aliases  fs-journal
//
// The metadata section is written after linking: `modload seal libjournal.so` (Swift cannot place
// strings in a section at compile time; the C examples declare theirs with the MODLOAD_* macros).
//
// Build: see Examples/README.md (swiftc with the ModloadModule library, or a SwiftPM .dynamic
// library product depending on ModloadModule).
import ModloadModule
import Synchronization

typealias Crc32c = @convention(c) (UInt32, UnsafeRawPointer?, UInt) -> UInt32  // size_t: UInt, "usize"

/// The import, bound at init (the host keeps it valid until exit returns).
private let checksum = Mutex<Crc32c?>(nil)
private let commits = Atomic<UInt64>(0)

private let commit: @convention(c) (UnsafeRawPointer?, UInt) -> UInt32 = { record, length in
    guard let crc = checksum.withLock({ $0 }) else { return 0 }
    commits.add(1, ordering: .relaxed)
    return crc(0, record, length)
}

private let committed: @convention(c) () -> UInt64 = { commits.load(ordering: .relaxed) }

private let version: @convention(c) () -> UInt32 = {
    #if JOURNAL_V2
    return 2
    #else
    return 1
    #endif
}

let module = ModuleDescription(
    name: "journal", version: "1.0", description: "a journal with CRC-32C checksummed records", license: "MIT",
    exports: [
        .function("journal_commit", commit),
        .function("journal_commits", committed),
        .function("journal_version", version),
    ],
    imports: [.function("checksum_crc32c", as: Crc32c.self)],
    parameters: [.bool("barrier", default: true, description: "order commits with a barrier")],
    aliases: ["fs-journal"],
    softDependencies: "pre: checksum",
    exit: { host in
        checksum.withLock { $0 = nil }
        host.log("journal closed after \(commits.load(ordering: .relaxed)) commits")
    }
) { host in
    guard let crc = host.symbol("checksum_crc32c", as: Crc32c.self) else { throw ModuleFailure.noDevice }
    checksum.withLock { $0 = crc }
    commits.store(0, ordering: .relaxed)
    host.log("journal v\(version()) ready (barrier \(host.bool("barrier") ?? true ? "on" : "off"))")
}

@_cdecl("modload_module_descriptor_v2")
public func modloadModuleDescriptor() -> UnsafeRawPointer { module.descriptor }
