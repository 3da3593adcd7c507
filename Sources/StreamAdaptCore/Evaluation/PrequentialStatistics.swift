/// Prequential ("test, then train") statistics of one head over a stream: accuracy overall and per
/// segment, expected calibration error, and the distribution of update times.
public struct PrequentialStatistics: Sendable {
    public private(set) var events = 0
    public private(set) var correct = 0
    public private(set) var segmentEvents: [Int]
    public private(set) var segmentCorrect: [Int]
    private var binCount: [Int]
    private var binConfidence: [Double]
    private var binCorrect: [Int]
    /// Update times in nanoseconds, one per update, as the caller measured them (`streamadapt eval`: the
    /// time of ``StreamModel/process(_:label:)`` for a labelled event: predict, learn, drift update).
    public private(set) var updateNanoseconds: [UInt64] = []
    /// The time the model took over the whole stream (set by the caller that timed it), 0 if unknown.
    public var modelNanoseconds: UInt64 = 0
    /// Events per second through the model over the whole stream, nil when not timed.
    public var eventsPerSecond: Double? { modelNanoseconds == 0 ? nil : Double(events) / (Double(modelNanoseconds) / 1e9) }

    /// - Parameters:
    ///   - segments: number of stream segments (e.g. one per `--data` source).
    ///   - bins: equal-width confidence bins of the ECE.
    public init(segments: Int, bins: Int = 15) {
        segmentEvents = Array(repeating: 0, count: max(1, segments))
        segmentCorrect = Array(repeating: 0, count: max(1, segments))
        binCount = Array(repeating: 0, count: bins)
        binConfidence = Array(repeating: 0, count: bins)
        binCorrect = Array(repeating: 0, count: bins)
    }

    /// Records one prediction whose true class is known.
    public mutating func record(segment: Int, isCorrect: Bool, confidence: Double, updateNanoseconds: UInt64?) {
        events += 1
        segmentEvents[segment] += 1
        if isCorrect {
            correct += 1
            segmentCorrect[segment] += 1
        }
        let bins = binCount.count
        let bin = min(bins - 1, max(0, Int(confidence * Double(bins))))
        binCount[bin] += 1
        binConfidence[bin] += confidence
        if isCorrect { binCorrect[bin] += 1 }
        if let updateNanoseconds { self.updateNanoseconds.append(updateNanoseconds) }
    }

    public var accuracy: Double { events == 0 ? 0 : Double(correct) / Double(events) }

    /// The reliability diagram: per confidence bin, its events, their mean confidence and their accuracy
    /// (nil for an empty bin).
    public var reliability: [(events: Int, confidence: Double?, accuracy: Double?)] {
        (0..<binCount.count).map { b in
            let n = binCount[b]
            return (n, n == 0 ? nil : binConfidence[b] / Double(n), n == 0 ? nil : Double(binCorrect[b]) / Double(n))
        }
    }

    public var segmentAccuracies: [Double] {
        zip(segmentCorrect, segmentEvents).map { $1 == 0 ? 0 : Double($0) / Double($1) }
    }

    /// Expected calibration error: sum over bins of |accuracy - mean confidence| weighted by the bin's share.
    public var expectedCalibrationError: Double {
        guard events > 0 else { return 0 }
        var total = 0.0
        for b in 0..<binCount.count where binCount[b] > 0 {
            let n = Double(binCount[b])
            total += n / Double(events) * abs(Double(binCorrect[b]) / n - binConfidence[b] / n)
        }
        return total
    }

    /// The q-quantile (0...1) of the update times in microseconds (``Quantile``: linear interpolation
    /// between the closest ranks); nil without updates.
    public func updateMicroseconds(quantile q: Double) -> Double? {
        Quantile.of(updateNanoseconds, q).map { $0 / 1000 }
    }
}
