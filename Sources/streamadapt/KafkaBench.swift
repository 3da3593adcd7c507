import Foundation
import Logging
import StreamAdaptCore
import StreamAdaptDaemon
import StreamAdaptKafka
import Synchronization

/// End-to-end benchmark: events/s and per-event handling latency of the daemon loop through the
/// embedded broker, against the bare model (StreamModel.process) and the bare Kalman update; the
/// bare model also blocked (``ModelBench``). With a rate, a trickle: the producer offers the events
/// paced at that rate instead of as a backlog, and the report gives the handle times.
struct KafkaBench {
    let events: Int
    /// drift.projection of the model and the daemon (0: none).
    var projection = 0

    /// With a rate: the trickle mode, the producer offers `rate` events per second (paced, no backlog).
    var rate: Double?
    /// maximumBlock of the blocked bare model (``ModelBench``) and the daemon's `model.maxBlock`.
    var maximumBlock = StreamModel.defaultMaximumBlock

    func run(dimensions: [Int], classCounts: [Int]) throws {
        if rate != nil {
            writeLine("format           D      C     offered ev/s  achieved ev/s  handle p50 us  handle p99 us  model 1-ev us")
        } else {
            writeLine("format           D      C     e2e ev/s   handle p50 us  handle p99 us  model ev/s  kalman ev/s  e2e/model  e2e/kalman")
        }
        var modelRows: [String] = []
        // One repetition: this mode already runs many events.
        let bare = ModelBench(events: events, maximumBlock: maximumBlock, projection: projection, repetitions: 1)
        for d in dimensions {
            for c in classCounts {
                let (folder, inputs, labels) = try ModelBench.syntheticClassFolder(d: d, c: c)
                defer { try? FileManager.default.removeItem(at: folder) }
                // The bare model, per event and blocked (``ModelBench``), in the same run.
                let times = try bare.measure(classes: ClassFile.load(directory: folder.path), inputs: inputs, labels: labels)
                modelRows.append(ModelBench.row(d: d, c: c, times))
                let (modelRate, kalmanRate, unscoredModelRate) = (1e6 / times.modelEvent, 1e6 / times.kalmanBare, 1e6 / times.kalmanEvent)
                // "binary-noscore": binary input with drift.inputScoring false (no Mahalanobis scorer).
                for format in ["binary", "json", "binary-noscore"] {
                    let scoring = format != "binary-noscore"
                    let (achieved, p50, p99) = try endToEnd(
                        folder: folder.path, inputs: inputs, labels: labels, d: d,
                        format: format == "json" ? "json" : "binary", inputScoring: scoring)
                    if let rate {
                        writeLine(
                            pad(format, 17) + pad("\(d)", 7) + pad("\(c)", 6) + pad(fmt(rate, 0), 14) + pad(fmt(achieved, 0), 15)
                                + pad(fmt(p50, 1), 15) + pad(fmt(p99, 1), 15) + fmt(scoring ? times.modelEvent : times.kalmanEvent, 1))
                        continue
                    }
                    let modelRate = scoring ? modelRate : unscoredModelRate
                    writeLine(
                        pad(format, 17) + pad("\(d)", 7) + pad("\(c)", 6) + pad(fmt(achieved, 0), 11) + pad(fmt(p50, 1), 15)
                            + pad(fmt(p99, 1), 15) + pad(fmt(modelRate, 0), 12) + pad(fmt(kalmanRate, 0), 13)
                            + pad(fmt(achieved / modelRate, 2), 11) + fmt(achieved / kalmanRate, 2))
                }
            }
        }
        if rate != nil {
            writeLine("(trickle: \(events) events paced after the first is handled; handle times of the last four fifths; "
                + "model 1-ev: the bare model per event, input scoring off for binary-noscore)")
        }
        writeLine("bare model, per event and blocked:")
        writeLine(ModelBench.header)
        modelRows.forEach(writeLine)
        writeLine(ModelBench.note(maximumBlock: maximumBlock, events: events, repetitions: 1))
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
        config.maximumBlock = maximumBlock  // the daemon's model.maxBlock too
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
        // Trickle (a rate): event i > 0 is offered at `interval` * (i - 1) after the first event was
        // handled (the clients' start-up is not paced), without linger.
        let interval = rate.map { 1e9 / $0 }
        let replayer = Thread {
            defer { finished.add(1) }
            do {
                let producer = try KafkaProducer(configuration: KafkaConfiguration(
                    bootstrapServers: bootstrap, ["linger.ms": interval == nil ? "2" : "0"]))
                var paceStart: UInt64 = 0
                for i in 0..<total {
                    while i - consumed.value > lead { usleep(200) }
                    if let interval, i > 0 {
                        if i == 1 {
                            while consumed.value == 0 && replayError.value == nil { usleep(100) }
                            paceStart = monotonicNanoseconds()
                        }
                        let due = paceStart + UInt64(interval * Double(i - 1))
                        let now = monotonicNanoseconds()
                        if due > now { usleep(UInt32((due - now) / 1000)) }
                    }
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
        // Trickle: the handle times after the first fifth (as the clock); otherwise all of them.
        let latencies = rate == nil ? loop.latencies : Array(loop.latencies.dropFirst(warm))
        let p50 = (Quantile.of(latencies, 0.5) ?? 0) / 1000
        let p99 = (Quantile.of(latencies, 0.99) ?? 0) / 1000
        return (Double(total - warm) / elapsed, p50, p99)
    }
}

