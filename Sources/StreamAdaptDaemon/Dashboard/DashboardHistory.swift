import StreamAdaptCore

/// What the live page (`/`, docs/dashboard.md) shows, kept by the loop's thread in bounded memory and
/// published as JSON (``json(now:)``, served at `/api/state` through a ``DashboardFeed``).
///
/// - The event series since the start in at most ``capacity`` buckets: each bucket covers `width`
///   consecutive events (1 at first); when the buckets are full, neighbours are merged in pairs and the
///   width doubles, so the whole run stays on the page at a resolution of at least capacity / 2 points.
///   Per bucket: events, labelled and correct events, the rolling prequential accuracy (last 500
///   labelled events) at its last event, the largest and the mean Mahalanobis score, the flagged events
///   and the drift threshold at its last event.
/// - The last ``alertCapacity`` alert changes (raised, cleared), with the event at which they happened.
/// - The last ``recentCapacity`` labelled events' (truth, prediction) pairs: per-class recall and, up to
///   ``confusionClassLimit`` classes, the confusion matrix.
/// - The last ``latencyCapacity`` handle times, for percentiles.
final class DashboardHistory {
    struct Bucket {
        var first = 0
        var count = 0
        var labelled = 0
        var correct = 0
        var rollingAccuracy: Double?
        var maximumScore: Double?
        var scoreSum = 0.0
        var scored = 0
        var flagged = 0
        var threshold: Double?

        mutating func merge(_ next: Bucket) {
            count += next.count
            labelled += next.labelled
            correct += next.correct
            rollingAccuracy = next.rollingAccuracy ?? rollingAccuracy
            if let m = next.maximumScore { maximumScore = max(maximumScore ?? m, m) }
            scoreSum += next.scoreSum
            scored += next.scored
            flagged += next.flagged
            threshold = next.threshold ?? threshold
        }
    }

    struct AlertMark {
        var kind: String
        var sequence: Int
        var raised: Bool
        /// The dashboard's event index (events since the daemon started) of the change.
        var event: Int
        var value: Double
        var threshold: Double
        var clearReason: String?
        /// In a consumer group, the input partition whose model raised it (each numbers its own alerts).
        var partition: Int?
    }

    let capacity: Int
    static let alertCapacity = 100
    static let recentCapacity = 1000
    static let latencyCapacity = 2048
    static let confusionClassLimit = 30

    private(set) var buckets: [Bucket] = []
    private(set) var width = 1
    /// Events recorded since the start.
    private(set) var events = 0
    private(set) var labelled = 0
    private(set) var correct = 0
    private(set) var alerts: [AlertMark] = []
    /// Ring of the last labelled events' truth and prediction (class indices).
    private var recent: [(truth: Int, predicted: Int)] = []
    private var recentNext = 0
    /// Ring of handle times in nanoseconds.
    private var latencies: [UInt64] = []
    private var latencyNext = 0

    init(capacity: Int = 2000) {
        precondition(capacity >= 2 && capacity % 2 == 0)
        self.capacity = capacity
        buckets.reserveCapacity(capacity)
        recent.reserveCapacity(Self.recentCapacity)
        latencies.reserveCapacity(Self.latencyCapacity)
    }

    /// Records one predicted event: its result, its label (if any), the rolling accuracy after it and the
    /// drift threshold then.
    func record(_ result: EventResult, label: Int?, rollingAccuracy: Double?, threshold: Double?) {
        if buckets.isEmpty || buckets[buckets.count - 1].count >= width {
            if buckets.count == capacity { halve() }
            buckets.append(Bucket(first: events))
        }
        let i = buckets.count - 1
        buckets[i].count += 1
        if let label {
            buckets[i].labelled += 1
            labelled += 1
            let right = label == result.index
            if right {
                buckets[i].correct += 1
                correct += 1
            }
            if recent.count < Self.recentCapacity {
                recent.append((label, result.index))
            } else {
                recent[recentNext] = (label, result.index)
            }
            recentNext = (recentNext + 1) % Self.recentCapacity
        }
        if let rollingAccuracy { buckets[i].rollingAccuracy = rollingAccuracy }
        if let score = result.mahalanobis2 {
            buckets[i].maximumScore = max(buckets[i].maximumScore ?? score, score)
            buckets[i].scoreSum += score
            buckets[i].scored += 1
        }
        if result.drifting { buckets[i].flagged += 1 }
        if let threshold { buckets[i].threshold = threshold }
        events += 1
    }

    /// Records an alert raised or cleared by the last recorded event (of `partition`'s model in a group).
    func record(_ change: AlertChange, partition: Int? = nil) {
        let alert = change.alert
        if alerts.count == Self.alertCapacity { alerts.removeFirst() }
        alerts.append(
            AlertMark(
                kind: alert.kind.rawValue, sequence: alert.sequence, raised: change.raised, event: max(0, events - 1),
                value: change.raised ? alert.value : alert.clearedValue ?? alert.value, threshold: alert.threshold,
                clearReason: change.raised ? nil : alert.clearReason?.rawValue, partition: partition))
    }

    /// Records the handle time of one message.
    func recordLatency(_ nanoseconds: UInt64) {
        if latencies.count < Self.latencyCapacity {
            latencies.append(nanoseconds)
        } else {
            latencies[latencyNext] = nanoseconds
        }
        latencyNext = (latencyNext + 1) % Self.latencyCapacity
    }

    /// Merges neighbouring buckets in pairs: half as many, twice as wide.
    private func halve() {
        var merged: [Bucket] = []
        merged.reserveCapacity(capacity)
        var i = 0
        while i < buckets.count {
            var b = buckets[i]
            if i + 1 < buckets.count { b.merge(buckets[i + 1]) }
            merged.append(b)
            i += 2
        }
        buckets = merged
        width *= 2
    }

    /// Per class, over the recent labelled events: labelled count and correct count; and the confusion
    /// counts (truth row, prediction column) when there are at most ``confusionClassLimit`` classes.
    func recentClasses(classCount c: Int) -> (labelled: [Int], correct: [Int], confusion: [[Int]]?) {
        var labelled = [Int](repeating: 0, count: c)
        var correct = [Int](repeating: 0, count: c)
        var confusion: [[Int]]? = c <= Self.confusionClassLimit ? Array(repeating: Array(repeating: 0, count: c), count: c) : nil
        for (truth, predicted) in recent where truth < c && predicted < c {
            labelled[truth] += 1
            if truth == predicted { correct[truth] += 1 }
            confusion?[truth][predicted] += 1
        }
        return (labelled, correct, confusion)
    }

    /// The handle-time quantiles (milliseconds) of the recent messages, or nil before any.
    func latencyQuantiles(_ qs: [Double]) -> [Double]? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        return qs.map { q in
            let k = min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))
            return Double(sorted[k]) / 1e6
        }
    }

    /// The number of recent labelled events held.
    var recentCount: Int { recent.count }
}
