import Foundation
import Logging
import Metrics
import StreamAdaptCore
import StreamAdaptKafka

/// The daemon's single writer: consumes input events in partition order, and for each one predicts,
/// publishes the prediction, learns when labelled, scores drift and publishes alert changes. The valid
/// events of a poll batch go to the model together, in blocks of up to `model.maxBlock` events
/// (``processBatch()``), with per-sample semantics; their outputs are published in message order once
/// the batch is processed. Unusable input goes to the dead-letter topic with its reason. The model, the per-partition next offsets, the
/// label cache and the recent input offsets are checkpointed together, after flushing the producer, so
/// every event before a checkpoint has its outputs delivered.
///
/// What that guarantees after a crash and a restart from the last checkpoint (bit for bit as said with
/// `model.maxBlock` 1; with larger blocks the state and the records depend, at rounding level, on
/// where the blocks fell, which follows the poll batches: docs/operations.md):
/// - **State, exactly once.** Each partition is handled in offset order; several partitions are
///   interleaved as librdkafka hands them over. The restarted model's state is bit for bit the state
///   of one pass over every event exactly once, in the interleaving made of the events before the
///   checkpoint in the order the first run handled them, then the rest in the order the restarted run
///   handles them: a valid interleaving (each partition in order), not necessarily the one an
///   uninterrupted run would have taken. With one input partition there is only one interleaving:
///   the final checkpoint is byte-identical to an uninterrupted run's.
/// - **Outputs, at least once.** Every event has its prediction; the events handled after the last
///   checkpoint and before the crash are published again when they are replayed. With one partition
///   the replayed records (predictions, alerts with their window and offsets, dead letters) are
///   byte-identical to the first ones; with several, a replayed prediction can differ when the
///   interleaving before it differs.
/// (Tested in LoopCheckpointTests: `onePartitionRestart...`, `fourPartitionsRestart...`.)
///
/// It runs on one thread (see ``DaemonService``); librdkafka batches the I/O underneath.
public final class AdaptationLoop {
    public let configuration: PipelineConfiguration
    /// Whether `topics.control` is the input topic (control records marked by a header among the events).
    let controlOnInput: Bool
    /// The model's class set: the class file's, then the classes added over `topics.control`.
    public var classes: ClassEmbeddings { model.classes }
    public internal(set) var model: StreamModel
    let logger: Logger
    let health: HealthState
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    private let decoder: EventDecoder
    var encoder: OutputEncoder
    let store: CheckpointStore?
    /// Next offset to read per consumed partition (what a checkpoint stores).
    public internal(set) var nextOffsets: [TopicPartition: Int64] = [:]
    /// The partitions read (input, then labels), known once connected.
    var partitions: [TopicPartition] = []
    /// Whether the loop has found its partitions and assigned them (see ``connect(stopping:)``).
    var connected = false
    /// The cluster's reachability as both clients see it.
    let connectivity: KafkaConnectivity
    /// How sends wait on a full producer queue (built once: see ``makeOutputWait()``).
    lazy var outputWait: StopCondition = makeOutputWait()
    /// When the current outage began (``clock``), nil while the cluster is reachable.
    var outageStarted: UInt64?
    let labelCache: LabelCache
    /// Delayed labels applied, and those whose event was unknown or had expired from the cache.
    public private(set) var lateLabelsApplied = 0
    public private(set) var lateLabelsUnmatched = 0
    /// The valid input events taken from the current poll batch and not yet processed, with what their
    /// outputs need (see `AdaptationLoop+Batch.swift`).
    var batch: EventBatch
    var pending: [PendingEvent] = []
    /// Row i (D values): the embedding of pending event i as decoded, kept for the label cache (which
    /// stores it as received, so that a late label learns it exactly as an immediate one would).
    var pendingEmbeddings: [Float]
    /// (partition, offset) of the last input events, for the window and offsets of an alert (checkpointed).
    var recentInputs: RecentInputs
    // Checkpoint pacing.
    var eventsSinceCheckpoint = 0
    /// When the last checkpoint was written (``clock``); nil until the first ``run`` starts.
    var lastCheckpoint: UInt64?
    /// Checkpoints written since start (the final one of each ``run`` included).
    public internal(set) var checkpointsWritten = 0
    /// Messages of a poll batch were left unhandled (a stop in the middle of the batch): librdkafka's fetch
    /// position is past them, so the next ``run`` first re-assigns every partition at ``nextOffsets``.
    var needsRewind = false
    /// The time source of checkpoint pacing and lag sampling (monotonic nanoseconds); tests replace it.
    var clock: () -> UInt64 = monotonicNanoseconds
    /// Hooks for tests and tools, called on the loop's thread.
    var hooks = Hooks()
    // Consumer group (`group`, model.mode per-partition): see `AdaptationLoop+Group.swift`.
    /// The consumer group joined, if any.
    var group: String? { configuration.group }
    /// The owned input partitions' states; the active one's model and recent inputs are ``model`` and
    /// ``recentInputs`` while its events are handled.
    var lanes: [Int32: PartitionLane] = [:]
    /// The partition whose lane is active.
    var activeLane: Int32?
    /// The model and window built at start, active while no lane is (a template for new lanes).
    var idle: (model: StreamModel, recentInputs: RecentInputs)?
    /// An error met inside a rebalance (restoring, writing a snapshot): the loop stops on it after the poll.
    var groupFailure: (any Error)?
    /// Whether the group ever assigned partitions to this member (`--until-caught-up` waits for it).
    var assignedOnce = false
    /// Shared model mode: reads the evidence out of other partitions' snapshots (`AdaptationLoop+Shared.swift`).
    var foreignEvidenceReader: SnapshotEvidenceReader?
    /// Set when ``run`` threw: the loop refuses to run or checkpoint again.
    var failure: LoopFailure?
    /// Rolling prequential accuracy over the last 500 labelled events.
    private var recentCorrect = SlidingWindow(size: 500)
    /// Input messages handled (predicted or dead-lettered) since start.
    public internal(set) var handled = 0
    let metrics: DaemonMetrics
    /// Called after each predicted event with its result (for the demo's summary and for tools).
    public var observer: ((EventResult) -> Void)?
    /// Called after each rebalance event of a group member was handled (partitions assigned, revoked,
    /// lost), on the loop's thread (for tools and tests).
    public var rebalanceObserver: ((Rebalance) -> Void)?
    /// When set, the handling time of every input message (from the start of its decode to the end of
    /// its publishing, the wait for the rest of its block included) is appended to ``latencies``
    /// (nanoseconds), for benchmarks.
    /// When set, the loop keeps the live page's history (``DashboardHistory``) and publishes its
    /// `/api/state` document there about every half second (`AdaptationLoop+Dashboard.swift`).
    public var dashboard: DashboardFeed? {
        didSet { dashboardHistory = dashboard == nil ? nil : DashboardHistory() }
    }
    var dashboardHistory: DashboardHistory?
    /// When the dashboard document was last published (monotonic nanoseconds).
    var lastDashboard: UInt64 = 0
    /// (time, messages handled, predictions published) at the last few publications, for the rates.
    var dashboardSamples: [(time: UInt64, handled: Int, published: Int)] = []
    /// Predictions published since start, and the last consumer lag measured.
    var predictionsPublished = 0
    var lastLag: Int64?
    public var recordsLatencies = false
    public internal(set) var latencies: [UInt64] = []

    /// Builds the model (restoring the checkpoint when there is one) and connects to Kafka.
    /// - Parameter fresh: set a refused checkpoint aside and start from scratch instead of failing.
    public init(configuration: PipelineConfiguration, logger: Logger, health: HealthState, fresh: Bool = false) throws {
        try configuration.validate()
        self.configuration = configuration
        controlOnInput = configuration.controlTopic == configuration.inputTopic
        self.logger = logger
        self.health = health
        let classes = try ClassFile.load(directory: configuration.classesDirectory)
        model = try Self.makeModel(configuration, classes)
        decoder = EventDecoder(
            dimension: classes.dimension, maximumBytes: configuration.maximumMessageBytes, maximumIdBytes: configuration.maximumIdBytes)
        encoder = try OutputEncoder(
            topClasses: configuration.topClasses, classNames: classes.names, head: model.head.name,
            budget: OutputBudget(kafkaProperties: configuration.kafkaProperties))
        recentInputs = RecentInputs(capacity: max(1, configuration.drift.inputWindow))
        metrics = DaemonMetrics()
        labelCache = LabelCache(
            capacity: configuration.labelsTopic == nil ? 0 : configuration.labelCacheSize, dimension: classes.dimension)
        store = configuration.checkpointDirectory.map(CheckpointStore.init(directory:))
        // Before connecting: a checkpoint folder that cannot be used stops the start, not the first write.
        try store?.prepare()

        connectivity = KafkaConnectivity()
        (producer, consumer) = try Self.makeClients(configuration, connectivity: connectivity, logger: logger)
        // Per-partition models are independent: a poll's events are taken partition by partition, so that
        // a block of the model is not cut at every change of partition (each partition keeps its order).
        consumer.runsOfPartitions = configuration.modelMode != .single
        // One block: the batch is processed as soon as it holds `model.maxBlock` events, so no message
        // waits for more than a block of later ones (with 1, every event is published before the next
        // is decoded, as event by event).
        let capacity = configuration.maximumBlock
        batch = model.makeBatch(capacity: capacity)
        pending.reserveCapacity(capacity)
        pendingEmbeddings = [Float](repeating: 0, count: labelCache.capacity > 0 ? capacity * classes.dimension : 0)

        if group != nil { idle = (model, recentInputs) }
        if group == nil, let store, let bytes = try store.read() {
            do {
                let tag = try restore(bytes)
                logger.info(
                    "restored checkpoint", metadata: ["path": "\(store.path)", "events": "\(model.eventCount)",
                                                      "offsets": "\(nextOffsets)"])
                if tag == Self.version1Tag {
                    logger.notice(
                        "checkpoint of an earlier version: alert records start with an empty window (window_events counts events since this start)",
                        metadata: ["daemon-section": "\(tag)"])
                }
            } catch {
                guard fresh else {
                    throw CheckpointFileError(
                        .refused, path: store.path,
                        "refused: \(error). Fix or remove it, or start with --fresh to set it aside and start from scratch.",
                        checkpointError: error)
                }
                model = try Self.makeModel(configuration, classes)  // without classes a refused checkpoint added
                let aside = try store.setAside()
                logger.warning("checkpoint refused, starting fresh", metadata: ["error": "\(error)", "moved-to": "\(aside ?? "-")"])
            }
            try classesChanged()  // the restored class set (classes added over topics.control)
        }
        recordClassCounts()
        recordActiveAlerts()
    }

    static func makeModel(_ configuration: PipelineConfiguration, _ classes: ClassEmbeddings) throws -> StreamModel {
        let head = try configuration.heads.makeHead(configuration.head, classes: classes)
        let model = StreamModel(classes: classes, head: head, drift: configuration.drift, maximumBlock: configuration.maximumBlock)
        model.maximumClassCount = configuration.maximumClassCount
        model.classWarmup = configuration.classWarmup
        return model
    }

    /// Takes one message of a poll batch. A valid input event is checked, appended to ``batch`` and
    /// finished when the batch is processed (``processBatch()``); a late label and a dead letter are
    /// handled at once, after processing the events taken before them (so outputs keep the message
    /// order, and a late label sees the model as of the events before it).
    func handle(_ message: KafkaMessage) throws {
        if group != nil, try !enterLane(of: message) { return }
        let topic = message.topic  // built from librdkafka's C string: once per message
        if let controlTopic = configuration.controlTopic, topic == controlTopic,
            !controlOnInput || message.header(PipelineConfiguration.controlHeader) != nil
        {
            try processBatch()  // the change takes effect for the events after it
            let start = monotonicNanoseconds()
            defer { finished(topic, message, start: start) }
            try handleControl(message)
            return
        }
        if let labelsTopic = configuration.labelsTopic, topic == labelsTopic {
            try processBatch()
            let start = monotonicNanoseconds()
            defer { finished(topic, message, start: start) }
            try handleLateLabel(message)
            return
        }
        let start = monotonicNanoseconds()
        metrics.eventsIn.increment()
        let event: DecodedEvent
        let label: Int?
        do {
            event = try decode(message)
            label = try resolve(event.label)
        } catch {
            try processBatch()
            defer { finished(topic, message, start: start) }
            try deadLetter(message, error)
            return
        }
        do {
            try encoder.checkPrediction(id: event.id)  // before the model: an output-too-large event never reaches it
        } catch {
            try processBatch()
            defer { finished(topic, message, start: start) }
            try deadLetter(message, reason: error.code.rawValue, text: error.message)
            return
        }
        let dimension = classes.dimension
        // Event time for the Kalman head's event-time forgetting: the event's ts, else the Kafka timestamp.
        let time = (event.timestamp ?? message.timestamp).map { Double($0) / 1000 }
        do {
            try decoder.embedding.withUnsafeBufferPointer { buffer throws(EmbeddingError) in
                try batch.append(UnsafeBufferPointer(rebasing: buffer[0..<dimension]), label: label, time: time)
            }
        } catch {
            try processBatch()
            defer { finished(topic, message, start: start) }
            try deadLetter(message, InputError(error))
            return
        }
        let cached = label == nil && labelCache.capacity > 0
        if cached {
            let row = pending.count * dimension
            decoder.embedding.withUnsafeBufferPointer { source in
                pendingEmbeddings.withUnsafeMutableBufferPointer { rows in
                    rows.baseAddress!.advanced(by: row).update(from: source.baseAddress!, count: dimension)
                }
            }
        }
        pending.append(PendingEvent(
            message: message, topic: topic, id: event.id, timestamp: event.timestamp ?? message.timestamp,
            cachesEmbedding: cached, start: start))
        // A poll too small for a block (a trickle) goes event by event: each event is published before
        // the next is decoded, as with model.maxBlock 1, and its handle time is its own.
        if batch.isFull || consumer.currentBatchCount < model.minimumBlock { try processBatch() }
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
        var learned = false
        let found = labelCache.take(id: id) { embedding, predicted in
            // The cached embedding passed validation when its event arrived and the label was checked
            // above, so this cannot throw; if it did, the model is unchanged and the label is dropped.
            do {
                try model.learnLate(embedding, label: label, predicted: predicted)
                learned = true
                recordCorrect(label == predicted)
            } catch {
                logger.error("late label not learned", metadata: ["id": "\(id)", "error": "\(error)"])
            }
        }
        if found {
            lateLabelsApplied += 1
            metrics.updates.increment()
            metrics.lateLabels("applied").increment()
            if learned {  // the accuracy-drop detector saw the label
                for change in model.changes { try publishAlert(change, modelVersion: model.head.updateCount) }
            }
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
            if model.retired[i] { throw InputError(EmbeddingError.retiredClass(label: i)) }
            return i
        case .name(let name):
            guard let i = classes.index(of: name) else { throw InputError(EmbeddingError.unknownClassName(name)) }
            if model.retired[i] { throw InputError(EmbeddingError.retiredClass(label: i)) }
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

    /// The rolling prequential accuracy (last 500 labelled events).
    var rollingAccuracy: Double { recentCorrect.fraction }

    func recordCorrect(_ correct: Bool) {
        recentCorrect.append(correct)
        metrics.accuracy.record(recentCorrect.fraction)
    }
}

