import Logging
import StreamAdaptCore
import StreamAdaptKafka

/// Consumer-group mode (`group`, `model.mode: per-partition`): the group assigns input partitions to
/// this member and moves them between members; each owned partition has its own model (a
/// ``PartitionLane``) whose snapshots, with the partition's next offset inside, live on the state topic.
///
/// - **Assigned**: read the partition's state records, restore the newest complete snapshot of the
///   highest epoch (falling back to older ones when it does not restore; never silently from zero when
///   there were snapshots), take epoch = highest seen + 1 and claim it at once (a claim record), then
///   start the partition at the snapshot's offset.
/// - **Revoked** (orderly): flush the outputs, write the snapshot of every partition that changed, wait
///   until it is delivered, then let it go: the next owner starts exactly there.
/// - **Lost** (session timed out, fenced): drop the state, write nothing; the new owner already has a
///   higher epoch, so anything this member still writes under its old epoch never wins.
/// - Periodically (`checkpoint.everyEvents`, `checkpoint.everySeconds`) and at a stop: the snapshots of
///   the partitions that changed, after the outputs are flushed.
extension AdaptationLoop {
    /// The state topic, read with the pipeline's client properties.
    var stateTopic: StateTopic {
        var properties = configuration.kafkaProperties
        properties["bootstrap.servers"] = configuration.bootstrapServers
        return StateTopic(name: configuration.stateTopic, properties: properties)
    }

    /// Joins the group for the input topic (the last step of ``connect(stopping:)`` in a group).
    func subscribe() throws {
        try consumer.subscribe([configuration.inputTopic]) { [weak self] event in self?.rebalanced(event) ?? [:] }
        logger.info(
            "joining consumer group", metadata: ["group": "\(group ?? "")", "topic": "\(configuration.inputTopic)",
                                                 "state-topic": "\(configuration.stateTopic)"])
    }

    /// The rebalance handler: runs on the loop's thread inside a poll or the close. An error stops the
    /// loop after the poll (``groupFailure``); the partitions of a failed assignment get no lane, so none
    /// of their events is handled.
    func rebalanced(_ event: Rebalance) -> PartitionStarts {
        guard groupFailure == nil else { return [:] }
        metrics.rebalances(event.kind).increment()
        defer { rebalanceObserver?(event) }
        do {
            switch event {
            case .assigned(let ps): return try assign(ps)
            case .revoked(let ps): try revoke(ps)
            case .lost(let ps): drop(ps, lost: true)
            }
        } catch let error as KafkaError where error.code == .stopped {
            // A stop while restoring: the partitions get no lane (none of their events is handled) and
            // the loop stops as asked, writing the snapshots of the others.
            logger.notice("stopped while restoring assigned partitions", metadata: ["event": "\(event)"])
        } catch {
            groupFailure = error
            logger.error("rebalance failed: stopping", metadata: ["event": "\(event)", "error": "\(error)"])
        }
        return [:]
    }

    /// Restores each assigned input partition from the state topic and claims it with a new epoch.
    private func assign(_ assigned: [TopicPartition]) throws -> PartitionStarts {
        var starts: PartitionStarts = [:]
        for p in assigned where p.topic == configuration.inputTopic {
            let started = clock()
            let wait = StopCondition(deadline: .now + .seconds(60), shouldStop: { [health] in health.isStopping })
            let reader = try stateTopic.read(partition: p.partition, until: wait)
            var restored: (snapshot: StateSnapshot, lane: (StreamModel, RecentInputs), offset: Int64?)?
            var refusals: [String] = []
            for snapshot in reader.completeSnapshots {
                let lane = try newLane()
                do {
                    let (_, offsets) = try restore(snapshot.bytes, model: lane.0, recentInputs: lane.1, evidence: Self.evidence(of: lane.0))
                    restored = (snapshot, lane, offsets[p])
                    break
                } catch where error.field == "model.mode" {
                    // Written in another model mode: an older snapshot would not be the partition's state either.
                    throw GroupStateError(
                        partition: p,
                        "state topic \(configuration.stateTopic) [\(p.partition)] epoch \(snapshot.epoch) sequence \(snapshot.sequence): \(error)")
                } catch {
                    refusals.append("epoch \(snapshot.epoch) sequence \(snapshot.sequence): \(error)")
                    logger.warning(
                        "state snapshot refused: trying the previous one", metadata: [
                            "partition": "\(p)", "epoch": "\(snapshot.epoch)", "sequence": "\(snapshot.sequence)", "error": "\(error)",
                        ])
                }
            }
            // Refused: snapshots that did not restore, or damaged ones (chunks lost or corrupted after they
            // were written) and nothing complete. A snapshot whose write never finished (torn) is as if
            // never written: with nothing else, the partition starts from zero at its oldest offset.
            // Records that are not ours (malformed), corrupt or fenced mean state was there: refused too.
            let suspicious = reader.damagedCount + reader.corrupt + reader.rejected + reader.fenced
            if restored == nil, !refusals.isEmpty || suspicious > 0 {
                throw GroupStateError(
                    partition: p,
                    "state topic \(configuration.stateTopic) [\(p.partition)] holds state records up to epoch \(reader.highestEpoch.map(String.init) ?? "?") (\(reader.read) records, \(reader.chunkRecords) snapshot chunks, \(reader.rejected) malformed, \(reader.corrupt) corrupt, \(reader.fenced) fenced, \(reader.damagedCount) damaged: chunks lost to retention or corrupted) but none restores\(refusals.isEmpty ? "" : ": " + refusals.joined(separator: "; ")); refusing to start the partition from zero (docs/scale-out.md)")
            }
            if restored == nil, reader.tornCount > 0 {
                logger.warning(
                    "only unfinished snapshot writes on the state topic: the partition starts from zero",
                    metadata: ["partition": "\(p)", "torn": "\(reader.tornCount)"])
            }
            if reader.fenced > 0 {
                logger.notice(
                    "state records of a former owner written after its successor's claim were ignored",
                    metadata: ["partition": "\(p)", "records": "\(reader.fenced)"])
            }
            let (model, recent) = try restored?.lane ?? newLane()
            let lane = PartitionLane(partition: p.partition, model: model, recentInputs: recent, epoch: (reader.highestEpoch ?? 0) + 1)
            nextOffsets[p] = restored?.offset
            if let stored = restored?.offset {
                let marks = try consumer.watermarks(topic: p.topic, partition: p.partition, until: wait)
                if let gap = OffsetGap(partition: p, stored: stored, low: marks.low, high: marks.high) { try accept(gap) }
            }
            lane.lastSnapshot = clock()  // the restored snapshot (or nothing) is the state to replay from
            // Superseded once this owner's first snapshot is delivered: the epochs before the one restored
            // from. That one stays (a fallback, and the restore source of a successor if this owner stalls
            // before its first snapshot: its tombstones must not take that away).
            lane.obsoleteKeys = reader.keys(below: restored?.snapshot.epoch ?? lane.epoch)
            lanes[p.partition] = lane
            partitions.append(p)
            // Claims the epoch: a later owner counts from it, even before this one writes a snapshot.
            try stateTopic.claim(partition: p.partition, epoch: lane.epoch, producer: producer, until: outputWait)
            starts[p] = nextOffsets[p]
            logger.info(
                "partition assigned", metadata: [
                    "partition": "\(p)", "epoch": "\(lane.epoch)",
                    "restored-from": "\(restored.map { "epoch \($0.snapshot.epoch) sequence \($0.snapshot.sequence)" } ?? "nothing (no snapshot yet)")",
                    "offset": "\(nextOffsets[p].map(String.init) ?? "oldest")", "events": "\(model.eventCount)",
                    "milliseconds": "\((clock() &- started) / 1_000_000)",
                ])
        }
        // The claims delivered before any event is handled: a member cut off from the cluster now cannot
        // share an epoch with its successor.
        _ = try waitForOutputs(limit: configuration.stopTimeoutSeconds, setting: "kafka.stopTimeoutSeconds", consuming: false, stopping: { false })
        try checkDeliveries()
        assignedOnce = true
        recordOwnership()
        return starts
    }

    /// A new model and input window for a lane (the class set is the pipeline's: class changes at run time
    /// are not supported in a group).
    /// In the shared model mode its head records its evidence (``KalmanEvidence``).
    func newLane() throws -> (StreamModel, RecentInputs) {
        let model = try Self.makeModel(configuration, classes)
        if configuration.modelMode == .shared, let head = model.head as? KalmanHead { head.evidence = KalmanEvidence(for: head) }
        return (model, RecentInputs(capacity: max(1, configuration.drift.inputWindow)))
    }

    /// The evidence `model`'s head records (the shared model mode), or nil.
    static func evidence(of model: StreamModel) -> KalmanEvidence? { (model.head as? KalmanHead)?.evidence }

    /// Flushes the outputs, writes the snapshot of each revoked partition that changed since its last,
    /// waits until delivered, then drops the partitions.
    private func revoke(_ revoked: [TopicPartition]) throws {
        // Dropped whatever happens: a partition whose snapshot failed is not handled any more either.
        defer { drop(revoked, lost: false) }
        try processBatch()
        let owned = revoked.compactMap { $0.topic == configuration.inputTopic ? lanes[$0.partition] : nil }
        let limit = configuration.stopTimeoutSeconds
        _ = try waitForOutputs(limit: limit, setting: "kafka.stopTimeoutSeconds", consuming: false, stopping: { false })
        try checkDeliveries()
        // Bounded: a revoke that outlasts the rebalance timeout would get this member expelled.
        _ = try writeSnapshots(
            of: owned, limit: limit, setting: "kafka.stopTimeoutSeconds", consuming: false, stopping: { false },
            sendingUntil: StopCondition(deadline: .now + .seconds(limit), shouldStop: { false }))
    }

    /// Forgets partitions: their lanes, offsets and place in ``partitions``.
    private func drop(_ dropped: [TopicPartition], lost: Bool) {
        for p in dropped where p.topic == configuration.inputTopic {
            let lane = lanes.removeValue(forKey: p.partition)
            if activeLane == p.partition, let idle {
                model = idle.model
                recentInputs = idle.recentInputs
                activeLane = nil
            }
            let metadata: Logger.Metadata = [
                "partition": "\(p)", "epoch": "\(lane.map { "\($0.epoch)" } ?? "-")",
                "offset": "\(nextOffsets[p].map(String.init) ?? "-")",
            ]
            if lost {
                logger.warning("partition lost: its state is dropped, another member owns it", metadata: metadata)
            } else {
                logger.info("partition revoked: its snapshot is on the state topic", metadata: metadata)
            }
            nextOffsets[p] = nil
            partitions.removeAll { $0 == p }
        }
        recordOwnership()
    }

    /// In a group: makes the lane of `message`'s partition the active one (processing the events of the
    /// previous lane first). False for a message of a partition this member does not own, or one it has
    /// handled already (fetched before its partition was revoked and assigned again): it is skipped.
    func enterLane(of message: KafkaMessage) throws -> Bool {
        let partition = message.partition
        guard groupFailure == nil, let lane = lanes[partition] else { return false }
        if let next = nextOffsets[TopicPartition(topic: configuration.inputTopic, partition: partition)], message.offset < next {
            return false
        }
        if activeLane != partition {
            try processBatch()
            model = lane.model
            recentInputs = lane.recentInputs
            activeLane = partition
        }
        lane.eventsSinceSnapshot += 1
        return true
    }

    /// Enqueues a snapshot of `lane` under its epoch and next sequence.
    func writeSnapshot(_ lane: PartitionLane, until: StopCondition? = nil) throws {
        let p = TopicPartition(topic: configuration.inputTopic, partition: lane.partition)
        let bytes = sealedState(
            model: lane.model, recentInputs: lane.recentInputs, offsets: nextOffsets[p].map { [p: $0] } ?? [:],
            evidence: Self.evidence(of: lane.model))
        let snapshot = StateSnapshot(partition: lane.partition, epoch: lane.epoch, sequence: lane.sequence, bytes: bytes)
        try stateTopic.write(snapshot, producer: producer, until: until ?? outputWait)
        lane.sequence += 1
        lane.eventsSinceSnapshot = 0
        lane.lastSnapshot = clock()
        metrics.snapshots.increment()
        metrics.snapshotBytes.record(bytes.count)
    }

    /// The snapshots of the lanes that changed since their last, waited for as the outputs before them
    /// were (``waitForOutputs(limit:setting:consuming:stopping:)``'s parameters); once delivered, the
    /// tombstones of their obsolete keys.
    /// - Parameter sendingUntil: bounds the wait on a full producer queue (default ``outputWait``).
    /// - Returns: whether they were delivered (false: a stop ended the wait).
    func writeSnapshots(
        of lanes: [PartitionLane], limit: Double, setting: String, consuming: Bool, stopping: () -> Bool,
        sendingUntil: StopCondition? = nil
    ) throws -> Bool {
        for lane in lanes.sorted(by: { $0.partition < $1.partition }) where lane.eventsSinceSnapshot > 0 {
            try writeSnapshot(lane, until: sendingUntil)
        }
        let delivered = try waitForOutputs(limit: limit, setting: setting, consuming: consuming, stopping: stopping)
        try checkDeliveries()
        if delivered { try tombstoneObsoleteKeys(of: lanes) }
        return delivered
    }

    /// Once a lane's epoch has a delivered snapshot, the records of earlier epochs (the snapshot it was
    /// restored from included) are superseded: tombstones let compaction remove them, so that a later
    /// owner does not read every past epoch. Delivered with the next flush (losing them costs only reading).
    private func tombstoneObsoleteKeys(of owned: [PartitionLane]) throws {
        for lane in owned where lane.sequence > 0 && !lane.obsoleteKeys.isEmpty {
            try stateTopic.tombstone(lane.obsoleteKeys, partition: lane.partition, producer: producer, until: outputWait)
            lane.obsoleteKeys = []
        }
    }

    /// Leaves the group after the final snapshots (the partitions go to the other members at once).
    func leaveGroup() throws {
        try consumer.close()
        if let groupFailure { throw groupFailure }
    }

    /// ``DaemonMetrics/snapshotAge``: the oldest last snapshot among the owned partitions with events
    /// since (0 when every owned partition's snapshot is its current state).
    func recordSnapshotAge() {
        let now = clock()
        let oldest = lanes.values.filter { $0.eventsSinceSnapshot > 0 }.compactMap(\.lastSnapshot).min()
        metrics.snapshotAge.record(oldest.map { Double(now &- $0) / 1e9 } ?? 0)
    }

    private func recordOwnership() {
        recordActiveAlerts()  // the owned partitions' models' open alerts
        metrics.ownedPartitions.record(lanes.count)
        metrics.highestEpoch.record(Int(clamping: lanes.values.map(\.epoch).max() ?? 0))
    }
}

extension Rebalance {
    /// `assigned`, `revoked` or `lost` (the metric's label).
    var kind: String {
        switch self {
        case .assigned: "assigned"
        case .revoked: "revoked"
        case .lost: "lost"
        }
    }
}

/// A partition's state could not be restored from the state topic (and the daemon will not start it from
/// zero): fix or remove the state records, or give the group a new state topic.
public struct GroupStateError: Error, Sendable, CustomStringConvertible {
    public let code = "state-not-restorable"
    public let partition: TopicPartition
    public let message: String

    init(partition: TopicPartition, _ message: String) {
        self.partition = partition
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
