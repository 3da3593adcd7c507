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
        // The command-line tool: `streamadapt eval`, `streamadapt bench`.
        .executableTarget(
            name: "streamadapt",
            dependencies: [
                "StreamAdaptCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "StreamAdaptCoreTests",
            dependencies: ["StreamAdaptCore"]
        ),
        // Runs the built `streamadapt` binary as a separate process.
        .testTarget(
            name: "StreamAdaptCLITests",
            dependencies: ["streamadapt"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
