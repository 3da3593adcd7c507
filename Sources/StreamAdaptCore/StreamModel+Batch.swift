/// An alert raised or cleared by an event, as the alert stood right after that event.
public struct AlertChange: Sendable, Equatable {
    public var alert: DriftAlert
    /// True when the event raised it, false when it cleared it.
    public var raised: Bool
}

/// Events for ``StreamModel/process(_:)``: their normalised inputs and labels, then the per-event
/// results. Allocated once with a capacity; ``append(_:label:)`` checks and normalises an embedding
/// (a bad one is refused with its error and not added), ``removeAll()`` empties the batch for reuse.
/// Nothing is allocated per event.
public final class EventBatch {
    public let capacity: Int
    public let dimension: Int
    public let classCount: Int
    /// Row i: the L2-normalised input of event i.
    let inputs: Matrix
    private(set) var labels: [Int]
    /// Event times in seconds (NaN: none).
    private(set) var times: [Double]
    /// Per class, whether it is retired (set by ``StreamModel/makeBatch(capacity:)``): labels of
    /// retired classes are refused.
    var retired: [Bool]
    /// The events held.
    public private(set) var count = 0
    /// After ``StreamModel/process(_:)``: the result of event i.
    public private(set) var results: [EventResult]
    /// After ``StreamModel/process(_:)``: row i holds the calibrated class probabilities of event i.
    public let probabilities: Matrix
    /// After ``StreamModel/process(_:)``: the head's update count right after event i (the model version
    /// that a prediction published right after the event would carry).
    public private(set) var modelVersions: [Int]
    /// After ``StreamModel/process(_:)``: the alerts event i raised or cleared (``StreamModel/changes``).
    public private(set) var alertChanges: [[AlertChange]]

    public init(capacity: Int, dimension: Int, classCount: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
        self.dimension = dimension
        self.classCount = classCount
        inputs = Matrix(rows: capacity, columns: dimension)
        labels = Array(repeating: -1, count: capacity)
        times = Array(repeating: .nan, count: capacity)
        retired = Array(repeating: false, count: classCount)
        let empty = EventResult(
            index: 0, probability: 0, entropy: 0, variance: 0, mahalanobis2: nil, drifting: false, updated: false,
            correct: nil, alertChanged: false)
        results = Array(repeating: empty, count: capacity)
        probabilities = Matrix(rows: capacity, columns: classCount)
        modelVersions = Array(repeating: 0, count: capacity)
        alertChanges = Array(repeating: [], count: capacity)
    }

    /// Adds an event. - Throws: ``EmbeddingError`` for a bad embedding or label; nothing is added then.
    /// - Parameter time: the event's time in seconds, when it has one.
    public func append(_ embedding: UnsafeBufferPointer<Float>, label: Int?, time: Double? = nil) throws(EmbeddingError) {
        precondition(count < capacity, "the batch is full")
        if let label, label < 0 || label >= classCount {
            throw .labelOutOfRange(label: label, classCount: classCount)
        }
        if let label, retired[label] { throw .retiredClass(label: label) }
        try normalizeEmbedding(embedding, into: inputs.row(count), dimension: dimension)
        labels[count] = label ?? -1
        times[count] = time ?? .nan
        count += 1
    }

    /// Adds an event given as a Swift array (convenience for tests and tools).
    public func append(_ embedding: [Float], label: Int?, time: Double? = nil) throws(EmbeddingError) {
        try embedding.withUnsafeBufferPointer { (buffer) throws(EmbeddingError) in try append(buffer, label: label, time: time) }
    }

    public var isFull: Bool { count == capacity }

    public func removeAll() { count = 0 }

    /// The label of event i (nil: unlabelled).
    public func label(_ i: Int) -> Int? { labels[i] >= 0 ? labels[i] : nil }

    /// The time of event i (nil: none).
    func time(_ i: Int) -> Double? { times[i].isNaN ? nil : times[i] }

    func record(_ i: Int, _ result: EventResult, _ model: StreamModel) {
        results[i] = result
        probabilities.row(i).update(from: model.probabilities.pointer, count: classCount)
        modelVersions[i] = model.head.updateCount
        if !model.changes.isEmpty || !alertChanges[i].isEmpty { alertChanges[i] = model.changes }
    }
}

extension StreamModel {
    /// Processes the events of `batch` in order, in blocks of up to ``maximumBlock`` events, and writes
    /// each event's result, probabilities, model version and alert changes into the batch.
    ///
    /// Per-sample semantics are kept whatever the block size: event i is scored, predicted and learned
    /// with the state after event i - 1, so the predictions are those of ``process(_:label:)`` called
    /// event by event, and the state agrees with it up to rounding (`docs/performance.md` says by how
    /// much). A block of fewer than ``minimumBlock`` events (a trickle, the end of a batch) takes the
    /// per-event path. The blocked work: the Kalman head's
    /// `X Q_0` and its fold (``KalmanHead``, `KalmanHead+Block.swift`), the drift scorer's solves
    /// (`MahalanobisScorer+Block.swift`). The model's stored state is complete again when this returns:
    /// a checkpoint can never fall inside a block.
    public func process(_ batch: EventBatch) {
        precondition(batch.dimension == dimension && batch.classCount == classCount, "a batch of another class set")
        precondition(batch.retired == retired, "a batch made before a class was retired: use makeBatch(capacity:)")
        var start = 0
        while start < batch.count {
            let n = min(maximumBlock, batch.count - start)
            let rows = UnsafePointer(batch.inputs.row(start))
            if n < minimumBlock {
                // Too few events for the level-3 calls to pay for their packing: event by event.
                for i in 0..<n {
                    batch.record(start + i, step(rows + i * dimension, label: batch.label(start + i), blockRow: nil, time: batch.time(start + i)), self)
                }
            } else {
                blockedHead?.beginBlock(rows, count: n)
                scorer?.beginBlock(rows, count: n)
                for i in 0..<n {
                    batch.record(start + i, step(rows + i * dimension, label: batch.label(start + i), blockRow: i, time: batch.time(start + i)), self)
                }
                blockedHead?.endBlock()
            }
            start += n
        }
    }

    /// The default of ``maximumBlock``, chosen by measurement (`docs/performance.md`).
    public static let defaultMaximumBlock = 128

    /// The default of ``minimumBlock``: below 8 events a block costs more than event by event (the
    /// level-3 calls copy the D x D matrices into their packed panels once per call; measured
    /// crossover at about 4 events for D = 512 and 8 for D = 1024, `docs/performance.md`).
    public static let defaultMinimumBlock = 8
}
