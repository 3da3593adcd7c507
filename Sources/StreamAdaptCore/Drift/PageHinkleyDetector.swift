import Foundation

/// What a detector's state did on one observation.
public enum DetectorChange: Sendable { case raised, cleared }

/// Page-Hinkley test for an increase of the mean of a stream (Page 1954; Hinkley 1971), used on the
/// prequential 0/1 error stream to detect an accuracy drop:
///
///     m_t = sum_{i <= t} (e_i - mean_i - delta),   M_t = min_{i <= t} m_i,   raise when m_t - M_t > threshold
///
/// When it raises, the error rate before the change is the running mean where m_t had its minimum
/// (``rateBefore``). The rate since the change (``rateSinceChange``) is that of the observations after
/// the most likely change point among the last n = min(t - t_min, 2 `window`) observations (t_min where
/// m_t had its minimum): the split k maximising the two-segment Bernoulli log-likelihood
///
///     L(k) = l(x1, k) + l(x2, n - k),   l(x, m) = x log(x / m) + (m - x) log(1 - x / m)
///
/// (x1, x2 the errors before and after k) among the splits where the rate goes up and both segments
/// hold at least 20 outcomes (10 let a short run of errors just after a jump stand for the whole:
/// docs/drift.md, measured on six streams); the rate is x2 / (n - k), or that of all n when no split
/// qualifies (n < 40, or the rate does not go up). Not simply the rate since m_t's minimum, which can lie far
/// before the change when the rate crept up first, nor that of the last `window` observations, which
/// mostly precede it (the test raises within tens of observations of a jump). O(n), once per raise.
///
/// The alert then clears, and the test restarts, by the first of two rules:
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
    private var countAtMinimum = 0  // observations up to where m_t had its minimum
    private var rateAtRaise = 0.0
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
    /// The error rate of the observations between the most likely change point and the raise, for the
    /// active alert (the last one after it cleared).
    public var rateSinceChange: Double { rateAtRaise }
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
            countAtMinimum = count
        }
        if count >= minimumEvents && statistic > threshold {
            isActive = true
            baseline = meanAtMinimum
            rateAtRaise = Self.rateAfterSplit(older, recent, last: count - countAtMinimum)
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
        countAtMinimum = 0
    }

    /// The error rate after the maximum-likelihood split of the last `last` outcomes held by `older`
    /// then `recent` (at most all of them), among the splits where the rate goes up (see the type's
    /// documentation); the rate of all of them when no split raises it.
    static func rateAfterSplit(_ older: SlidingWindow, _ recent: SlidingWindow, last: Int) -> Double {
        let minimumSegment = 20
        let held = older.filled + recent.filled
        let n = min(last, held)  // last >= 1 at a raise (the statistic is 0 at a new minimum)
        guard n > 0 else { return 0 }
        func outcome(_ i: Int) -> Bool {  // i-th of the last n, oldest first
            let j = held - n + i
            return j < older.filled ? older[j] : recent[j - older.filled]
        }
        var total = 0
        for i in 0..<n where outcome(i) { total += 1 }
        func logLikelihood(_ x: Int, _ m: Int) -> Double {
            guard x > 0 && x < m else { return 0 }
            let p = Double(x) / Double(m)
            return Double(x) * Foundation.log(p) + Double(m - x) * Foundation.log(1 - p)
        }
        var best = logLikelihood(total, n)
        var rate = Double(total) / Double(n)
        var before = 0
        for k in 1..<n {
            if outcome(k - 1) { before += 1 }
            let after = total - before
            // Both segments at least `minimumSegment` long: a split that leaves a few outcomes, all
            // errors, would fit them perfectly.
            guard k >= minimumSegment && n - k >= minimumSegment,
                Double(after) / Double(n - k) > Double(before) / Double(k)
            else { continue }
            let l = logLikelihood(before, k) + logLikelihood(after, n - k)
            if l > best {
                best = l
                rate = Double(after) / Double(n - k)
            }
        }
        return rate
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
        writer.writeInt(countAtMinimum)
        writer.writeDouble(rateAtRaise)
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
        let storedCountAtMinimum = try reader.readInt()
        let storedRateAtRaise = try reader.readDouble()
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
        guard (0...storedCount).contains(storedCountAtMinimum), (0...1).contains(storedRateAtRaise) else {
            throw .corrupt("pageHinkley.changePoint", "at \(storedCountAtMinimum) of \(storedCount), rate \(storedRateAtRaise)")
        }
        count = storedCount
        mean = storedMean
        cumulative = storedCumulative
        minimum = storedMinimum
        baseline = storedBaseline
        meanAtMinimum = storedMeanAtMinimum
        countAtMinimum = storedCountAtMinimum
        rateAtRaise = storedRateAtRaise
        recent = storedRecent
        older = storedOlder
        sinceRaise = storedSinceRaise
        lastClearReason = reason
        isActive = storedActive
    }
}
