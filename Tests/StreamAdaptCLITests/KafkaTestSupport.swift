import Foundation
import Synchronization

/// An embedded broker run as a separate process (`streamadapt broker`), for integration tests.
final class BrokerProcess {
    let process = Process()
    let bootstrap: String
    private let directory: URL

    init(topics: [String], partitions: Int = 1, port: Int? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sa-broker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("bootstrap")
        process.executableURL = CommandRunner.binary
        process.arguments = ["broker", "--topics", topics.joined(separator: ","), "--partitions", "\(partitions)",
                             "--bootstrap-file", file.path] + (port.map { ["--port", "\($0)"] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        var address: String?
        for _ in 0..<200 {
            if let text = try? String(contentsOf: file, encoding: .utf8), !text.isEmpty {
                address = text
                break
            }
            usleep(50_000)
        }
        guard let address else {
            // deinit does not run for a failed init: reap the broker and remove its folder here.
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
            throw CocoaError(.fileNoSuchFile)
        }
        bootstrap = address
    }

    /// Takes the broker down (SIGUSR1) or up (SIGUSR2).
    func setDown() { kill(process.processIdentifier, SIGUSR1) }
    func setUp() { kill(process.processIdentifier, SIGUSR2) }

    deinit {
        if process.isRunning {
            process.interrupt()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A `streamadapt` process started by a test (`streamadapt run ...`), stdout discarded, stderr collected
/// in the background as it comes (so a chatty process never blocks on a full pipe, and a test can wait
/// for a log line). When the object goes away, also when a test throws before waiting for it, a process
/// still running is terminated (SIGTERM, then SIGKILL after 10 s) and reaped: no test leaks a daemon.
final class StreamAdaptProcess {
    let process = Process()
    private let collected = Collected()
    private let reader = DispatchGroup()

    /// - Parameter capturingStandardOutput: collect stdout with stderr (else it is discarded).
    init(_ arguments: [String], capturingStandardOutput: Bool = false) throws {
        process.executableURL = CommandRunner.binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = capturingStandardOutput ? pipe : FileHandle.nullDevice
        try process.run()
        let handle = pipe.fileHandleForReading
        reader.enter()
        DispatchQueue.global().async { [collected, reader] in
            while true {
                let chunk = handle.availableData  // blocks until data or end of file
                if chunk.isEmpty { break }
                collected.data.withLock { $0.append(chunk) }
            }
            reader.leave()
        }
    }

    var isRunning: Bool { process.isRunning }
    var processIdentifier: Int32 { process.processIdentifier }
    var terminationStatus: Int32 { process.terminationStatus }
    var terminationReason: Process.TerminationReason { process.terminationReason }
    func terminate() { process.terminate() }

    /// What it has written to stderr so far.
    var log: String { collected.data.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Polls its stderr until it contains `text` or `seconds` pass (or it exits); whether it does.
    func waitForLog(containing text: String, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            usleep(20_000)
        }
        return log.contains(text)
    }

    /// Waits up to `seconds` for the process to exit; kills it (SIGKILL) when it has not. Whether it
    /// exited by itself.
    func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        let exited = !process.isRunning
        if !exited { kill(process.processIdentifier, SIGKILL) }
        waitForExit()
        return exited
    }

    /// Waits for the process to exit and returns everything it wrote to stderr.
    @discardableResult
    func waitForExit() -> String {
        process.waitUntilExit()
        reader.wait()
        return log
    }

    deinit {
        if process.isRunning {
            process.terminate()
            for _ in 0..<200 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }
}

/// A TCP port on 127.0.0.1 that is free now: binds a socket to port 0, reads the port the kernel
/// chose with getsockname and closes the socket.
func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    let port = Int(UInt16(bigEndian: address.sin_port))
    guard port > 0 else { throw POSIXError(.EADDRNOTAVAIL) }
    return port
}

/// kcat, the independent Kafka client the integration tests produce and consume with.
enum Kcat {
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/kcat") }

    /// Produces one message per line, `key|value`.
    static func produce(bootstrap: String, topic: String, lines: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
        process.arguments = ["-b", bootstrap, "-P", "-t", topic, "-K", "|", "-X", "message.max.bytes=5000000"]
        let input = Pipe()
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Every message of a topic from the beginning, as (key, headers, value) with the format
    /// `%k\t%h\t%s`: kcat exits at the end of the partition.
    static func consume(bootstrap: String, topic: String) throws -> [(key: String, headers: String, value: String)] {
        let output = try standardOutput(
            of: "/usr/bin/kcat", ["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\\t%h\\t%s\\n"])
        return output.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "", parts.count > 2 ? String(parts[2]) : "")
        }
    }
}

/// The bundled sample as JSON event lines `id|{...}` for kcat.
enum SampleEvents {
    static let directory = CommandRunner.packageRoot.appendingPathComponent("samples/fmnist-drift")

    static func load() throws -> (embeddings: [Float], labels: [Int], names: [String], dimension: Int) {
        let images = try Data(contentsOf: directory.appendingPathComponent("images.f32"))
        let embeddings = images.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        let labels = try String(contentsOf: directory.appendingPathComponent("labels.txt"), encoding: .utf8)
            .split(separator: "\n").compactMap { Int($0) }
        let names = try String(contentsOf: directory.appendingPathComponent("classes.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        return (embeddings, labels, names, embeddings.count / labels.count)
    }

    /// Rows `range` as `id|json` lines, labelled by class name (or index when `byIndex`).
    static func lines(_ range: Range<Int>, byIndex: Bool = false) throws -> [String] {
        let (embeddings, labels, names, d) = try load()
        return range.map { row in
            let values = embeddings[(row * d)..<((row + 1) * d)].map { "\($0)" }.joined(separator: ",")
            let label = byIndex ? "\(labels[row])" : "\"\(names[labels[row]])\""
            return "e\(row)|{\"id\":\"e\(row)\",\"embedding\":[\(values)],\"label\":\(label),\"ts\":\(1_700_000_000_000 + row)}"
        }
    }

    /// A pipeline file for `bootstrap` with topics suffixed by `suffix`, in a new temporary folder.
    static func pipeline(
        suffix: String, checkpointEvery: Int = 5000, metricsPort: Int = 0, maxBlock: Int? = nil, control: String? = nil,
        extra: String = ""
    ) throws -> (path: String, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(suffix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let yaml = """
            name: test-\(suffix)
            topics:
              input: embeddings
              predictions: predictions-\(suffix)
              alerts: alerts-\(suffix)
              deadLetter: dead-\(suffix)\(control.map { "\n  control: \($0)" } ?? "")
            model:
              classes: \(directory.path)
              head: kalman\(maxBlock.map { "\n  maxBlock: \($0)" } ?? "")
            drift:
              warmupEvents: 150
              referenceEvents: 300
            checkpoint:
              directory: \(folder.path)/checkpoints
              everyEvents: \(checkpointEvery)
            metrics:
              port: \(metricsPort)
            \(extra)
            """
        let path = folder.appendingPathComponent("pipeline.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, folder)
    }
}

/// GET `url` with curl; (status, body), or nil when nothing answers.
func httpGet(_ url: String) -> (Int, String)? {
    guard let text = try? standardOutput(of: "/usr/bin/curl", ["-s", "-m", "5", "-w", "\n%{http_code}", url]) else { return nil }
    guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]), status > 0 else { return nil }
    return (status, String(text[..<newline]))
}

/// Runs the program at `path` with `arguments` to its end and returns what it wrote to stdout (stderr
/// discarded).
func standardOutput(of path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
