import Foundation
import Logging
import Metrics
import StreamAdaptCore
import StreamAdaptKafka

/// The daemon's single writer: consumes input events in partition order, and for each one predicts,
/// publishes the prediction, learns when labelled, scores drift and publishes alert changes. Unusable
/// input goes to the dead-letter topic with its reason. The model and the per-partition next offsets
/// are checkpointed together (after flushing the producer, so every event before a checkpoint has its
/// outputs delivered), which makes the model state exactly-once across crashes; outputs are
/// at-least-once (events after the last checkpoint are replayed and give identical records).
///
/// It runs on one thread (see ``DaemonService``); librdkafka batches the I/O underneath.
public final class AdaptationLoop {
    public let configuration: PipelineConfiguration
    public let classes: ClassEmbeddings
    public private(set) var model: StreamModel
    private let logger: Logger
    private let health: HealthState
    private let consumer: KafkaConsumer
    let producer: KafkaProducer
    private let decoder: EventDecoder
    private var encoder: OutputEncoder
    let store: CheckpointStore?
    /// Next offset to read per consumed partition (what a checkpoint stores).
    public internal(set) var nextOffsets: [TopicPartition: Int64] = [:]
    private var partitions: [TopicPartition] = []
    let labelCache: LabelCache
    /// Delayed labels applied, and those whose event was unknown or had expired from the cache.
    public private(set) var lateLabelsApplied = 0
    public private(set) var lateLabelsUnmatched = 0
    /// Alerts of the model already published (raised: count; cleared: indices).
    private var publishedRaised = 0
    private var publishedCleared = Set<Int>()
    /// (partition, offset) of the last input events, for the offsets range of an alert (a ring).
    private var recentOffsets: [(Int32, Int64)]
    private var recentPosition = 0
    private var recentFilled = 0
    // Checkpoint pacing.
    var eventsSinceCheckpoint = 0
    var lastCheckpoint = monotonicNanoseconds()
    /// Rolling prequential accuracy over the last 500 labelled events.
    private var recentCorrect = SlidingWindow(size: 500)
    /// Input messages handled (predicted or dead-lettered) since start.
    public private(set) var handled = 0
    let metrics: DaemonMetrics
    /// Called after each predicted event with its result (for the demo's summary and for tools).
    public var observer: ((EventResult) -> Void)?
    /// When set, the handling time (decode, predict, learn, encode, enqueue) of every input message is
    /// appended to ``latencies`` (nanoseconds), for benchmarks.
    public var recordsLatencies = false
    public private(set) var latencies: [UInt64] = []

    /// Builds the model (restoring the checkpoint when there is one) and connects to Kafka.
    /// - Parameter fresh: set a refused checkpoint aside and start from scratch instead of failing.
    public init(configuration: PipelineConfiguration, logger: Logger, health: HealthState, fresh: Bool = false) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.health = health
        classes = try ClassFile.load(directory: configuration.classesDirectory)
        model = try Self.makeModel(configuration, classes)
        decoder = EventDecoder(
            dimension: classes.dimension, maximumBytes: configuration.maximumMessageBytes, maximumIdBytes: configuration.maximumIdBytes)
        encoder = OutputEncoder(topClasses: configuration.topClasses)
        recentOffsets = Array(repeating: (0, 0), count: max(1, configuration.drift.inputWindow))
        metrics = DaemonMetrics()
        labelCache = LabelCache(
            capacity: configuration.labelsTopic == nil ? 0 : configuration.labelCacheSize, dimension: classes.dimension)
        store = configuration.checkpointDirectory.map(CheckpointStore.init(directory:))

        var kafka = configuration.kafkaProperties
        kafka["bootstrap.servers"] = configuration.bootstrapServers
        var producerProperties = kafka
        producerProperties["linger.ms"] = producerProperties["linger.ms"] ?? "5"
        producerProperties["enable.idempotence"] = producerProperties["enable.idempotence"] ?? "true"
        producer = try KafkaProducer(configuration: KafkaConfiguration(producerProperties))
        var consumerProperties = kafka
        // Hand over what has arrived instead of waiting up to 500 ms for a fuller fetch.
        consumerProperties["fetch.wait.max.ms"] = consumerProperties["fetch.wait.max.ms"] ?? "10"
        consumer = try KafkaConsumer(configuration: KafkaConfiguration(consumerProperties))

        if let store {
            do {
                if let bytes = try store.read() {
                    try restore(bytes)
                    logger.info(
                        "restored checkpoint", metadata: ["path": "\(store.path)", "events": "\(model.eventCount)",
                                                          "offsets": "\(nextOffsets)"])
                }
            } catch {
                guard fresh else {
                    throw CheckpointFileError(
                        "checkpoint \(store.path) refused: \(error). Fix or remove it, or start with --fresh to set it aside and start from scratch.")
                }
                let aside = try store.setAside()
                logger.warning("checkpoint refused, starting fresh", metadata: ["error": "\(error)", "moved-to": "\(aside ?? "-")"])
                model = try Self.makeModel(configuration, classes)
                nextOffsets = [:]
            }
        }
        for topic in [configuration.inputTopic] + (configuration.labelsTopic.map { [$0] } ?? []) {
            partitions += try consumer.partitions(of: topic).map { TopicPartition(topic: topic, partition: $0) }
        }
        try consumer.assign(partitions.map { ($0.topic, $0.partition, nextOffsets[$0]) })
        publishedRaised = model.alerts.count
        publishedCleared = Set(model.alerts.indices.filter { model.alerts[$0].clearedAt != nil })
        logger.info(
            "consuming", metadata: ["topic": "\(configuration.inputTopic)", "partitions": "\(partitions)",
                                    "head": "\(model.head.name)", "classes": "\(classes.count)", "dimension": "\(classes.dimension)"])
    }

    static func makeModel(_ configuration: PipelineConfiguration, _ classes: ClassEmbeddings) throws -> StreamModel {
        let head = try configuration.heads.makeHead(configuration.head, classes: classes)
        return StreamModel(classes: classes, head: head, drift: configuration.drift)
    }

    /// Runs until `shouldStop()` returns true (checked after every poll batch, at least every 100 ms)
    /// or `maximumEvents` input messages were handled; then flushes and writes a final checkpoint.
    /// - Parameter untilCaughtUp: also stop once every partition has been read to its end (a batch job).
    public func run(maximumEvents: Int? = nil, untilCaughtUp: Bool = false, shouldStop: () -> Bool) throws {
        health.setReady(true)
        defer { health.setReady(false) }
        var lastLag = monotonicNanoseconds()
        while !shouldStop() {
            if let maximumEvents, handled >= maximumEvents { break }
            health.beat()
            let (count, errors) = try consumer.poll(timeoutMilliseconds: 100) { message in
                try handle(message)
            }
            if untilCaughtUp, count == 0, isCaughtUp() { break }
            for error in errors { logger.warning("consumer transport error (librdkafka retries)", metadata: ["error": "\(error)"]) }
            producer.poll()
            try checkDeliveries()
            if store != nil, eventsSinceCheckpoint >= configuration.checkpointEveryEvents
                || (eventsSinceCheckpoint > 0
                    && Double(monotonicNanoseconds() &- lastCheckpoint) / 1e9 >= configuration.checkpointEverySeconds)
            {
                try checkpoint()
            }
            if monotonicNanoseconds() &- lastLag > 1_000_000_000 {
                lastLag = monotonicNanoseconds()
                var lag: Int64 = 0
                for p in partitions where p.topic == configuration.inputTopic {
                    if let high = consumer.highWatermark(topic: p.topic, partition: p.partition) {
                        lag += max(0, high - (nextOffsets[p] ?? 0))
                    }
                }
                metrics.consumerLag.record(lag)
            }
        }
        try checkpoint()
        logger.info(
            "stopped", metadata: ["handled": "\(handled)", "events": "\(model.eventCount)",
                                  "late-labels-applied": "\(lateLabelsApplied)", "late-labels-unmatched": "\(lateLabelsUnmatched)"])
    }

    func checkDeliveries() throws {
        if producer.failedCount > 0 {
            throw KafkaError("\(producer.failedCount) output messages could not be delivered: \(producer.lastDeliveryError ?? "?")")
        }
    }

    /// Whether every assigned partition has been read up to the broker's high watermark.
    private func isCaughtUp() -> Bool {
        for p in partitions {
            guard let high = consumer.queryHighWatermark(topic: p.topic, partition: p.partition),
                (nextOffsets[p] ?? 0) >= high
            else { return false }
        }
        return true
    }

    /// Handles one input message.
    func handle(_ message: KafkaMessage) throws {
        let start = monotonicNanoseconds()
        let topic = message.topic  // built from librdkafka's C string: once per message
        defer {
            nextOffsets[TopicPartition(topic: topic, partition: message.partition)] = message.offset + 1
            handled += 1
            eventsSinceCheckpoint += 1
            let elapsed = monotonicNanoseconds() &- start
            metrics.latency.recordNanoseconds(Int64(elapsed))
            if recordsLatencies { latencies.append(elapsed) }
        }
        if let labelsTopic = configuration.labelsTopic, topic == labelsTopic {
            try handleLateLabel(message)
            return
        }
        metrics.eventsIn.increment()
        let event: DecodedEvent
        let label: Int?
        do {
            event = try decode(message)
            label = try resolve(event.label)
        } catch {
            try deadLetter(message, error)
            return
        }
        let result: EventResult
        do {
            result = try decoder.embedding.withUnsafeBufferPointer { buffer throws(EmbeddingError) in
                try model.process(UnsafeBufferPointer(rebasing: buffer[0..<classes.dimension]), label: label)
            }
        } catch {
            try deadLetter(message, InputError(error))
            return
        }
        recentOffsets[recentPosition] = (message.partition, message.offset)
        recentPosition = (recentPosition + 1) % recentOffsets.count
        recentFilled = min(recentOffsets.count, recentFilled + 1)
        observer?(result)
        if result.updated { metrics.updates.increment() }
        if result.drifting { metrics.driftFlags.increment() }
        if let correct = result.correct { recordCorrect(correct) }
        if label == nil, labelCache.capacity > 0 {
            decoder.embedding.withUnsafeBufferPointer {
                labelCache.insert(id: event.id, embedding: UnsafeBufferPointer(rebasing: $0[0..<classes.dimension]), predicted: result.index)
            }
        }
        try publishPrediction(event, result, message)
        if result.alertChanged { try publishAlerts() }
    }

    /// A message of the labels topic: `{"id": "...", "label": 3 | "sandal"}`.
    private func handleLateLabel(_ message: KafkaMessage) throws {
        let id: String
        let label: Int
        do {
            let record = try decoder.decodeLabelRecord(message.value)
            id = record.id
            label = try resolve(record.label) ?? 0  // decodeLabelRecord refuses a missing label
        } catch {
            try deadLetter(message, error)
            return
        }
        let found = labelCache.take(id: id) { embedding, predicted in
            // The cached embedding passed validation when its event arrived and the label was checked
            // above, so this cannot throw; if it did, the model is unchanged and the label is dropped.
            do {
                try model.learnLate(embedding, label: label, predicted: predicted)
                recordCorrect(label == predicted)
            } catch {
                logger.error("late label not learned", metadata: ["id": "\(id)", "error": "\(error)"])
            }
        }
        if found {
            lateLabelsApplied += 1
            metrics.updates.increment()
            metrics.lateLabels("applied").increment()
            try publishAlerts()  // the accuracy-drop detector saw the label
        } else {
            lateLabelsUnmatched += 1
            metrics.lateLabels("unmatched").increment()
            logger.debug("label for an unknown or expired event", metadata: ["id": "\(id)"])
        }
    }

    /// The class index of a label, checked against the class list.
    private func resolve(_ label: EventLabel) throws(InputError) -> Int? {
        switch label {
        case .none: return nil
        case .index(let i):
            guard i >= 0 && i < classes.count else {
                throw InputError(EmbeddingError.labelOutOfRange(label: i, classCount: classes.count))
            }
            return i
        case .name(let name):
            guard let i = classes.index(of: name) else { throw InputError(EmbeddingError.unknownClassName(name)) }
            return i
        }
    }

    private func decode(_ message: KafkaMessage) throws(InputError) -> DecodedEvent {
        if let type = message.header("content-type"), type.elementsEqual(EventDecoder.binaryContentType.utf8) {
            return try decoder.decodeBinary(
                message.value, idHeader: message.header("id"), key: message.key, labelHeader: message.header("label"),
                timestamp: message.timestamp, fallbackID: "\(message.partition)-\(message.offset)")
        }
        return try decoder.decodeJSON(message.value)
    }

    private func publishPrediction(_ event: DecodedEvent, _ result: EventResult, _ message: KafkaMessage) throws {
        encoder.prediction(
            id: event.id, timestamp: event.timestamp ?? message.timestamp, result: result,
            probabilities: model.probabilities, classNames: classes.names, modelVersion: model.head.updateCount,
            head: model.head.name, source: .init(partition: message.partition, offset: message.offset))
        try encoder.bytes.withUnsafeBytes {
            try producer.sendWaiting(topic: configuration.predictionsTopic, key: event.id, value: $0)
        }
        metrics.predictionsOut.increment()
    }

    /// Publishes the alerts raised or cleared since the last call.
    private func publishAlerts() throws {
        let alerts = model.alerts
        for i in alerts.indices {
            let alert = alerts[i]
            if i >= publishedRaised {
                try publishAlert(alert, state: "raised")
                metrics.alerts(alert.kind.rawValue).increment()
                publishedRaised = i + 1
            }
            if alert.clearedAt != nil, !publishedCleared.contains(i) {
                try publishAlert(alert, state: "cleared")
                publishedCleared.insert(i)
            }
        }
    }

    private func publishAlert(_ alert: DriftAlert, state: StaticString) throws {
        var ranges: [Int32: (Int64, Int64)] = [:]
        let window = recentFilled  // not checkpointed: after a restart, the events seen since
        for j in 0..<window {
            let (p, o) = recentOffsets[(recentPosition - 1 - j + recentOffsets.count * 2) % recentOffsets.count]
            let r = ranges[p] ?? (o, o)
            ranges[p] = (min(r.0, o), max(r.1, o))
        }
        encoder.alert(
            alert, state: state, windowEvents: window, modelVersion: model.head.updateCount,
            topic: configuration.inputTopic,
            offsets: ranges.sorted { $0.key < $1.key }.map { .init(partition: $0.key, from: $0.value.0, to: $0.value.1) })
        try encoder.bytes.withUnsafeBytes {
            try producer.sendWaiting(topic: configuration.alertsTopic, key: alert.kind.rawValue, value: $0)
        }
        logger.notice(
            "drift alert \(state)", metadata: ["kind": "\(alert.kind.rawValue)", "event": "\(alert.raisedAt)",
                                              "value": "\(alert.value)", "threshold": "\(alert.threshold)"])
    }

    private func deadLetter(_ message: KafkaMessage, _ error: InputError) throws {
        var headers = DeadLetter.headers(for: message, error: error)
        let key = message.key.isEmpty ? nil : message.key
        do {
            try producer.sendWaiting(topic: configuration.deadLetterTopic, key: key, value: message.value, headers: headers)
        } catch let sendError as KafkaError {
            // The message itself cannot be forwarded (e.g. larger than the producer's message.max.bytes):
            // forward its key and headers with an empty value and say why, rather than fail the daemon.
            headers.append(("streamadapt-value-dropped", Array(sendError.message.utf8)))
            try producer.sendWaiting(
                topic: configuration.deadLetterTopic, key: key, value: UnsafeRawBufferPointer(start: nil, count: 0),
                headers: headers)
            logger.warning("dead letter forwarded without its value", metadata: ["error": "\(sendError)", "offset": "\(message.offset)"])
        }
        metrics.deadLetters(error.code.rawValue).increment()
        logger.debug("dead letter", metadata: ["reason": "\(error.code.rawValue)", "offset": "\(message.offset)"])
    }

    private func recordCorrect(_ correct: Bool) {
        recentCorrect.append(correct)
        metrics.accuracy.record(recentCorrect.fraction)
    }
}

