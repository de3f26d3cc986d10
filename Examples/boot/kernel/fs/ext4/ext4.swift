// ext4 — the fourth extended filesystem, a module file written in Swift (with the ModloadModule
// library), on top of three C modules: the journal (jbd2), the metadata block cache (mbcache) and
// the CRC32c checksum (crc32c_generic).
//
// Uses     jbd2_journal_start, mb_cache_create, crc32c   (u32() each, C)
// Exports  ext4_mounts  u32()   how often a filesystem was mounted
// Aliases  fs-ext4      (what mounting an ext4 root filesystem asks for)
// Params   init_us
import Glibc
import ModloadModule
import Synchronization

typealias Probe = @convention(c) () -> UInt32

private let mounts = Atomic<UInt32>(0)
private let mounted: @convention(c) () -> UInt32 = { mounts.add(1, ordering: .relaxed).newValue }

let module = ModuleDescription(
    name: "ext4", version: "1.0", description: "Fourth Extended Filesystem", license: "GPL",
    exports: [.function("ext4_mounts", mounted)],
    imports: [
        .function("jbd2_journal_start", as: Probe.self),
        .function("mb_cache_create", as: Probe.self),
        .function("crc32c", as: Probe.self),
    ],
    parameters: [.int("init_us", default: 0, description: "how long init waits for its device, in microseconds")],
    aliases: ["fs-ext4"]
) { host in
    for name in ["jbd2_journal_start", "mb_cache_create", "crc32c"] {
        guard let probe = host.symbol(name, as: Probe.self) else { throw ModuleFailure.noDevice }
        _ = probe()
    }
    let microseconds = host.int("init_us") ?? 0
    if microseconds > 0 { usleep(UInt32(clamping: microseconds)) }
}

@_cdecl("modload_module_descriptor_v2")
public func modloadModuleDescriptor() -> UnsafeRawPointer { module.descriptor }
