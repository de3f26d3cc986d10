#if canImport(Glibc)
import Glibc
#endif

/// The files of a configuration directory set, as kmod and systemd read `modprobe.d` and
/// `modules-load.d`: every regular `*.conf` file by basename across `directories` (most important
/// first); a basename found in several directories is read only from the first, so `/etc` masks
/// `/usr/lib`; the files in lexical order of basename. A missing directory is no error.
func configurationFiles(in directories: [String]) -> [String] {
    var byName: [String: String] = [:]
    for directory in directories {
        guard let names = directoryEntries(directory)?.map(\.name) else { continue }
        for name in names where name.hasSuffix(".conf") && byName[name] == nil {
            var status = stat()
            let path = "\(directory)/\(name)"
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            byName[name] = path
        }
    }
    return byName.keys.sorted().map { byName[$0]! }
}
