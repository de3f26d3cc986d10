// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Modload",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Modload", targets: ["Modload"]),
        .executable(name: "modload", targets: ["modload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // The read side of the quiescence domain: inline read sections and grace periods, in C so
        // that a read section inlines into its caller as two thread-local stores.
        .target(name: "CModloadRCU"),
        // The host core: module table, load/merge pipeline, references, unloading, introspection.
        .target(
            name: "Modload",
            dependencies: [
                "CModloadRCU",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The demo system `modload boot` brings up (a catalog of built-in modules and the boot scenario).
        .target(
            name: "ModloadDemo",
            dependencies: ["Modload"]
        ),
        // Benchmark scenarios and their baselines (never in the library).
        .target(
            name: "ModloadBench",
            dependencies: ["Modload", .product(name: "Logging", package: "swift-log")]
        ),
        // The command-line tool: a thin layer over the library.
        .executableTarget(
            name: "modload",
            dependencies: [
                "Modload",
                "ModloadDemo",
                "ModloadBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ModloadTests",
            dependencies: [
                "Modload",
                "ModloadDemo",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
