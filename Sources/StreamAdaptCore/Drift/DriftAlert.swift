/// A drift alert: raised when a detector fires and cleared when its condition ends.
///
/// Alerts are numbered: ``sequence`` is the number of alerts the model raised before this one (0, 1,
/// 2, ... over the model's whole life, checkpoints included), so a consumer of
/// ``StreamModel/alerts``, which keeps a bounded history, tells them apart by their sequence number.
public struct DriftAlert: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The inputs moved away from what the model has seen (Mahalanobis flags).
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
    /// The window statistic that raised it (flagged fraction or Page-Hinkley statistic).
    public var value: Double
    /// The level it crossed.
    public var threshold: Double
    /// value / threshold: how far past the threshold (>= 1).
    public var severity: Double { threshold > 0 ? value / threshold : value }
    /// Figures at clearing time (the window statistic), nil while active.
    public var clearedValue: Double?

    public init(kind: Kind, sequence: Int, raisedAt: Int, value: Double, threshold: Double) {
        self.kind = kind
        self.sequence = sequence
        self.raisedAt = raisedAt
        self.value = value
        self.threshold = threshold
    }
}

/// Raises an alert when the fraction of flagged events over a sliding window of `window` events
/// reaches `raiseLevel`, and clears it when the fraction falls to `clearLevel` (hysteresis).
public struct FlaggedFractionDetector: Sendable {
    public let window: Int
    public let raiseLevel: Double
    public let clearLevel: Double
    private var flags: SlidingWindow
    public private(set) var isActive = false

    public init(window: Int = 50, raiseLevel: Double = 0.3, clearLevel: Double = 0.1) {
        precondition(window > 0 && clearLevel <= raiseLevel)
        self.window = window
        self.raiseLevel = raiseLevel
        self.clearLevel = clearLevel
        flags = SlidingWindow(size: window)
    }

    public var fraction: Double { flags.fraction }

    /// Adds one event; returns `.raised` or `.cleared` when the state changes.
    public mutating func observe(flagged: Bool) -> DetectorChange? {
        flags.append(flagged)
        guard flags.isFull else { return nil }
        if !isActive && fraction >= raiseLevel {
            isActive = true
            return .raised
        }
        if isActive && fraction <= clearLevel {
            isActive = false
            return .cleared
        }
        return nil
    }
}

/// The last `size` Bool observations of a stream, in a ring, with how many of them are true.
public struct SlidingWindow: Sendable {
    public let size: Int
    private var values: [Bool]
    private var position = 0
    public private(set) var filled = 0
    public private(set) var trueCount = 0

    public init(size: Int) {
        self.size = size
        values = Array(repeating: false, count: size)
    }

    public var isFull: Bool { filled == size }
    /// The fraction of true values among those held (0 when empty).
    public var fraction: Double { filled == 0 ? 0 : Double(trueCount) / Double(filled) }

    public mutating func append(_ value: Bool) {
        if filled == size, values[position] { trueCount -= 1 }
        values[position] = value
        if value { trueCount += 1 }
        position = (position + 1) % size
        filled = min(size, filled + 1)
    }

    mutating func clear() {
        position = 0
        filled = 0
        trueCount = 0
    }

    func save(to writer: inout CheckpointWriter) {
        writer.writeBools(values)
        writer.writeInt(position)
        writer.writeInt(filled)
        writer.writeInt(trueCount)
    }

    /// Reads a window written by ``save(to:)``; `field` names it in errors.
    static func read(size: Int, from reader: inout CheckpointReader, field: String) throws(CheckpointError) -> SlidingWindow {
        let values = try reader.readBools(count: size, field: field)
        let position = try reader.readInt()
        let filled = try reader.readInt()
        let trueCount = try reader.readInt()
        guard (0..<size).contains(position), (0...size).contains(filled), (0...filled).contains(trueCount) else {
            throw .corrupt(field, "position \(position), filled \(filled), true \(trueCount) in a window of \(size)")
        }
        var window = SlidingWindow(size: size)
        window.values = values
        window.position = position
        window.filled = filled
        window.trueCount = trueCount
        return window
    }
}

/// What a detector's state did on one observation.
public enum DetectorChange: Sendable { case raised, cleared }

/// Page-Hinkley test for an increase of the mean of a stream (Page 1954; Hinkley 1971), used on the
/// prequential 0/1 error stream to detect an accuracy drop:
///
///     m_t = sum_{i <= t} (e_i - mean_i - delta),   M_t = min_{i <= t} m_i,   raise when m_t - M_t > threshold
///
/// After raising, the alert clears when the error rate over the last `window` events is back within
/// `delta` of the error rate before the alert; the test then restarts.
public struct PageHinkleyDetector: Sendable {
    public let delta: Double
    public let threshold: Double
    public let minimumEvents: Int
    public let window: Int
    private var count = 0
    private var mean = 0.0
    private var cumulative = 0.0
    private var minimum = 0.0
    private var baseline = 0.0
    private var meanAtMinimum = 0.0
    private var recent: SlidingWindow
    public private(set) var isActive = false

    public init(delta: Double = 0.05, threshold: Double = 25, minimumEvents: Int = 100, window: Int = 200) {
        self.delta = delta
        self.threshold = threshold
        self.minimumEvents = minimumEvents
        self.window = window
        recent = SlidingWindow(size: window)
    }

    /// The Page-Hinkley statistic m_t - M_t.
    public var statistic: Double { cumulative - minimum }
    /// The error rate over the last `window` events.
    public var recentErrorRate: Double { recent.fraction }

    public mutating func observe(error: Bool) -> DetectorChange? {
        recent.append(error)
        if isActive {
            if recent.isFull && recentErrorRate <= baseline + delta {
                isActive = false
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
            recent.clear()
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

extension FlaggedFractionDetector {
    /// Writes the settings (checked on restore) and the whole window state.
    public func save(to writer: inout CheckpointWriter) {
        writer.writeSection("FlaggedFractionDetector")
        writer.writeInt(window)
        writer.writeDouble(raiseLevel)
        writer.writeDouble(clearLevel)
        flags.save(to: &writer)
        writer.writeBool(isActive)
    }

    /// Restores a state written by ``save(to:)`` into a detector with the same settings; on error the
    /// detector is unchanged.
    public mutating func restore(from reader: inout CheckpointReader) throws(CheckpointError) {
        try reader.expectSection("FlaggedFractionDetector")
        try reader.expectSetting(window, field: "flaggedFraction.window")
        try reader.expectSetting(raiseLevel, field: "flaggedFraction.raiseLevel")
        try reader.expectSetting(clearLevel, field: "flaggedFraction.clearLevel")
        let storedFlags = try SlidingWindow.read(size: window, from: &reader, field: "flaggedFraction.flags")
        let storedActive = try reader.readBool()
        flags = storedFlags
        isActive = storedActive
    }
}

extension PageHinkleyDetector {
    /// Writes the settings (checked on restore) and the whole test and window state.
    public func save(to writer: inout CheckpointWriter) {
        writer.writeSection("PageHinkleyDetector")
        writer.writeDouble(delta)
        writer.writeDouble(threshold)
        writer.writeInt(minimumEvents)
        writer.writeInt(window)
        writer.writeInt(count)
        writer.writeDouble(mean)
        writer.writeDouble(cumulative)
        writer.writeDouble(minimum)
        writer.writeDouble(baseline)
        writer.writeDouble(meanAtMinimum)
        recent.save(to: &writer)
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
        let storedCount = try reader.readInt()
        let storedMean = try reader.readDouble()
        let storedCumulative = try reader.readDouble()
        let storedMinimum = try reader.readDouble()
        let storedBaseline = try reader.readDouble()
        let storedMeanAtMinimum = try reader.readDouble()
        let storedRecent = try SlidingWindow.read(size: window, from: &reader, field: "pageHinkley.recent")
        let storedActive = try reader.readBool()
        guard storedCount >= 0 else { throw .corrupt("pageHinkley", "count \(storedCount) is negative") }
        count = storedCount
        mean = storedMean
        cumulative = storedCumulative
        minimum = storedMinimum
        baseline = storedBaseline
        meanAtMinimum = storedMeanAtMinimum
        recent = storedRecent
        isActive = storedActive
    }
}
