/// What a detector's state did on one observation.
public enum DetectorChange: Sendable { case raised, cleared }

/// Page-Hinkley test for an increase of the mean of a stream (Page 1954; Hinkley 1971), used on the
/// prequential 0/1 error stream to detect an accuracy drop:
///
///     m_t = sum_{i <= t} (e_i - mean_i - delta),   M_t = min_{i <= t} m_i,   raise when m_t - M_t > threshold
///
/// When it raises, the error rate before the change is the running mean where m_t had its minimum
/// (``rateBefore``), and the rate now is the error rate over the last `window` observations
/// (``recentErrorRate``). The alert then clears, and the test restarts, by the first of two rules:
/// - **recovered**: the error rate over the last `window` observations is back within `delta` of the
///   rate before;
/// - **settled**: at least 2 `window` observations after the raise, the error rates of the last
///   `window` observations and of the `window` before them differ by at most `settleTolerance`: the
///   error rate is stable at a new level (the alert's record keeps both rates, so the size of the drop
///   that stayed is errorRateAtClear - errorRateBefore).
public struct PageHinkleyDetector: Sendable {
    public let delta: Double
    public let threshold: Double
    public let minimumEvents: Int
    public let window: Int
    public let settleTolerance: Double
    private var count = 0
    private var mean = 0.0
    private var cumulative = 0.0
    private var minimum = 0.0
    private var baseline = 0.0
    private var meanAtMinimum = 0.0
    /// The last 2 `window` observations: the newest `window` and the `window` before them.
    private var recent: SlidingWindow
    private var older: SlidingWindow
    private var sinceRaise = 0
    public private(set) var isActive = false

    public init(
        delta: Double = 0.05, threshold: Double = 25, minimumEvents: Int = 100, window: Int = 200,
        settleTolerance: Double = 0.05
    ) {
        self.delta = delta
        self.threshold = threshold
        self.minimumEvents = minimumEvents
        self.window = window
        self.settleTolerance = settleTolerance
        recent = SlidingWindow(size: window)
        older = SlidingWindow(size: window)
    }

    /// The Page-Hinkley statistic m_t - M_t.
    public var statistic: Double { cumulative - minimum }
    /// The error rate over the last `window` observations (fewer at the start).
    public var recentErrorRate: Double { recent.fraction }
    /// The error rate before the change of the active alert (of the last one after it cleared).
    public var rateBefore: Double { baseline }
    /// Why the last clearing happened.
    public private(set) var lastClearReason: DriftAlert.ClearReason?

    public mutating func observe(error: Bool) -> DetectorChange? {
        if recent.isFull { older.append(recent.oldest) }
        recent.append(error)
        if isActive {
            sinceRaise += 1
            var reason: DriftAlert.ClearReason?
            if recent.isFull && recentErrorRate <= baseline + delta {
                reason = .recovered
            } else if sinceRaise >= 2 * window && abs(recentErrorRate - older.fraction) <= settleTolerance {
                reason = .settled
            }
            if let reason {
                isActive = false
                lastClearReason = reason
                restart()
                return .cleared
            }
            return nil
        }
        let e = error ? 1.0 : 0.0
        count += 1
        mean += (e - mean) / Double(count)
        cumulative += e - mean - delta
        if cumulative < minimum {
            minimum = cumulative
            meanAtMinimum = mean  // the error rate before the change point
        }
        if count >= minimumEvents && statistic > threshold {
            isActive = true
            baseline = meanAtMinimum
            sinceRaise = 0
            return .raised
        }
        return nil
    }

    private mutating func restart() {
        count = 0
        mean = 0
        cumulative = 0
        minimum = 0
        meanAtMinimum = 0
    }
}

// MARK: - Checkpoint

extension PageHinkleyDetector {
    /// Writes the settings (checked on restore) and the whole test and window state.
    public func save(to writer: inout CheckpointWriter) {
        writer.writeSection("PageHinkleyDetector")
        writer.writeDouble(delta)
        writer.writeDouble(threshold)
        writer.writeInt(minimumEvents)
        writer.writeInt(window)
        writer.writeDouble(settleTolerance)
        writer.writeInt(count)
        writer.writeDouble(mean)
        writer.writeDouble(cumulative)
        writer.writeDouble(minimum)
        writer.writeDouble(baseline)
        writer.writeDouble(meanAtMinimum)
        recent.save(to: &writer)
        older.save(to: &writer)
        writer.writeInt(sinceRaise)
        writer.writeOptionalString(lastClearReason?.rawValue)
        writer.writeBool(isActive)
    }

    /// Restores a state written by ``save(to:)`` into a detector with the same settings; on error the
    /// detector is unchanged.
    public mutating func restore(from reader: inout CheckpointReader) throws(CheckpointError) {
        try reader.expectSection("PageHinkleyDetector")
        try reader.expectSetting(delta, field: "pageHinkley.delta")
        try reader.expectSetting(threshold, field: "pageHinkley.threshold")
        try reader.expectSetting(minimumEvents, field: "pageHinkley.minimumEvents")
        try reader.expectSetting(window, field: "pageHinkley.window")
        try reader.expectSetting(settleTolerance, field: "pageHinkley.settleTolerance")
        let storedCount = try reader.readInt()
        let storedMean = try reader.readDouble()
        let storedCumulative = try reader.readDouble()
        let storedMinimum = try reader.readDouble()
        let storedBaseline = try reader.readDouble()
        let storedMeanAtMinimum = try reader.readDouble()
        let storedRecent = try SlidingWindow.read(size: window, from: &reader, field: "pageHinkley.recent")
        let storedOlder = try SlidingWindow.read(size: window, from: &reader, field: "pageHinkley.older")
        let storedSinceRaise = try reader.readInt()
        let storedReason = try reader.readOptionalString()
        let storedActive = try reader.readBool()
        let reason = try storedReason.map { (raw) throws(CheckpointError) -> DriftAlert.ClearReason in
            guard let r = DriftAlert.ClearReason(rawValue: raw) else {
                throw .corrupt("pageHinkley.lastClearReason", "unknown reason \"\(raw)\"")
            }
            return r
        }
        guard storedSinceRaise >= 0 else { throw .corrupt("pageHinkley", "sinceRaise \(storedSinceRaise) is negative") }
        guard storedCount >= 0 else { throw .corrupt("pageHinkley", "count \(storedCount) is negative") }
        count = storedCount
        mean = storedMean
        cumulative = storedCumulative
        minimum = storedMinimum
        baseline = storedBaseline
        meanAtMinimum = storedMeanAtMinimum
        recent = storedRecent
        older = storedOlder
        sinceRaise = storedSinceRaise
        lastClearReason = reason
        isActive = storedActive
    }
}
