import StreamAdaptCore
import StreamAdaptKafka

extension AdaptationLoop {
    /// Names and versions the daemon's section of a checkpoint (after the model's). Version 2 added the
    /// recent input offsets (the window and offsets of alert records).
    static let checkpointTag = "streamadapt-daemon/2"
    /// The previous version, still read (so an upgrade keeps the model): its alert window starts empty.
    static let version1Tag = "streamadapt-daemon/1"
    /// A snapshot of the shared model mode: version 2 followed by the partition's Kalman evidence.
    static let sharedTag = "streamadapt-daemon/3"

    /// Flushes the producer (so every event up to here has its outputs delivered), then writes the
    /// model state and the per-partition next offsets in one sealed file, atomically.
    /// Without a checkpoint folder it only flushes. Throws when an output could not be delivered: the
    /// offsets must not move past an event whose outputs were lost.
    /// - Parameter flushTimeoutSeconds: the most the flush waits (the final checkpoint of a run uses
    ///   `kafka.stopTimeoutSeconds`, so that a stop is bounded).
    public func checkpoint(flushTimeoutSeconds: Double = 30) throws {
        if let failure { throw failure }
        hooks.beforeCheckpoint?()
        _ = try waitForOutputs(limit: flushTimeoutSeconds, setting: "kafka.stopTimeoutSeconds", consuming: false, stopping: { false })
        try writeCheckpoint(limit: flushTimeoutSeconds, setting: "kafka.stopTimeoutSeconds", consuming: false, stopping: { false })
    }

    /// Writes the checkpoint once every output enqueued so far is delivered; the offsets never move past
    /// an event whose outputs are not. While the cluster is unreachable this waits (readiness off, health
    /// beating), up to `kafka.outageLimitSeconds` (0: without limit); a stop ends the wait without
    /// writing (the final checkpoint follows, bounded by `kafka.stopTimeoutSeconds`).
    func checkpointWhenDelivered(stopping: () -> Bool) throws {
        if let failure { throw failure }
        hooks.beforeCheckpoint?()
        // Bounded by the outage, not by the wait: an outage that began before this checkpoint was due
        // counts from its start (checkOutageLimit).
        guard try waitForOutputs(limit: 0, setting: "kafka.outageLimitSeconds", consuming: true, stopping: stopping)
        else { return }
        try writeCheckpoint(limit: 0, setting: "kafka.outageLimitSeconds", consuming: true, stopping: stopping)
    }

    /// Writes the checkpoint (outputs must have been flushed); in a group, the snapshots of the partitions
    /// that changed, to the state topic, waiting until they are delivered as the outputs were.
    /// In a group the snapshots are waited for as the outputs were (the parameters of
    /// ``waitForOutputs(limit:setting:consuming:stopping:)``); when a stop ends that wait nothing is counted.
    private func writeCheckpoint(limit: Double, setting: String, consuming: Bool, stopping: () -> Bool) throws {
        try checkDeliveries()
        if group != nil {
            guard try writeSnapshots(of: Array(lanes.values), limit: limit, setting: setting, consuming: consuming, stopping: stopping)
            else { return }
            if configuration.modelMode == .shared { foldSharedModel() }
        } else {
            guard let store else { return }
            try store.write(sealedState(model: model, recentInputs: recentInputs, offsets: nextOffsets))
        }
        eventsSinceCheckpoint = 0
        lastCheckpoint = clock()
        checkpointsWritten += 1
        metrics.checkpoints.increment()
    }

    /// A sealed checkpoint of `model` and `recentInputs` with `offsets` (and the label cache); with
    /// `evidence` (the shared model mode), that too.
    func sealedState(
        model: StreamModel, recentInputs: RecentInputs, offsets: [TopicPartition: Int64], evidence: KalmanEvidence? = nil
    ) -> [UInt8] {
        var writer = CheckpointWriter(reservingCapacity: 1 << 20)
        model.save(to: &writer)
        writer.writeString(evidence == nil ? Self.checkpointTag : Self.sharedTag)
        writer.writeString(configuration.inputTopic)
        writer.writeInt(offsets.count)
        for (tp, offset) in offsets.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            writer.writeString(tp.topic)
            writer.writeInt(Int(tp.partition))
            writer.writeInt(Int(offset))
        }
        labelCache.save(to: &writer)
        recentInputs.save(to: &writer)
        evidence?.save(to: &writer)
        return Checkpoint.seal(payload: writer.bytes)
    }

    /// Restores a sealed checkpoint: nothing changes unless all of it reads and matches.
    /// - Returns: the tag of its daemon section.
    @discardableResult
    func restore(_ bytes: [UInt8]) throws(CheckpointError) -> String {
        let (tag, offsets) = try restore(bytes, model: model, recentInputs: recentInputs)
        nextOffsets = offsets
        return tag
    }

    /// Restores a sealed checkpoint into `model` and `recentInputs` (and the label cache, and `evidence` in
    /// the shared model mode): nothing changes unless all of it reads and matches.
    /// - Returns: the tag of its daemon section and the offsets it holds.
    func restore(_ bytes: [UInt8], model: StreamModel, recentInputs: RecentInputs, evidence: KalmanEvidence? = nil) throws(CheckpointError)
        -> (tag: String, offsets: [TopicPartition: Int64])
    {
        let state = try Self.prepareState(
            bytes, model: model, recentInputs: recentInputs, labelCache: labelCache, evidence: evidence,
            inputTopic: configuration.inputTopic)
        state.commit.apply()
        state.evidenceCommit.apply()
        return (state.tag, state.offsets)
    }

    /// Reads a sealed checkpoint against `model`, `recentInputs`, `labelCache` and `evidence` (nil: a
    /// checkpoint without evidence is expected) and returns what applies it: `commit` the model, label
    /// cache and window, `evidenceCommit` the evidence. Nothing changes here.
    static func prepareState(
        _ bytes: [UInt8], model: StreamModel, recentInputs: RecentInputs, labelCache: LabelCache, evidence: KalmanEvidence?,
        inputTopic: String
    ) throws(CheckpointError) -> (tag: String, offsets: [TopicPartition: Int64], commit: CheckpointCommit, evidenceCommit: CheckpointCommit) {
        var reader = try CheckpointReader(sealed: bytes)
        try model.adoptClassSet(from: reader)  // classes added over topics.control before the checkpoint
        let commit = try model.prepareRestore(from: &reader)
        let tag = try reader.readString()
        guard tag == Self.checkpointTag || tag == Self.version1Tag || tag == Self.sharedTag else {
            throw CheckpointError(
                code: .unsupportedVersion, field: "daemon",
                message: "daemon section \(tag), this version reads \(Self.sharedTag), \(Self.checkpointTag) and \(Self.version1Tag)")
        }
        if tag != Self.sharedTag, evidence != nil {
            // Its events would be missing from the shared model: start shared models on a fresh state topic.
            throw CheckpointError(
                code: .configurationMismatch, field: "model.mode",
                message: "the snapshot holds no shared model's evidence (written with model.mode \(tag == Self.version1Tag ? "single" : "per-partition")): a shared model needs a fresh state topic (docs/scale-out.md)")
        }
        let topic = try reader.readString()
        guard topic == inputTopic else {
            throw CheckpointError(
                code: .configurationMismatch, field: "topics.input",
                message: "the checkpoint is for input topic \(topic), the pipeline reads \(inputTopic)")
        }
        var offsets: [TopicPartition: Int64] = [:]
        let count = try reader.readInt()
        for _ in 0..<max(0, count) {
            let topic = try reader.readString()
            let partition = try reader.readInt()
            let offset = try reader.readInt()
            guard let p = Int32(exactly: partition), p >= 0, offset >= 0 else {
                throw CheckpointError(
                    code: .corrupt, field: "offsets", message: "partition \(partition), offset \(offset) out of range")
            }
            offsets[TopicPartition(topic: topic, partition: p)] = Int64(offset)
        }
        let cacheCommit = try labelCache.prepareRestore(from: &reader)
        let recentCommit = tag == Self.version1Tag ? CheckpointCommit {} : try recentInputs.prepareRestore(from: &reader)
        var evidenceCommit = CheckpointCommit {}
        if let evidence {
            evidenceCommit = try evidence.prepareRestore(from: &reader)
        } else if tag == Self.sharedTag {
            // A shared model's snapshot restored as a per-partition one: its model is the partition's head
            // as it was; the evidence is read (checked) and left.
            guard let head = model.head as? KalmanHead else {
                throw CheckpointError(code: .configurationMismatch, field: "model.head", message: "a shared model's snapshot holds a kalman head")
            }
            _ = try KalmanEvidence(for: head).prepareRestore(from: &reader)
        }
        try reader.finish()
        return (tag, offsets, CheckpointCommit([commit, cacheCommit, recentCommit]), evidenceCommit)
    }
}
