/// An adapter head: a classifier on top of frozen, L2-normalised image embeddings that predicts
/// an event and then, when the event carries a label, learns from it (prequential order).
///
/// Heads are single-writer state machines: one owner calls ``predict(_:logits:)`` for an event and
/// then, optionally, ``learn(label:context:)`` for that same event. `learn` always applies to the
/// input of the most recent `predict`, which lets a head reuse what it computed while predicting
/// (the Kalman head reuses P x). Both calls work on preallocated buffers and allocate nothing.
///
/// Every head is ``Checkpointable``: its complete state can be saved and restored exactly (see
/// `docs/checkpoints.md`), so a new head must say what its state is.
public protocol AdapterHead: Checkpointable {
    /// The head's name as used on the command line and in reports (`kalman`, `tip`, ...).
    var name: String { get }
    var classCount: Int { get }
    var dimension: Int { get }

    /// Writes the class logits of the L2-normalised embedding `x` (``dimension`` entries) into
    /// `logits` (``classCount`` entries) and returns the predictive variance of a logit
    /// (0 for heads that have no posterior).
    func predict(_ x: UnsafePointer<Double>, logits: UnsafeMutablePointer<Double>) -> Double

    /// Learns that the input of the last ``predict(_:logits:)`` call has class `label`.
    /// `label` must be in `0..<classCount` (callers validate: see ``StreamModel``).
    func learn(label: Int, context: LearnContext)

    /// The number of updates applied so far.
    var updateCount: Int { get }
}

/// What the pipeline knows about an event beyond its embedding, passed to ``AdapterHead/learn(label:context:)``.
public struct LearnContext: Sendable {
    /// The event's squared Mahalanobis distance from the data seen so far (see ``MahalanobisScorer``),
    /// or nil when there is none (input scoring off, or a delayed label). The Kalman head shrinks its
    /// step for large values and takes nil as the neutral d2 = D.
    public var mahalanobis2: Double?
    /// The event's time in seconds (its timestamp), or nil when it has none: the Kalman head's
    /// event-time forgetting (`kalman.forgettingUnit: second`) counts from it.
    public var time: Double?

    public init(mahalanobis2: Double? = nil, time: Double? = nil) {
        self.mahalanobis2 = mahalanobis2
        self.time = time
    }
}

/// The class embeddings a head starts from: CLIP text embeddings of the class prompts (in the bundled
/// data, class prototypes), one row per class, L2-normalised on construction.
public struct ClassEmbeddings {
    public let names: [String]
    /// C x D, each row L2-normalised.
    public let normalized: Matrix

    /// Names and already-normalised rows (``appending(name:normalized:)``).
    init(names: [String], normalized: Matrix) {
        self.names = names
        self.normalized = normalized
    }

    public var count: Int { normalized.rows }
    public var dimension: Int { normalized.columns }

    /// - Parameters:
    ///   - names: class names in index order.
    ///   - values: C x D row-major values (need not be normalised).
    /// - Throws: ``EmbeddingError`` when a row is not finite or has zero norm, or the sizes disagree.
    public init(names: [String], dimension: Int, values: [Float]) throws(EmbeddingError) {
        guard dimension > 0, values.count == names.count * dimension, !names.isEmpty else {
            throw .wrongDimension(expected: names.count * dimension, actual: values.count)
        }
        self.names = names
        let matrix = Matrix(rows: names.count, columns: dimension)
        try values.withUnsafeBufferPointer { (all) throws(EmbeddingError) in
            for c in 0..<names.count {
                let row = UnsafeBufferPointer(rebasing: all[(c * dimension)..<((c + 1) * dimension)])
                try normalizeEmbedding(row, into: matrix.row(c), dimension: dimension)
            }
        }
        normalized = matrix
    }

    /// The index of the class called `name`, or nil.
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }
}
