import Foundation
import Logging
import Metrics
import Prometheus
import StreamAdaptCore
import StreamAdaptKafka
import Synchronization

@testable import StreamAdaptDaemon

#if canImport(Glibc)
import Glibc
#endif

/// A temporary folder removed when the value goes away.
final class TemporaryFolder {
    let url: URL
    var path: String { url.path }

    init(_ name: String = "sa-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A small synthetic class set and stream: C classes in D dimensions, class c's text embedding is
/// the unit vector e_c, an event of class c is e_c plus seeded noise; a "shifted" event also carries
/// `shift` along the last axis (which no class uses), which the drift scorer flags.
struct SyntheticStream {
    static let names = ["alpha", "beta", "gamma"]
    static let dimension = 8

    /// Writes classes.txt and text.f32 into `folder`; `tilt` changes the class embeddings' directions
    /// (for a checkpoint written with other classes).
    static func writeClasses(to folder: String, tilt: Float = 0.2) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try (names.joined(separator: "\n") + "\n").write(toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
        var values = [Float](repeating: 0, count: names.count * dimension)
        for c in 0..<names.count {
            values[c * dimension + c] = 1
            values[c * dimension + 3 + c] = tilt
        }
        try littleEndianBytes(values).write(to: URL(fileURLWithPath: folder + "/text.f32"))
    }

    static func littleEndianBytes(_ values: [Float]) -> Data {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    struct Event {
        var id: String
        var label: Int
        var embedding: [Float]
        var timestamp: Int64
    }

    /// `count` events; events from `shiftAt` on are shifted.
    static func events(_ count: Int, shiftAt: Int = .max, shift: Float = 3, seed: UInt64 = 42) -> [Event] {
        var rng = SplitMix(seed: seed)
        return (0..<count).map { i in
            let label = Int(rng.next() % UInt64(names.count))
            var e = (0..<dimension).map { _ in Float(rng.uniform() - 0.5) * 0.5 }
            e[label] += 1
            if i >= shiftAt { e[dimension - 1] += shift }
            return Event(id: "e\(i)", label: label, embedding: e, timestamp: 1_700_000_000_000 + Int64(i))
        }
    }

    /// The event as JSON; labelled by name unless `labelled` is false.
    static func json(_ e: Event, labelled: Bool = true) -> [UInt8] {
        let values = e.embedding.map { "\($0)" }.joined(separator: ",")
        let label = labelled ? ",\"label\":\"\(names[e.label])\"" : ""
        return Array("{\"id\":\"\(e.id)\",\"embedding\":[\(values)]\(label),\"ts\":\(e.timestamp)}".utf8)
    }
}

/// SplitMix64: a seeded generator, so the synthetic streams are the same in every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// One embedded broker with the topics of a test pipeline, and the pipeline.
final class LoopFixture {
    let broker: EmbeddedBroker
    let folder: TemporaryFolder
    var configuration: PipelineConfiguration
    var checkpointPath: String { configuration.checkpointDirectory! + "/checkpoint.bin" }

    /// - Parameters:
    ///   - partitions: of the input topic; every output topic has one partition (records in order).
    ///   - labels: also a labels topic (one partition) with a label cache of `labelCacheSize`.
    init(partitions: Int32 = 1, labels: Bool = false, labelCacheSize: Int = 100, classes: String? = nil) throws {
        BLAS.setThreads(1)  // as the daemon runs: results compared across loops must round alike
        broker = try EmbeddedBroker()
        folder = try TemporaryFolder("sa-loop")
        var c = PipelineConfiguration()
        if let classes {
            c.classesDirectory = classes
        } else {
            try SyntheticStream.writeClasses(to: folder.file("classes"))
            c.classesDirectory = folder.file("classes")
        }
        c.bootstrapServers = broker.bootstrapServers
        c.inputTopic = "in"
        c.predictionsTopic = "predictions"
        c.alertsTopic = "alerts"
        c.deadLetterTopic = "dead"
        c.checkpointDirectory = folder.file("checkpoints")
        c.checkpointEveryEvents = 1_000_000
        c.checkpointEverySeconds = 3600
        c.metricsPort = 0
        c.drift.mahalanobis.warmupEvents = 20
        c.drift.mahalanobis.referenceEvents = 40
        c.drift.inputWindow = 10
        try broker.createTopic("in", partitions: partitions)
        for topic in ["predictions", "alerts", "dead"] { try broker.createTopic(topic, partitions: 1) }
        if labels {
            c.labelsTopic = "labels"
            c.labelCacheSize = labelCacheSize
            try broker.createTopic("labels", partitions: 1)
        }
        configuration = c
    }

    /// A loop on this fixture's pipeline (`change` edits a copy of it first).
    func loop(
        fresh: Bool = false, health: HealthState = HealthState(), logger: Logger = Logger(label: "test"),
        _ change: (inout PipelineConfiguration) -> Void = { _ in }
    ) throws -> AdaptationLoop {
        var c = configuration
        change(&c)
        return try AdaptationLoop(configuration: c, logger: logger, health: health, fresh: fresh)
    }

    /// Sends records and waits for their delivery.
    func produce(
        topic: String = "in", _ records: [(key: [UInt8]?, value: [UInt8], partition: Int32?, headers: [(String, [UInt8])])],
        properties: [String: String] = [:]
    ) throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties))
        for r in records {
            try r.value.withUnsafeBytes { value in
                if let key = r.key {
                    try key.withUnsafeBytes {
                        try producer.sendWaiting(topic: topic, partition: r.partition, key: $0, value: value, headers: r.headers)
                    }
                } else {
                    try producer.sendWaiting(topic: topic, partition: r.partition, key: nil, value: value, headers: r.headers)
                }
            }
        }
        try producer.flush(timeoutMilliseconds: 20_000)
        if producer.failedCount > 0 { throw KafkaError("\(producer.failedCount) test records not delivered") }
    }

    /// Sends JSON events (key = id), to `partition` or round-robin over `partitions` partitions.
    func produceJSON(_ events: [SyntheticStream.Event], labelled: Bool = true, partitions: Int32 = 1) throws {
        try produce(events.enumerated().map { i, e in
            (Array(e.id.utf8), SyntheticStream.json(e, labelled: labelled), Int32(i) % partitions, [])
        })
    }

    /// Every record of `topic` up to its current end.
    func read(_ topic: String) throws -> [OutputRecord] { try readTopic(bootstrap: broker.bootstrapServers, topic) }

    /// The checkpoint file's bytes (nil when there is none).
    func storedCheckpointBytes() -> [UInt8]? { FileManager.default.contents(atPath: checkpointPath).map { [UInt8]($0) } }
}

/// A record read back from a topic (copied out of librdkafka's buffer).
struct OutputRecord {
    var partition: Int32
    var offset: Int64
    var key: [UInt8]
    var value: [UInt8]
    var headers: [(String, [UInt8])]
    var timestamp: Int64?

    var keyString: String { String(decoding: key, as: UTF8.self) }
    var text: String { String(decoding: value, as: UTF8.self) }
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any]) ?? [:] }
    func header(_ name: String) -> String? { headers.last { $0.0 == name }.map { String(decoding: $0.1, as: UTF8.self) } }
}

/// A prediction record decoded with JSONDecoder (which parses numbers exactly; JSONSerialization on
/// Linux can be one ulp off).
struct Prediction: Decodable {
    struct Top: Decodable, Equatable {
        var label: String
        var p: Double
    }
    struct Uncertainty: Decodable, Equatable {
        var entropy: Double
        var variance: Double
    }
    var id: String
    var ts: Int64?
    var label: String
    var index: Int
    var probability: Double
    var top: [Top]
    var uncertainty: Uncertainty
    var mahalanobis: Double?
    var drifting: Bool
    var updated: Bool
    var model_version: Int
    var head: String
    var offset: Int64
    var partition: Int32

    init(_ record: OutputRecord) throws { self = try JSONDecoder().decode(Prediction.self, from: Data(record.value)) }
}

/// Reads every partition of `topic` from the beginning up to the high watermark it has now (bounded:
/// polls at most 30 s; each poll blocks inside librdkafka for up to 100 ms).
func readTopic(bootstrap: String, _ topic: String) throws -> [OutputRecord] {
    let consumer = try KafkaConsumer(
        configuration: KafkaConfiguration(bootstrapServers: bootstrap, ["group.id": "reader-\(UUID().uuidString)"]))
    let partitions = try consumer.partitions(of: topic)
    var end: [Int32: Int64] = [:]
    for p in partitions {
        guard let high = consumer.queryHighWatermark(topic: topic, partition: p, timeoutMilliseconds: 10_000) else {
            throw KafkaError("no high watermark for \(topic)/\(p)")
        }
        end[p] = high
    }
    try consumer.assign(partitions.map { (topic, $0, nil) })
    var next: [Int32: Int64] = [:]
    var records: [OutputRecord] = []
    let deadline = Date().addingTimeInterval(30)
    while partitions.contains(where: { (next[$0] ?? 0) < end[$0]! }) {
        guard Date() < deadline else { throw KafkaError("reading \(topic): timed out at \(next) of \(end)") }
        try consumer.poll(timeoutMilliseconds: 100) { m in
            guard m.offset < end[m.partition]! else { return }
            records.append(
                OutputRecord(
                    partition: m.partition, offset: m.offset, key: Array(m.key), value: Array(m.value), headers: m.headers,
                    timestamp: m.timestamp))
            next[m.partition] = m.offset + 1
        }
    }
    return records.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
}

/// The model's complete state as checkpoint bytes (for comparing two models bit for bit).
func stateBytes(_ model: StreamModel) -> [UInt8] {
    var writer = CheckpointWriter()
    model.save(to: &writer)
    return writer.bytes
}

/// The daemon section's offsets and the model's event count stored in a checkpoint file.
func storedOffsets(_ bytes: [UInt8], configuration: PipelineConfiguration) throws -> (events: Int, offsets: [Int32: Int64]) {
    let classes = try ClassFile.load(directory: configuration.classesDirectory)
    let model = try AdaptationLoop.makeModel(configuration, classes)
    var reader = try CheckpointReader(sealed: bytes)
    try model.prepareRestore(from: &reader).apply()
    _ = try reader.readString()  // tag
    _ = try reader.readString()  // topic
    var offsets: [Int32: Int64] = [:]
    for _ in 0..<(try reader.readInt()) {
        let topic = try reader.readString()
        let partition = Int32(try reader.readInt())
        let offset = Int64(try reader.readInt())
        if topic == configuration.inputTopic { offsets[partition] = offset }
    }
    return (model.eventCount, offsets)
}

/// A plain HTTP/1.1 GET over a blocking socket to 127.0.0.1:`port`: (status, body), or nil when
/// nothing answers (connection refused). The server closes the connection after its answer.
func httpGet(port: Int, _ path: String) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let statusLine = text.split(separator: "\r\n").first else { return nil }
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

/// A value shared between the loop's thread (hooks) and the test.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func get() -> Value { value.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { value.withLock { body(&$0) } }
}

/// Log lines captured from a test's `Logger` (swift-log handler; thread-safe: the loop logs from its
/// thread, librdkafka's lines come from its own threads).
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var at: ContinuousClock.Instant
    }

    private let lines = Mutex<[Line]>([])

    var all: [Line] { lines.withLock { $0 } }
    /// The lines whose message contains `text`.
    func lines(containing text: String) -> [Line] { all.filter { $0.message.contains(text) } }
    func count(_ text: String) -> Int { lines(containing: text).count }

    /// A logger writing into this capture (at `level` and above).
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ line: Line) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            capture.append(Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }, at: .now))
        }
    }
}

/// swift-metrics bootstrapped once for this test process with a Prometheus registry, so tests can read
/// the daemon's counters. Process-global (swift-metrics allows one bootstrap): every loop of every test
/// shares the counters, so a test compares a value before and after what it does, in a serialized suite.
/// Touch ``registry`` before building the loop whose metrics are read (handles are made with the loop).
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// The value of the series `series` (e.g. `streamadapt_offset_gaps_total{kind="past-end"}`), 0 when it
    /// has not been created yet.
    static func value(_ series: String) -> Double {
        for line in registry.emitToString().split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? .nan
        }
        return 0
    }
}

/// Waits until `condition` holds, checking every 20 ms for at most `seconds`; returns whether it held.
/// (A bounded polling loop: the condition, not a duration, ends the wait.)
@discardableResult
func waitUntil(seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(20_000)
    }
    return true
}

/// A loop running `run` on its own thread (as DaemonService runs it), so that the test can act while it
/// runs (take the broker down, request a stop) and then join it.
final class BackgroundRun: Sendable {
    /// nil while running; then the error `run` threw, or `.success`.
    private let outcome = Shared<Result<Void, any Error>?>(nil)
    private let started = ContinuousClock.now
    private let ended = Shared<ContinuousClock.Instant?>(nil)

    /// Starts `loop.run(...)` with `shouldStop` on a new thread (16 MiB stack, as the daemon's).
    /// The loop is handed to that thread and must not be touched by the caller until ``wait(seconds:)``
    /// returned a result (``LoopBox`` says why that is safe).
    init(_ loop: AdaptationLoop, maximumEvents: Int? = nil, shouldStop: @escaping @Sendable () -> Bool) {
        let box = LoopBox(loop)
        let (outcome, ended) = (self.outcome, self.ended)
        let thread = Thread {
            let result = Result { try box.loop.run(maximumEvents: maximumEvents, shouldStop: shouldStop) }
            ended.update { $0 = .now }
            outcome.update { $0 = result }
        }
        thread.stackSize = 16 << 20
        thread.start()
    }

    var isRunning: Bool { outcome.get() == nil }

    /// Waits (bounded) for `run` to return; nil if it is still running after `seconds`.
    func wait(seconds: Double = 60) -> Result<Void, any Error>? {
        waitUntil(seconds: seconds) { !isRunning }
        return outcome.get()
    }

    /// Seconds from the start of the run to its end (nil while running).
    var duration: Double? { ended.get().map { ($0 - started).seconds } }

    /// When `run` returned (nil while running).
    var end: ContinuousClock.Instant? { ended.get() }
}

/// Hands an `AdaptationLoop` (not Sendable: one thread owns it) to the thread of a ``BackgroundRun``.
/// `@unchecked Sendable` is safe because the test gives the loop up while it runs: it touches the loop
/// again only after the run's outcome was published under a Mutex, which orders the two threads' accesses.
/// (Hooks set before the start run on the loop's thread and share state through ``Shared``.)
final class LoopBox: @unchecked Sendable {
    let loop: AdaptationLoop
    init(_ loop: AdaptationLoop) { self.loop = loop }
}

extension Duration {
    /// In seconds, as a Double (for messages and measurements).
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
