import StreamAdaptCore

/// Takes the Kalman evidence out of a partition's shared-model snapshots (daemon section
/// `streamadapt-daemon/3`, ``KalmanEvidence``) without restoring anything: each snapshot is read against
/// a scratch model, window and label cache of the pipeline's, and only its evidence is kept. Used by a
/// member's fold for the partitions it does not own and by `streamadapt state --fold`.
final class SnapshotEvidenceReader {
    private let inputTopic: String
    private let model: StreamModel
    private let recentInputs: RecentInputs
    private let labelCache: LabelCache
    /// The scratch model's head: the shape and forgetting of the records.
    private let head: KalmanHead

    /// - Throws: `ConfigurationError` unless the pipeline's head is `kalman`.
    init(configuration: PipelineConfiguration, classes: ClassEmbeddings) throws {
        model = try AdaptationLoop.makeModel(configuration, classes)
        guard let head = model.head as? KalmanHead else {
            throw ConfigurationError(field: "model.head", reason: "must be kalman with model.mode shared")
        }
        self.head = head
        recentInputs = RecentInputs(capacity: max(1, configuration.drift.inputWindow))
        labelCache = LabelCache(capacity: 0, dimension: classes.dimension)
        inputTopic = configuration.inputTopic
    }

    /// The evidence in the newest of `snapshots` (newest first) that reads, with that snapshot; and the
    /// newer ones that did not read, with why.
    func newest(of snapshots: [StateSnapshot]) -> (found: (evidence: KalmanEvidence, snapshot: StateSnapshot)?, refused: [(StateSnapshot, CheckpointError)]) {
        var refused: [(StateSnapshot, CheckpointError)] = []
        for snapshot in snapshots {
            let evidence = KalmanEvidence(for: head)
            do {
                let state = try AdaptationLoop.prepareState(
                    snapshot.bytes, model: model, recentInputs: recentInputs, labelCache: labelCache, evidence: evidence,
                    inputTopic: inputTopic)
                state.evidenceCommit.apply()
                return ((evidence, snapshot), refused)
            } catch {
                refused.append((snapshot, error))
            }
        }
        return (nil, refused)
    }
}
