// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Modload",
    products: [
        .library(name: "Modload", targets: ["Modload"]),
        // For module authors: write a module file in Swift; produces the C descriptor.
        .library(name: "ModloadModule", targets: ["ModloadModule"]),
        // The module repository: depmod, modprobe.d, and a resolver over a module root.
        .library(name: "ModloadRepository", targets: ["ModloadRepository"]),
        // The control protocol (varlink): its messages, the io.modload.Host interface, a client.
        .library(name: "ModloadControl", targets: ["ModloadControl"]),
        // The running host: a daemon serving the control protocol on a Unix socket.
        .library(name: "ModloadDaemon", targets: ["ModloadDaemon"]),
        .executable(name: "modload", targets: ["modload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        // Ed25519 for module signatures (Files/Signing only).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // Metrics the core reports (no backend: the embedding program bootstraps one, or none).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // The daemon's layer only: the socket and event loop, its lifecycle, its metrics exporter.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation` (the DocC catalogs of Modload and ModloadModule).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // The read side of the quiescence domain: inline read sections and grace periods, in C so
        // that a read section inlines into its caller as two thread-local stores.
        .target(name: "CModloadRCU"),
        // The module-file ABI: one C header (include/modload.h), shared by the host and by modules
        // written in any language.
        .target(name: "CModloadABI"),
        // The module-file ABI's Swift side, shared by the host and by module authors: the C
        // signature convention. Depends on nothing; compiled into Swift module files.
        .target(name: "ModloadABI"),
        // Linux calls Swift's Glibc module does not expose (memfd_create and file seals).
        .target(name: "CModloadLinux"),
        // The host core: module table, load/merge pipeline, references, unloading, introspection.
        .target(
            name: "Modload",
            dependencies: [
                "CModloadRCU",
                "CModloadABI",
                "ModloadABI",
                "CModloadLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Module authoring in Swift: a module description that produces the C descriptor. Compiled
        // into each module file; depends on nothing but the ABI header.
        .target(
            name: "ModloadModule",
            dependencies: ["CModloadABI", "ModloadABI"]
        ),
        // The module repository (libkmod's role): a module root, depmod and its index,
        // modprobe.d configuration, and a resolver a host's requests use. The core never imports it.
        .target(name: "ModloadRepository", dependencies: ["Modload"]),
        // The control protocol (varlink, exactly): framing, Codable messages, the io.modload.Host
        // interface (its definition file, embedded at build time, is what the daemon describes
        // itself with), and the blocking client the CLI verbs use. Depends on no other target.
        .target(
            name: "ModloadControl", exclude: ["Interface/io.modload.Host.varlink"],
            plugins: ["VarlinkInterfacePlugin"]),
        .executableTarget(name: "modload-varlink-embed", path: "Plugins/VarlinkEmbed"),
        .plugin(
            name: "VarlinkInterfacePlugin", capability: .buildTool(), dependencies: ["modload-varlink-embed"],
            path: "Plugins/VarlinkInterfacePlugin"),
        // The daemon (systemd-udevd's role): one host with a repository, the control server on a
        // Unix socket (swift-nio), peer credentials, its lifecycle (swift-service-lifecycle),
        // logs and a Prometheus exporter. Nothing below it imports it.
        .target(
            name: "ModloadDaemon",
            dependencies: [
                "Modload", "ModloadRepository", "ModloadControl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Builds the module files under Examples/ from source (cc, swiftc), for tests and benchmarks.
        .target(name: "ModloadExampleBuilder", dependencies: ["Modload"]),
        // The demo system `modload boot` brings up: the module tree of Examples/boot (built from
        // source, indexed) booted through a repository, or the built-in catalog; the timeline.
        .target(
            name: "ModloadDemo",
            dependencies: [
                "Modload", "ModloadRepository", "ModloadExampleBuilder", "ModloadControl",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The physical limits the benchmarks are held against, measured in C in the same run.
        .target(name: "CModloadLimits"),
        // Benchmark scenarios and their baselines (never in the library).
        .target(
            name: "ModloadBench",
            dependencies: [
                "Modload", "ModloadRepository", "ModloadExampleBuilder", "CModloadABI", "CModloadLimits",
                "ModloadControl", "ModloadDaemon", "ModloadDemo",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The command-line tool: a thin layer over the library.
        .executableTarget(
            name: "modload",
            dependencies: [
                "Modload",
                "ModloadRepository",
                "ModloadControl",
                "ModloadDaemon",
                "ModloadDemo",
                "ModloadBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The README's Swift code, compiled on every build from README.md itself (the plugin
        // extracts its ```swift blocks): the API tour as a program ReadmeTourTests runs, and the
        // module author's block as a library.
        .executableTarget(name: "modload-readme-extract", path: "Tests/ReadmeTour/Extract"),
        .plugin(
            name: "ReadmeTourPlugin", capability: .buildTool(), dependencies: ["modload-readme-extract"],
            path: "Tests/ReadmeTour/Plugin"),
        .executableTarget(
            name: "ModloadReadmeTour", dependencies: ["Modload", "ModloadControl"], path: "Tests/ReadmeTour/Program",
            plugins: ["ReadmeTourPlugin"]),
        .target(
            name: "ModloadReadmeModule", dependencies: ["ModloadModule"], path: "Tests/ReadmeTour/ModuleBlock",
            plugins: ["ReadmeTourPlugin"]),
        .testTarget(
            name: "ModloadTests",
            dependencies: [
                // The commands, so `swift test` builds them: CLITests run modload as a user does,
                // ReadmeTourTests runs the README's tour.
                "modload",
                "ModloadReadmeTour",
                "Modload",
                "ModloadRepository",
                "ModloadControl",
                "ModloadDaemon",
                "ModloadDemo",
                "ModloadExampleBuilder",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
