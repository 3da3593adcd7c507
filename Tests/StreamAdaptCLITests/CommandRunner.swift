import Foundation
import Synchronization

/// Runs the `streamadapt` binary built next to the test bundle and captures its output.
struct CommandRunner {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String

        /// stdout parsed as a JSON object.
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any] else {
                throw CocoaError(.coderInvalidValue)
            }
            return object
        }
    }

    /// The package root (two levels above this file's folder).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The shared data folder beside the project, if present.
    static var sharedData: URL? {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
        return FileManager.default.fileExists(atPath: url.appendingPathComponent("fmnist_opennsfw_clean/images.f32").path)
            ? url : nil
    }

    static var binary: URL {
        let here = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        return here.appendingPathComponent("streamadapt")
    }

    static func run(_ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Both pipes are drained at once: a child that fills one while the other is being read to its
        // end would otherwise block forever.
        let errCollected = Collected()
        let errReader = DispatchGroup()
        errReader.enter()
        DispatchQueue.global().async { [errHandle = err.fileHandleForReading] in
            let data = errHandle.readDataToEndOfFile()
            errCollected.data.withLock { $0 = data }
            errReader.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errReader.wait()
        let errData = errCollected.data.withLock { $0 }
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Bytes collected by a reader thread.
final class Collected: Sendable {
    let data = Mutex(Data())
}
