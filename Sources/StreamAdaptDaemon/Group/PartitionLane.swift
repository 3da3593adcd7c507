import StreamAdaptCore

/// The state of one input partition a group member owns (`model.mode: per-partition`): its model, the
/// window of its recent inputs, and where its snapshots stand on the state topic.
final class PartitionLane {
    let partition: Int32
    let model: StreamModel
    let recentInputs: RecentInputs
    /// This owner's epoch for the partition: the highest seen on the state topic when it was assigned, + 1.
    let epoch: UInt64
    /// The next snapshot's sequence in ``epoch``.
    var sequence: UInt64 = 0
    /// Input messages handled since the last snapshot (0: the last snapshot is the current state).
    var eventsSinceSnapshot = 0
    /// When the last snapshot was enqueued (monotonic nanoseconds), for the snapshot-age metric.
    var lastSnapshot: UInt64?
    /// Keys of earlier epochs on the state topic, tombstoned once a snapshot of this epoch is delivered.
    var obsoleteKeys: [String] = []

    init(partition: Int32, model: StreamModel, recentInputs: RecentInputs, epoch: UInt64) {
        self.partition = partition
        self.model = model
        self.recentInputs = recentInputs
        self.epoch = epoch
    }
}
