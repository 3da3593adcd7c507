import Foundation
import Logging
import StreamAdaptCore
import StreamAdaptDaemon
import StreamAdaptKafka
import Synchronization

/// End-to-end benchmark: events/s and per-event handling latency of the daemon loop through the
/// embedded broker, against the bare model (StreamModel.process) and the bare Kalman update.
struct KafkaBench {
    let events: Int
    /// drift.projection of the model and the daemon (0: none).
    var projection = 0

    func run(dimensions: [Int], classCounts: [Int]) throws {
        writeLine("format           D      C     e2e ev/s   handle p50 us  handle p99 us  model ev/s  kalman ev/s  e2e/model  e2e/kalman")
        for d in dimensions {
            for c in classCounts {
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-bench-\(d)-\(c)-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: folder) }
                var random = SplitMix64(seed: UInt64(d * 1000 + c))
                let classValues = (0..<(c * d)).map { _ in Float(random.next() % 1000) / 1000 }
                try Data(classValues.withUnsafeBytes { Array($0) }).write(to: folder.appendingPathComponent("text.f32"))
                try (0..<c).map { "class\($0)" }.joined(separator: "\n").write(
                    to: folder.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
                // Events: noisy copies of the class embeddings, labelled.
                let pool = 512
                var inputs = [Float](repeating: 0, count: pool * d)
                var labels = [Int](repeating: 0, count: pool)
                for r in 0..<pool {
                    labels[r] = r % c
                    for j in 0..<d { inputs[r * d + j] = classValues[labels[r] * d + j] + Float(random.next() % 1000) / 2000 }
                }
                let (modelRate, kalmanRate) = try bareRates(
                    folder: folder.path, inputs: inputs, labels: labels, d: d, inputScoring: true)
                let (unscoredModelRate, _) = try bareRates(
                    folder: folder.path, inputs: inputs, labels: labels, d: d, inputScoring: false)
                // "binary-noscore": binary input with drift.inputScoring false (no Mahalanobis scorer).
                for format in ["binary", "json", "binary-noscore"] {
                    let scoring = format != "binary-noscore"
                    let (rate, p50, p99) = try endToEnd(
                        folder: folder.path, inputs: inputs, labels: labels, d: d,
                        format: format == "json" ? "json" : "binary", inputScoring: scoring)
                    let modelRate = scoring ? modelRate : unscoredModelRate
                    writeLine(
                        pad(format, 17) + pad("\(d)", 7) + pad("\(c)", 6) + pad(fmt(rate, 0), 11) + pad(fmt(p50, 1), 15)
                            + pad(fmt(p99, 1), 15) + pad(fmt(modelRate, 0), 12) + pad(fmt(kalmanRate, 0), 13)
                            + pad(fmt(rate / modelRate, 2), 11) + fmt(rate / kalmanRate, 2))
                }
            }
        }
    }

    /// Events/s of StreamModel.process (head + drift) and of the Kalman head's predict + learn alone.
    private func bareRates(folder: String, inputs: [Float], labels: [Int], d: Int, inputScoring: Bool) throws -> (Double, Double) {
        let classes = try ClassFile.load(directory: folder)
        var drift = DriftSettings()
        drift.inputScoring = inputScoring
        drift.mahalanobis.projection = projection
        let model = StreamModel(classes: classes, head: KalmanHead(classes: classes), drift: drift)
        let start = monotonicNanoseconds()
        for i in 0..<events {
            let r = i % labels.count
            _ = try inputs.withUnsafeBufferPointer { try model.process(UnsafeBufferPointer(rebasing: $0[(r * d)..<((r + 1) * d)]), label: labels[r]) }
        }
        let modelRate = Double(events) * 1e9 / Double(monotonicNanoseconds() &- start)
        let head = KalmanHead(classes: classes)
        let x = Matrix(rows: d, columns: 1)
        let logits = Matrix(rows: classes.count, columns: 1)
        let kalmanStart = monotonicNanoseconds()
        for i in 0..<events {
            let r = i % labels.count
            try inputs.withUnsafeBufferPointer { try normalizeEmbedding(UnsafeBufferPointer(rebasing: $0[(r * d)..<((r + 1) * d)]), into: x.pointer, dimension: d) }
            _ = head.predict(x.pointer, logits: logits.pointer)
            head.learn(label: labels[r], context: LearnContext(mahalanobis2: Double(d)))
        }
        return (modelRate, Double(events) * 1e9 / Double(monotonicNanoseconds() &- kalmanStart))
    }

    private func endToEnd(
        folder: String, inputs: [Float], labels: [Int], d: Int, format: String, inputScoring: Bool
    ) throws -> (Double, Double, Double) {
        let broker = try EmbeddedBroker()
        var config = PipelineConfiguration()
        config.classesDirectory = folder
        config.bootstrapServers = broker.bootstrapServers
        config.metricsPort = 0
        config.head = "kalman"
        config.drift.inputScoring = inputScoring
        config.drift.mahalanobis.projection = projection
        for topic in [config.inputTopic, config.predictionsTopic, config.alertsTopic, config.deadLetterTopic] {
            try broker.createTopic(topic, partitions: 1)
        }
        let messageBytes = format == "json" ? d * 12 : d * 4
        let lead = max(50, min(2000, 3_000_000 / messageBytes))
        let consumed = SharedCounter()
        let finished = SharedCounter()
        let total = events
        let (topic, bootstrap) = (config.inputTopic, config.bootstrapServers)
        // Pre-encode the pool's messages so that the producer thread costs little.
        let encoded: [[UInt8]] = (0..<labels.count).map { r in
            if format == "json" {
                let values = inputs[(r * d)..<((r + 1) * d)].map { "\($0)" }.joined(separator: ",")
                return Array("{\"id\":\"e\(r)\",\"embedding\":[\(values)],\"label\":\(labels[r])}".utf8)
            }
            return inputs[(r * d)..<((r + 1) * d)].withUnsafeBytes { Array($0) }
        }
        // ... and their headers (binary input).
        let headers: [[(String, [UInt8])]] = (0..<labels.count).map { r in
            format == "json" ? [] : [
                ("content-type", Array(EventDecoder.binaryContentType.utf8)), ("id", Array("e\(r)".utf8)),
                ("label", Array(String(labels[r]).utf8)),
            ]
        }
        let replayError = ErrorBox()
        let replayer = Thread {
            defer { finished.add(1) }
            do {
                let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: bootstrap, ["linger.ms": "2"]))
                for i in 0..<total {
                    while i - consumed.value > lead { usleep(200) }
                    let r = i % encoded.count
                    try encoded[r].withUnsafeBytes { try producer.sendWaiting(topic: topic, key: nil, value: $0, headers: headers[r]) }
                    producer.poll()
                }
                try producer.flush()
                if producer.failedCount > 0 { throw KafkaError("\(producer.failedCount) events not delivered") }
            } catch {
                replayError.set("\(error)")
            }
        }
        let loop = try AdaptationLoop(configuration: config, logger: Logger(label: "bench"), health: HealthState())
        loop.recordsLatencies = true
        // The clock starts after a fifth of the events (the clients' start-up: metadata and the first
        // fetch and produce requests take about half a second against the mock broker) and stops when
        // the run returns, after the final flush: every prediction is delivered. Use enough events
        // (--events 20000) that the run is long against that start-up.
        let warm = total / 5
        var seen = 0
        var clockStart: UInt64?
        loop.observer = { _ in
            seen += 1
            if seen == warm + 1 { clockStart = monotonicNanoseconds() }
            consumed.add(1)
        }
        replayer.start()
        try loop.run(maximumEvents: total) { replayError.value != nil }
        let elapsed = Double(monotonicNanoseconds() &- (clockStart ?? monotonicNanoseconds())) / 1e9
        while finished.value == 0 { usleep(1000) }
        if let error = replayError.value { throw KafkaError("replaying the events failed: \(error)") }
        withExtendedLifetime(broker) {}
        let p50 = (Quantile.of(loop.latencies, 0.5) ?? 0) / 1000
        let p99 = (Quantile.of(loop.latencies, 0.99) ?? 0) / 1000
        return (Double(total - warm) / elapsed, p50, p99)
    }
}

