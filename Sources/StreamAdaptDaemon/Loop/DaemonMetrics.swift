import Metrics

/// The daemon's metrics, created once (swift-metrics handles; exported by the Prometheus backend).
final class DaemonMetrics {
    let eventsIn = Counter(label: "streamadapt_events_in_total")
    let predictionsOut = Counter(label: "streamadapt_predictions_out_total")
    let updates = Counter(label: "streamadapt_updates_total")
    let driftFlags = Counter(label: "streamadapt_drift_flags_total")
    let accuracy = Gauge(label: "streamadapt_prequential_accuracy")
    let consumerLag = Gauge(label: "streamadapt_consumer_lag")
    let latency = Metrics.Timer(label: "streamadapt_event_latency_seconds")
    let checkpoints = Counter(label: "streamadapt_checkpoints_total")
    /// The last event's squared Mahalanobis distance, the drift scorer's threshold, the model version
    /// (updates) and the seconds since the last checkpoint: the live page's figures, for Grafana.
    let driftScore = Gauge(label: "streamadapt_drift_score")
    let driftThreshold = Gauge(label: "streamadapt_drift_threshold")
    let modelVersion = Gauge(label: "streamadapt_model_version")
    let checkpointAge = Gauge(label: "streamadapt_checkpoint_age_seconds")
    /// Times the Kafka cluster became unreachable, and whether it is reachable now (1) or not (0).
    let brokerOutages = Counter(label: "streamadapt_broker_outages_total")
    let brokerReachable = Gauge(label: "streamadapt_broker_reachable")
    /// streamadapt_classes{state}: the model's active and retired classes (`docs/classes.md`).
    let activeClasses = Gauge(label: "streamadapt_classes", dimensions: [("state", "active")])
    let retiredClasses = Gauge(label: "streamadapt_classes", dimensions: [("state", "retired")])
    /// Consumer group (docs/scale-out.md): input partitions owned, the highest epoch among them, state
    /// snapshots written and the size of the last one.
    let ownedPartitions = Gauge(label: "streamadapt_group_partitions")
    let highestEpoch = Gauge(label: "streamadapt_group_epoch")
    let snapshots = Counter(label: "streamadapt_state_snapshots_total")
    let snapshotBytes = Gauge(label: "streamadapt_state_snapshot_bytes")
    /// Seconds since the oldest of the owned partitions' last snapshots (or claim, for one not yet
    /// snapshotted): what a kill -9 now would replay, in time.
    let snapshotAge = Gauge(label: "streamadapt_state_snapshot_age_seconds")
    /// Shared model mode: folds of every partition's evidence, and the seconds the last one took (reading
    /// the other partitions' snapshots included).
    let folds = Counter(label: "streamadapt_shared_model_folds_total")
    let foldSeconds = Gauge(label: "streamadapt_shared_model_fold_seconds")
    let foldFailures = Counter(label: "streamadapt_shared_model_fold_failures_total")
    private var labelled: [String: [String: Counter]] = [:]
    private var activeGauges: [String: Gauge] = [:]

    /// streamadapt_late_labels_total{outcome}.
    func lateLabels(_ outcome: String) -> Counter { counter("streamadapt_late_labels_total", "outcome", outcome) }
    /// streamadapt_dead_letters_total{reason}.
    func deadLetters(_ reason: String) -> Counter { counter("streamadapt_dead_letters_total", "reason", reason) }
    /// streamadapt_offset_gaps_total{kind}: input gaps found (past-end, lost-to-retention), accepted or not.
    func offsetGaps(_ kind: String) -> Counter { counter("streamadapt_offset_gaps_total", "kind", kind) }
    /// streamadapt_alerts_total{kind}.
    func alerts(_ kind: String) -> Counter { counter("streamadapt_alerts_total", "kind", kind) }

    /// streamadapt_alert_active{kind}: how many alerts of that kind are raised and not cleared (0 or 1 for
    /// one model; in a group, over the owned partitions' models).
    func alertActive(_ kind: String) -> Gauge {
        if let g = activeGauges[kind] { return g }
        let g = Gauge(label: "streamadapt_alert_active", dimensions: [("kind", kind)])
        activeGauges[kind] = g
        return g
    }

    /// streamadapt_class_changes_total{op}: control records applied (add-class, retire-class; a record
    /// already in effect is not counted).
    func classChanges(_ op: String) -> Counter { counter("streamadapt_class_changes_total", "op", op) }

    /// streamadapt_group_rebalances_total{kind}: partitions assigned, revoked or lost (one per rebalance event).
    func rebalances(_ kind: String) -> Counter { counter("streamadapt_group_rebalances_total", "kind", kind) }

    /// The counter `label`{`dimension`=`value`}, created on first use.
    private func counter(_ label: String, _ dimension: String, _ value: String) -> Counter {
        if let c = labelled[label]?[value] { return c }
        let c = Counter(label: label, dimensions: [(dimension, value)])
        labelled[label, default: [:]][value] = c
        return c
    }
}

