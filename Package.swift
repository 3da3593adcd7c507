// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "StreamAdapt",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "streamadapt", targets: ["streamadapt"]),
        .library(name: "StreamAdaptCore", targets: ["StreamAdaptCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // OpenBLAS (CBLAS + the LAPACK Cholesky routines). apt: libopenblas-dev.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // librdkafka, including the mock cluster used as the embedded broker. apt: librdkafka-dev.
        .systemLibrary(
            name: "CRdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // The adaptation math: heads, drift scoring, prequential evaluation. No I/O.
        .target(
            name: "StreamAdaptCore",
            dependencies: ["CBLAS"]
        ),
        // Kafka I/O: producer, consumer, embedded mock broker (librdkafka).
        .target(
            name: "StreamAdaptKafka",
            dependencies: ["CRdkafka"]
        ),
        // A TCP port forwarder on swift-nio (`broker --port`: a fixed bootstrap port for the mock broker).
        .target(
            name: "StreamAdaptPortForwarder",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The daemon: event formats, pipeline files, the consume-predict-learn-publish loop,
        // checkpoints, metrics and health endpoints.
        .target(
            name: "StreamAdaptDaemon",
            dependencies: [
                "StreamAdaptCore",
                "StreamAdaptKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The command-line tool: `streamadapt run|demo|broker|eval|bench|config`.
        .executableTarget(
            name: "streamadapt",
            dependencies: [
                "StreamAdaptCore",
                "StreamAdaptKafka",
                "StreamAdaptDaemon",
                "StreamAdaptPortForwarder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "StreamAdaptCoreTests",
            dependencies: ["StreamAdaptCore"]
        ),
        .testTarget(
            name: "StreamAdaptDaemonTests",
            dependencies: ["StreamAdaptDaemon", "StreamAdaptKafka", "StreamAdaptCore"]
        ),
        // The Kafka layer in process, against the embedded broker; and the port forwarder.
        .testTarget(
            name: "StreamAdaptKafkaTests",
            dependencies: [
                "StreamAdaptKafka",
                "StreamAdaptPortForwarder",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Runs the built `streamadapt` binary as a separate process.
        .testTarget(
            name: "StreamAdaptCLITests",
            dependencies: ["streamadapt", "StreamAdaptCore", "StreamAdaptDaemon"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
