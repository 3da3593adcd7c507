/// A drift alert: raised when a detector fires and cleared when its condition ends.
///
/// Alerts are numbered: ``sequence`` is the number of alerts the model raised before this one (0, 1,
/// 2, ... over the model's whole life, checkpoints included), so a consumer of
/// ``StreamModel/alerts``, which keeps a bounded history, tells them apart by their sequence number.
public struct DriftAlert: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The inputs' mean moved, outside the class subspace (the mean-shift test, `docs/drift.md`).
        case inputDrift = "input-drift"
        /// The prequential error rate went up (Page-Hinkley on the error stream).
        case accuracyDrop = "accuracy-drop"
    }

    public var kind: Kind
    /// The number of alerts raised before this one by the same model: stable, unique and increasing.
    public var sequence: Int
    /// Index (0-based, in the stream) of the event at which the alert was raised.
    public var raisedAt: Int
    /// Index of the event at which it cleared, nil while active.
    public var clearedAt: Int?
    /// The statistic that raised it (the mean-shift statistic T, or the Page-Hinkley statistic).
    public var value: Double
    /// The level it crossed.
    public var threshold: Double
    /// value / threshold: how far past the threshold (>= 1).
    public var severity: Double { threshold > 0 ? value / threshold : value }
    /// Figures at clearing time (the window statistic), nil while active.
    public var clearedValue: Double?
    /// Why it cleared, nil while active.
    public var clearReason: ClearReason?
    /// Accuracy-drop alerts: the prequential error rate before the change (the running mean where the
    /// Page-Hinkley statistic had its minimum); nil for input-drift alerts.
    public var errorRateBefore: Double?
    /// Accuracy-drop alerts: the error rate since the change when the alert was raised (of the labelled
    /// events after the most likely change point, ``PageHinkleyDetector/rateSinceChange``).
    public var errorRateAtRaise: Double?
    /// Accuracy-drop alerts: the error rate over the last `drift.accuracyWindow` labelled events when
    /// it cleared; errorRateAtClear - errorRateBefore is the size of the drop that stayed.
    public var errorRateAtClear: Double?

    /// Why an alert cleared.
    public enum ClearReason: String, Sendable, CaseIterable {
        /// Accuracy drop: the error rate came back within `drift.accuracyDelta` of the rate before.
        case recovered
        /// Accuracy drop: the error rate has been stable at a new level for two windows. Input drift:
        /// the inputs have been stable around their new mean for a window.
        case settled
    }

    public init(kind: Kind, sequence: Int, raisedAt: Int, value: Double, threshold: Double) {
        self.kind = kind
        self.sequence = sequence
        self.raisedAt = raisedAt
        self.value = value
        self.threshold = threshold
    }
}
