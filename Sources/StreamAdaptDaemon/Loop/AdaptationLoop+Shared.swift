import Logging
import StreamAdaptCore
import StreamAdaptKafka

/// The shared model mode (`model.mode: shared`, docs/scale-out.md): one Kalman model learned from every
/// input partition. Each owned partition's lane records the evidence of the events it learned
/// (``KalmanEvidence``, cumulative, inside each of its snapshots next to its offset). After each snapshot
/// round (`checkpoint.everyEvents`, `checkpoint.everySeconds`: the merge interval) a member folds the
/// prior with the evidence of every partition, its own from memory and the others' from their newest
/// complete snapshot on the state topic, and gives the posterior to the heads of all its lanes. Keyed by
/// partition and cumulative, evidence is counted once wherever the partition moves: a new owner restores
/// the partition's evidence with its offset, and the events after it are learned (and recorded) again.
extension AdaptationLoop {
    /// The most a fold spends reading the other partitions' snapshots.
    static let foldReadSeconds = 20

    /// Folds the shared model (after a snapshot round). Skipped while stopping; a stop while reading
    /// ends it, uncounted. A fold that fails (the state topic not readable within ``foldReadSeconds``, G
    /// not positive definite) leaves every head as it is: it is logged and counted
    /// (`streamadapt_shared_model_fold_failures_total`), and the next round tries again; it never stops
    /// the daemon.
    func foldSharedModel() {
        guard configuration.modelMode == .shared, !lanes.isEmpty, !health.isStopping else { return }
        do {
            try fold()
        } catch let error as KafkaError where error.code == .stopped {
            return
        } catch {
            metrics.foldFailures.increment()
            logger.warning("shared model fold failed: the heads go on as they are until the next one", metadata: ["error": "\(error)"])
        }
    }

    private func fold() throws {
        let started = clock()
        let topic = stateTopic
        var parts: [KalmanEvidence] = []
        var foreign = 0
        var missing: [Int32] = []
        // One deadline for the whole fold, below the 30 s after which /healthz reports a stall (and far
        // below max.poll.interval.ms): the reads beat the health state while they wait.
        let health = self.health
        let wait = StopCondition(deadline: .now + .seconds(Self.foldReadSeconds), shouldStop: {
            health.beat()
            return health.isStopping
        })
        for partition in try topic.partitions(until: wait).sorted() {
            if let lane = lanes[partition] {
                if let evidence = Self.evidence(of: lane.model) { parts.append(evidence) }
                continue
            }
            if let evidence = try foreignEvidence(partition: partition, topic: topic, until: wait) {
                parts.append(evidence)
                foreign += 1
            } else {
                missing.append(partition)
            }
        }
        let owned = lanes.keys.sorted().compactMap { lanes[$0]?.model.head as? KalmanHead }
        guard let first = owned.first else { return }
        try KalmanEvidence.fold(parts, into: first, classes: classes)
        for head in owned.dropFirst() { head.adoptPosterior(of: first) }
        hooks.folded?(lanes.compactMapValues { $0.model.head as? KalmanHead })
        let seconds = Double(clock() &- started) / 1e9
        metrics.foldSeconds.record(seconds)
        metrics.folds.increment()
        logger.debug(
            "shared model folded", metadata: [
                "events": "\(parts.reduce(0) { $0 + $1.count })", "own-partitions": "\(owned.count)",
                "read-partitions": "\(foreign)", "partitions-without-snapshot": "\(missing)",
                "milliseconds": "\(Int(seconds * 1000))",
            ])
    }

    /// The evidence in the newest complete snapshot of a partition this member does not own that reads
    /// (older ones when it does not), or nil when it has none.
    private func foreignEvidence(partition: Int32, topic: StateTopic, until: StopCondition) throws -> KalmanEvidence? {
        let reader = try topic.read(partition: partition, until: until)
        if foreignEvidenceReader == nil { foreignEvidenceReader = try SnapshotEvidenceReader(configuration: configuration, classes: classes) }
        guard let newest = foreignEvidenceReader?.newest(of: reader.completeSnapshots) else { return nil }
        for (snapshot, error) in newest.refused {
            logger.warning(
                "shared model: a snapshot of another member's partition does not read, trying the previous one",
                metadata: ["partition": "\(partition)", "epoch": "\(snapshot.epoch)", "sequence": "\(snapshot.sequence)", "error": "\(error)"])
        }
        return newest.found?.evidence
    }
}

/// The shared model a state topic holds (`streamadapt state --fold`): the fold of the prior and the
/// evidence in each partition's newest complete snapshot that reads.
public struct SharedModelFold {
    /// The folded head (the pipeline's `kalman` head with W and P of the fold).
    public let head: KalmanHead
    /// Events whose evidence was folded.
    public let events: Int
    /// Per partition, the epoch and sequence of the snapshot folded.
    public let sources: [Int32: (epoch: UInt64, sequence: UInt64)]

    /// - Parameter snapshots: per partition, its complete snapshots, newest first.
    /// - Throws: `ConfigurationError` unless the pipeline is in the shared model mode; ``KalmanEvidenceError``.
    public init(configuration: PipelineConfiguration, snapshots: [Int32: [StateSnapshot]]) throws {
        guard configuration.modelMode == .shared else {
            throw ConfigurationError(field: "model.mode", reason: "must be shared to fold a state topic's evidence")
        }
        let classes = try ClassFile.load(directory: configuration.classesDirectory)
        guard let head = try AdaptationLoop.makeModel(configuration, classes).head as? KalmanHead else {
            throw ConfigurationError(field: "model.head", reason: "must be kalman")
        }
        let reader = try SnapshotEvidenceReader(configuration: configuration, classes: classes)
        var parts: [KalmanEvidence] = []
        var sources: [Int32: (UInt64, UInt64)] = [:]
        for (partition, list) in snapshots.sorted(by: { $0.key < $1.key }) {
            guard let found = reader.newest(of: list).found else { continue }
            parts.append(found.evidence)
            sources[partition] = (found.snapshot.epoch, found.snapshot.sequence)
        }
        try KalmanEvidence.fold(parts, into: head, classes: classes)
        self.head = head
        events = parts.reduce(0) { $0 + $1.count }
        self.sources = sources
    }
}
