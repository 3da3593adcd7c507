import Foundation

/// The settings of the drift side of a ``StreamModel``.
public struct DriftSettings: Sendable, Equatable {
    /// Score every input with the Mahalanobis scorer and flag drifting inputs (the default). Off, the
    /// model keeps no scorer (no D x D state, no per-event solve): events have no distance and are never
    /// drifting, and the Kalman head's regulation uses the neutral d2 = D. Input-drift alerts do not
    /// depend on it (``MeanShiftDetector``).
    public var inputScoring = true
    public var mahalanobis = MahalanobisConfiguration()
    /// Raise input-drift alerts with the mean-shift test (``MeanShiftDetector``; the default).
    public var inputAlerts = true
    /// Input drift (``MeanShiftDetector``): the fast window W and the reference window R (events), the
    /// raise and clear levels of the statistic (whose mean without drift is 1), and the events before
    /// it may raise.
    public var inputWindow = 50
    public var inputReference = 500
    public var inputRaiseLevel = 8.0
    public var inputClearLevel = 3.0
    public var inputWarmup = 100
    /// Accuracy drop: Page-Hinkley tolerance delta, threshold, events before it may fire, the window of
    /// the error rates it reports and clears by, and the tolerance of the "settled" clearing rule
    /// (``PageHinkleyDetector``).
    public var accuracyDelta = 0.01
    public var accuracyThreshold = 30.0
    public var accuracyMinimumEvents = 100
    public var accuracyWindow = 200
    public var accuracySettleTolerance = 0.05
    /// Step size (1: full Gauss-Newton steps) of the online temperature calibration of the
    /// probabilities; 0 turns it off.
    public var calibrationRate = 1.0
    /// The most alerts ``StreamModel/alerts`` keeps, and a checkpoint stores (see ``AlertHistory``: the
    /// oldest cleared alert is dropped; active alerts never are). At least 2, one per kind.
    public var alertHistory = 100

    public init() {}

    public func validate() throws(ConfigurationError) {
        try mahalanobis.validate()
        if inputWindow < 1 { throw ConfigurationError(field: "drift.inputWindow", reason: "must be at least 1") }
        if inputReference < inputWindow {
            throw ConfigurationError(field: "drift.inputReference", reason: "must be at least drift.inputWindow")
        }
        if inputWarmup < 0 { throw ConfigurationError(field: "drift.inputWarmup", reason: "must be non-negative") }
        // The statistic's mean without drift is 1: a level at or below 1 would raise on a steady stream
        // (and catches a configuration written for the flagged fraction this level replaced).
        if !(inputClearLevel > 1 && inputClearLevel <= inputRaiseLevel && inputRaiseLevel.isFinite) {
            throw ConfigurationError(
                field: "drift.inputRaiseLevel",
                reason: "need 1 < drift.inputClearLevel <= drift.inputRaiseLevel (levels of the mean-shift statistic, "
                    + "whose mean without drift is 1; they are no longer flagged fractions)")
        }
        if !(accuracySettleTolerance >= 0 && accuracySettleTolerance < 1) {
            throw ConfigurationError(field: "drift.accuracySettleTolerance", reason: "must be in [0, 1)")
        }
        if !(accuracyThreshold > 0) {
            throw ConfigurationError(field: "drift.accuracyThreshold", reason: "must be positive")
        }
        if accuracyWindow < 1 { throw ConfigurationError(field: "drift.accuracyWindow", reason: "must be at least 1") }
        if accuracyMinimumEvents < 0 {
            throw ConfigurationError(field: "drift.accuracyMinimumEvents", reason: "must be non-negative")
        }
        if !(calibrationRate >= 0 && calibrationRate.isFinite) {
            throw ConfigurationError(field: "drift.calibrationRate", reason: "must be non-negative (0: off)")
        }
        if alertHistory < DriftAlert.Kind.allCases.count {
            throw ConfigurationError(
                field: "drift.alertHistory",
                reason: "must be at least \(DriftAlert.Kind.allCases.count) (the active alert of each kind is kept)")
        }
    }
}

/// What the model said about one event: a function of the model's state and the event alone (no clock
/// readings), so two runs over the same stream give equal results. Callers that want timings time the
/// call themselves (`streamadapt eval` times ``StreamModel/process(_:label:)`` of labelled events).
public struct EventResult: Sendable, Equatable {
    /// Predicted class index (argmax of the logits; with a class warm-up, of the weighted probabilities).
    public var index: Int
    /// Its calibrated probability (with a class warm-up, after the warm-up's prior).
    public var probability: Double
    /// Entropy (nats) of the calibrated class distribution.
    public var entropy: Double
    /// Predictive variance of a logit (0 for heads without a posterior).
    public var variance: Double
    /// Squared Mahalanobis distance of the event (see ``MahalanobisScorer``); nil when input scoring
    /// is off (``DriftSettings/inputScoring``).
    public var mahalanobis2: Double?
    /// Whether the event is beyond the calibrated drift threshold.
    public var drifting: Bool
    /// Whether the head learned from this event.
    public var updated: Bool
    /// Whether the prediction was right (nil for unlabelled events).
    public var correct: Bool?
    /// Whether this event raised or cleared an alert (see ``StreamModel/alerts``).
    public var alertChanged: Bool
    /// The input-drift test's statistic T after this event (``MeanShiftDetector``; mean 1 without
    /// drift); nil when input-drift alerts are off.
    public var inputDriftStatistic: Double? = nil
}

/// One adapter head with its drift monitoring: the unit that processes a stream event by event.
///
/// For each event, in order: validate and L2-normalise the embedding, score it for drift, predict,
/// learn from the label if there is one (prequential), update the drift scorer (with the label, or the
/// prediction for an unlabelled event) and the alert detectors. Invalid input throws before any state
/// changes. The per-event path allocates nothing (except when an alert is raised).
public final class StreamModel {
    /// The class set: the classes the model was built with, then those added at run time
    /// (``addClass(name:embedding:)``, `StreamModel+Classes.swift`), in index order.
    public internal(set) var classes: ClassEmbeddings
    /// The classes the model was built with (the first of ``classes``).
    public let baseClassCount: Int
    /// Per class, whether it is retired (``retireClass(name:)``): never predicted, takes no labels.
    public internal(set) var retired: [Bool]
    /// The most classes (active and retired) ``addClass(name:embedding:)`` grows the model to; beyond,
    /// it refuses with ``ClassChangeError/tooManyClasses(limit:)``. Restoring a checkpoint is not bounded
    /// by it (the class set was accepted when it was added).
    public var maximumClassCount = StreamModel.defaultMaximumClassCount
    /// The warm-up of a class added at run time, in its labelled events (0, the default: none). Until
    /// an added class has learned this many labels, its probability is weighted down by the prior
    /// ((n + 1) / (m + 1))^2 (`StreamModel+ClassWarmup.swift`); the head, the drift scorer and the
    /// calibration learn as without it. Not part of the checkpoint: it may change between runs.
    public var classWarmup = 0
    /// Per class added at run time (index c - ``baseClassCount``), the labels it has learned since
    /// its addition (checkpointed while the warm-up is on; ``completedWarmup`` when restored from a
    /// checkpoint without counts). They drive ``classWarmup``.
    public internal(set) var addedClassLabels: [Int] = []
    /// The indices of the retired classes, ascending (their logits are masked every event).
    var retiredIndices: [Int] = []
    public let head: any AdapterHead
    /// The drift scorer; nil when ``DriftSettings/inputScoring`` is off.
    public let scorer: MahalanobisScorer?
    public let drift: DriftSettings
    /// The raised alerts, with a bounded history (``DriftSettings/alertHistory``).
    public private(set) var alertHistory: AlertHistory
    /// The most recent alerts, oldest first: at most ``DriftSettings/alertHistory`` of them, every
    /// active alert among them (``AlertHistory``). Tell alerts apart by ``DriftAlert/sequence``: an
    /// alert's position changes when older ones are dropped.
    public var alerts: [DriftAlert] { alertHistory.alerts }
    /// Alerts raised so far, including those dropped from ``alerts``: the sequence number of the next.
    public var alertsRaised: Int { alertHistory.raisedCount }
    /// Events processed so far (the index of the next event).
    public private(set) var eventCount = 0
    /// The input-drift test; nil when ``DriftSettings/inputAlerts`` is off.
    let inputDetector: MeanShiftDetector?
    private var accuracyDetector: PageHinkleyDetector
    /// The temperature a of the calibrated probabilities, learned online from labelled events.
    public private(set) var probabilityScale = 1.0
    private var calibrationPrecision = 0.0
    private var meanVariance = 0.0

    let input: Matrix
    var logits: Matrix
    /// The alerts raised or cleared by the last event (``process(_:label:)`` or ``learnLate(_:label:predicted:)``),
    /// by sequence: at most one per kind.
    public private(set) var changes: [AlertChange] = []
    /// The head as a ``BlockedHead`` when it has a blocked update, else nil.
    let blockedHead: (any BlockedHead)?
    /// The most events processed as one block (``process(_:)``); 1 processes every event on its own.
    public let maximumBlock: Int
    /// Blocks of fewer events than this go event by event (``defaultMinimumBlock``).
    public let minimumBlock: Int
    /// The block's normalised inputs and per-event outputs.
    var block: EventBatch?
    /// Calibrated class probabilities of the last event.
    public internal(set) var probabilities: Matrix

    /// - Parameters:
    ///   - maximumBlock: the most events ``process(_:)`` takes as one block (1: event by event).
    ///   - minimumBlock: the fewest events it takes as a block; fewer go event by event.
    public init(
        classes: ClassEmbeddings, head: any AdapterHead, drift: DriftSettings = .init(),
        maximumBlock: Int = StreamModel.defaultMaximumBlock, minimumBlock: Int = StreamModel.defaultMinimumBlock
    ) {
        precondition(head.classCount == classes.count && head.dimension == classes.dimension)
        precondition(maximumBlock >= 1, "maximumBlock must be at least 1")
        self.maximumBlock = maximumBlock
        self.minimumBlock = max(2, minimumBlock)
        self.classes = classes
        baseClassCount = classes.count
        retired = Array(repeating: false, count: classes.count)
        self.head = head
        self.drift = drift
        scorer = drift.inputScoring ? MahalanobisScorer(classes: classes, configuration: drift.mahalanobis) : nil
        inputDetector =
            drift.inputAlerts
            ? MeanShiftDetector(
                classes: classes.normalized, window: drift.inputWindow, reference: drift.inputReference,
                raiseLevel: drift.inputRaiseLevel, clearLevel: drift.inputClearLevel, warmup: drift.inputWarmup)
            : nil
        accuracyDetector = PageHinkleyDetector(
            delta: drift.accuracyDelta, threshold: drift.accuracyThreshold,
            minimumEvents: drift.accuracyMinimumEvents, window: drift.accuracyWindow,
            settleTolerance: drift.accuracySettleTolerance)
        alertHistory = AlertHistory(capacity: drift.alertHistory)
        input = Matrix(rows: classes.dimension, columns: 1)
        logits = Matrix(rows: classes.count, columns: 1)
        probabilities = Matrix(rows: classes.count, columns: 1)
        let blocked = (head as? any BlockedHead).flatMap { $0.supportsBlocks ? $0 : nil }
        blockedHead = blocked
        if maximumBlock > 1 {
            blocked?.prepareBlocks(capacity: maximumBlock)
            scorer?.prepareBlocks(capacity: maximumBlock)
        }
    }

    public var dimension: Int { classes.dimension }
    public var classCount: Int { classes.count }

    /// Processes one event.
    /// - Parameters:
    ///   - embedding: the raw image embedding (D values, need not be normalised).
    ///   - label: the class index, when the event is labelled.
    ///   - time: the event's time in seconds, when it has one (the Kalman head's event-time forgetting).
    /// - Throws: ``EmbeddingError`` for a bad embedding or label; the model is then unchanged.
    public func process(_ embedding: UnsafeBufferPointer<Float>, label: Int?, time: Double? = nil) throws(EmbeddingError) -> EventResult {
        if let label, label < 0 || label >= classCount {
            throw .labelOutOfRange(label: label, classCount: classCount)
        }
        if let label, retired[label] { throw .retiredClass(label: label) }
        try normalizeEmbedding(embedding, into: input.pointer, dimension: dimension)
        return step(UnsafePointer(input.pointer), label: label, blockRow: nil, time: time)
    }

    /// One event, normalised input `x`: scored, predicted, learned. With `blockRow`, the scorer and the
    /// (blocked) head take the event from the block they were given (see `StreamModel+Batch.swift`).
    func step(_ x: UnsafePointer<Double>, label: Int?, blockRow: Int?, time: Double? = nil) -> EventResult {
        alertHistory.beginCall()
        changes.removeAll(keepingCapacity: true)

        var d2: Double?
        var drifting = false
        if let scorer {
            let distance2 = (blockRow.map { scorer.score(blockRow: $0) } ?? scorer.score(x)).distance2
            d2 = distance2
            drifting = scorer.isDrifting(distance2)
        }
        let variance: Double
        if let blockRow, let blocked = blockedHead {
            variance = blocked.predict(blockRow: blockRow, logits: logits.pointer)
        } else {
            variance = head.predict(x, logits: logits.pointer)
        }
        // Retired classes are never predicted: probability exactly 0 (docs/classes.md).
        for c in retiredIndices { logits[c] = -Double.infinity }

        // Probit-adjusted softmax at the learned temperature: p = softmax(a z / sqrt(1 + pi v / (8 vbar))).
        if variance > 0 {
            meanVariance = eventCount == 0 ? variance : 0.999 * meanVariance + 0.001 * variance
        }
        let relativeVariance = meanVariance > 0 ? variance / meanVariance : 0
        let kappa = probabilityScale / (1 + Double.pi * relativeVariance / 8).squareRoot()
        var index = 0
        var maximum = -Double.infinity
        for c in 0..<classCount where logits[c] > maximum {
            maximum = logits[c]
            index = c
        }
        var sum = 0.0
        for c in 0..<classCount {
            let v = Foundation.exp(kappa * (logits[c] - maximum))
            probabilities[c] = v
            sum += v
        }
        for c in 0..<classCount { probabilities[c] /= sum }
        if let label { calibrateScale(label: label, kappa: kappa, maximum: maximum) }
        let headIndex = index  // the head's own prediction (the drift scorer's pseudo-label)
        if classWarmup > 0 && classCount > baseClassCount { index = applyClassWarmup(index: index) }
        var entropy = 0.0
        for c in 0..<classCount {
            let p = probabilities[c]
            if p > 0 { entropy -= p * Foundation.log(p) }
        }

        if let label {
            head.learn(label: label, context: LearnContext(mahalanobis2: d2, time: time))
            countAddedClassLabel(label)
        }
        scorer?.learn(label: label ?? headIndex)

        var changed = false
        if let inputDetector, let change = inputDetector.observe(x) {
            record(change, kind: .inputDrift, value: inputDetector.statistic, threshold: drift.inputRaiseLevel)
            changed = true
        }
        if let label, observeError(label != index) { changed = true }
        eventCount += 1
        return EventResult(
            index: index, probability: probabilities[index], entropy: entropy, variance: variance, mahalanobis2: d2,
            drifting: drifting, updated: label != nil, correct: label.map { $0 == index }, alertChanged: changed,
            inputDriftStatistic: inputDetector?.statistic)
    }

    /// Learns a label that arrived after its event was predicted (delayed feedback). The embedding is
    /// predicted again (the head learns the input of its last prediction) and the head learns the label;
    /// the accuracy detector sees whether the original prediction `predicted` was right. The drift
    /// scorer and the event count are not touched: the event was scored when it arrived. The Kalman
    /// head's Mahalanobis regulation uses the neutral d2 = D here.
    /// - Throws: ``EmbeddingError`` for a bad embedding or label; the model is then unchanged.
    public func learnLate(_ embedding: UnsafeBufferPointer<Float>, label: Int, predicted: Int) throws(EmbeddingError) {
        guard label >= 0 && label < classCount else { throw .labelOutOfRange(label: label, classCount: classCount) }
        if retired[label] { throw .retiredClass(label: label) }
        try normalizeEmbedding(embedding, into: input.pointer, dimension: dimension)
        alertHistory.beginCall()
        changes.removeAll(keepingCapacity: true)
        _ = head.predict(UnsafePointer(input.pointer), logits: logits.pointer)
        head.learn(label: label, context: LearnContext(mahalanobis2: nil))
        countAddedClassLabel(label)
        _ = observeError(label != predicted)
    }

    /// Processes one event given as a Swift array (convenience for tests and tools).
    public func process(_ embedding: [Float], label: Int?, time: Double? = nil) throws(EmbeddingError) -> EventResult {
        try embedding.withUnsafeBufferPointer { (buffer) throws(EmbeddingError) in try process(buffer, label: label, time: time) }
    }

    /// Online temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017,
    /// made streaming) as a scalar Gauss-Newton (Kalman) filter on the temperature a. The probabilities
    /// are p = softmax(k z) with k = a f and the probit factor f = 1 / sqrt(1 + pi v / (8 vbar)) (MacKay
    /// 1992), where v is the event's logit variance and vbar its running mean: an event the head is
    /// more unsure of than usual gets a flatter distribution, and a absorbs the overall scale. They are
    /// computed before the head learns the label, so calibration is prequential too. The NLL is convex
    /// in k; per labelled event
    ///
    ///     g = f (E_p[z] - z_y),   H <- rho H + f^2 Var_p(z),   a <- a - g / H
    ///
    /// (rho = 0.95; a step moves a by at most half its value).
    private func calibrateScale(label: Int, kappa: Double, maximum: Double) {
        guard drift.calibrationRate > 0 else { return }
        let a = probabilityScale
        let f = kappa / a
        var mean = 0.0
        var second = 0.0
        for c in 0..<classCount where probabilities[c] > 0 {  // (retired classes: p = 0, z = -inf)
            let z = logits[c] - maximum
            mean += probabilities[c] * z
            second += probabilities[c] * z * z
        }
        let gradient = (mean - (logits[label] - maximum)) * f
        calibrationPrecision = 0.95 * calibrationPrecision + max(0, second - mean * mean) * f * f
        let step = drift.calibrationRate * gradient / max(calibrationPrecision, 1e-12)
        probabilityScale = max(1e-3, a - max(-0.5 * a, min(0.5 * a, step)))
    }

    /// Feeds the accuracy detector one labelled outcome; records a raise (with the Page-Hinkley
    /// statistic and the error rates before and since the change point) or a clearing (with the error rate now and why).
    /// Returns whether the alert state changed.
    private func observeError(_ error: Bool) -> Bool {
        guard let change = accuracyDetector.observe(error: error) else { return false }
        let rateNow = accuracyDetector.recentErrorRate
        switch change {
        case .raised:
            record(
                change, kind: .accuracyDrop, value: accuracyDetector.statistic, threshold: drift.accuracyThreshold,
                errorRates: (accuracyDetector.rateBefore, accuracyDetector.rateSinceChange))
        case .cleared:
            record(
                change, kind: .accuracyDrop, value: rateNow, threshold: drift.accuracyThreshold,
                reason: accuracyDetector.lastClearReason ?? .recovered, errorRate: rateNow)
        }
        return true
    }

    private func record(
        _ change: DetectorChange, kind: DriftAlert.Kind, value: Double, threshold: Double,
        errorRates: (before: Double, now: Double)? = nil, reason: DriftAlert.ClearReason = .settled,
        errorRate: Double? = nil
    ) {
        switch change {
        case .raised:
            alertHistory.raise(kind, at: eventCount, value: value, threshold: threshold, errorRates: errorRates)
            if let alert = alertHistory.alerts.last { changes.append(AlertChange(alert: alert, raised: true)) }
        case .cleared:
            let sequence = alertHistory.active(kind)?.sequence
            alertHistory.clear(kind, at: eventCount, value: value, reason: reason, errorRate: errorRate)
            if let sequence, let alert = alertHistory.alerts.last(where: { $0.sequence == sequence }) {
                changes.append(AlertChange(alert: alert, raised: false))
            }
        }
        // In the order of the alert history (by sequence), as a reader walking it would see them.
        if changes.count == 2 && changes[0].alert.sequence > changes[1].alert.sequence { changes.swapAt(0, 1) }
    }
}

// MARK: - Checkpoint

extension StreamModel: Checkpointable {
    /// Writes the whole model state into `writer`: the class names, dimension and a fingerprint of the
    /// class embeddings, the drift settings, the head, the drift scorer (when input scoring is on), both
    /// detectors, the alert history (``AlertHistory``: the number raised, the alerts kept, which are
    /// open), the event count and the probability calibration. The caller may append
    /// its own fields after it (the daemon's partition offsets) and seal the payload with
    /// ``Checkpoint/seal(payload:)``.
    ///
    /// Per-event scratch (the normalised input, the logits and ``probabilities`` of the last event) is
    /// not saved: checkpoints are taken between events and every event overwrites it before reading it.
    public func save(to writer: inout CheckpointWriter) {
        writeClassSet(to: &writer)  // classes added or retired at run time (StreamModel+Classes.swift)
        writeAddedClassLabels(to: &writer)
        writer.writeSection("StreamModel")
        writer.writeUInt64(UInt64(classes.names.count))
        for name in classes.names { writer.writeString(name) }
        writer.writeInt(classes.dimension)
        writer.writeUInt64(Checkpoint.fingerprint(classes.normalized))
        writer.writeConfiguration(drift, prefix: "drift")
        head.save(to: &writer)
        scorer?.save(to: &writer)
        inputDetector?.save(to: &writer)
        accuracyDetector.save(to: &writer)
        alertHistory.save(to: &writer)
        writer.writeInt(eventCount)
        writer.writeDouble(probabilityScale)
        writer.writeDouble(calibrationPrecision)
        writer.writeDouble(meanVariance)
    }

    /// Reads and checks a model state written by ``save(to:)`` without changing the model; the returned
    /// commit installs it. The model must have been built with the same classes (names, dimension,
    /// embeddings), head (kind, name, configuration) and drift settings: any difference throws
    /// ``CheckpointError`` naming the field (`classes.names`, `classes.dimension`, `head`,
    /// `kalman.forgetting`, `drift.inputWindow`, ...). The daemon reads its own fields from the same
    /// reader after this returns and applies the commit only when everything has been read.
    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try expectClassSet(from: &reader)
        let storedAddedLabels = try readAddedClassLabels(from: &reader)
        try reader.expectSection("StreamModel")
        let storedClassCount = try reader.readUInt64()
        guard storedClassCount <= UInt64(reader.remaining) else {
            throw .truncated(needed: Int(clamping: storedClassCount), at: reader.offset, available: reader.remaining)
        }
        var storedNames: [String] = []
        for _ in 0..<Int(storedClassCount) { storedNames.append(try reader.readString()) }
        if storedNames != classes.names {
            let first =
                zip(storedNames, classes.names).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(storedNames.count, classes.count)
            func describe(_ names: [String]) -> String {
                "\(names.count) classes" + (first < names.count ? " (class \(first) \"\(names[first])\")" : "")
            }
            throw .configuration("classes.names", expected: describe(classes.names), found: describe(storedNames))
        }
        try reader.expectShape(classes.dimension, field: "classes.dimension")
        try reader.expectFingerprint(Checkpoint.fingerprint(classes.normalized), field: "classes.embeddings")
        try reader.expectConfiguration(drift, prefix: "drift")
        let headCommit = try head.prepareRestore(from: &reader)
        let scorerCommit = try scorer?.prepareRestore(from: &reader)
        let inputCommit = try inputDetector?.prepareRestore(from: &reader)
        var storedAccuracy = accuracyDetector
        try storedAccuracy.restore(from: &reader)

        let storedHistory = try AlertHistory.read(capacity: drift.alertHistory, from: &reader)
        let storedEventCount = try reader.readInt()
        let storedScale = try reader.readDouble()
        let storedPrecision = try reader.readDouble()
        let storedMeanVariance = try reader.readDouble()
        guard storedEventCount >= 0 else { throw .corrupt("eventCount", "negative event count \(storedEventCount)") }

        return CheckpointCommit { [self] in
            headCommit.apply()
            scorerCommit?.apply()
            inputCommit?.apply()
            accuracyDetector = storedAccuracy
            alertHistory = storedHistory
            eventCount = storedEventCount
            probabilityScale = storedScale
            calibrationPrecision = storedPrecision
            meanVariance = storedMeanVariance
            precondition(storedAddedLabels.count == classCount - baseClassCount, "the class set changed during a restore")
            addedClassLabels = storedAddedLabels
        }
    }

    /// The model state alone as a payload (``save(to:)`` into a new writer); seal it with
    /// ``Checkpoint/seal(payload:)`` to store it.
    public func checkpointPayload() -> [UInt8] {
        var writer = CheckpointWriter()
        save(to: &writer)
        return writer.bytes
    }

    /// Restores a payload that holds exactly a model state (as ``checkpointPayload()`` returns). On
    /// error the model's state is unchanged, but classes the checkpoint added or retired at run time may
    /// have been adopted (``adoptClassSet(from:)``: added with their initial state, retired, the heads
    /// told) before a later check refused it:
    /// discard the model, or make new batches (``makeBatch(capacity:)``) before using it again. (The
    /// daemon stops, or with `--fresh` builds a new model.)
    public func restore(payload: [UInt8]) throws(CheckpointError) {
        var reader = CheckpointReader(payload)
        try adoptClassSet(from: reader)
        let commit = try prepareRestore(from: &reader)
        try reader.finish()
        commit.apply()
    }
}
