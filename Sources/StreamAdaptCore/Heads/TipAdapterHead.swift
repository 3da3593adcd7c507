import Foundation

/// Settings of the ``TipAdapterHead``.
public struct TipAdapterConfiguration: Sendable, Equatable {
    /// Which cached key a new labelled embedding replaces when its class is full.
    public enum Eviction: String, Sendable, CaseIterable {
        /// The oldest key of the class.
        case fifo
        /// Reservoir sampling: a uniform sample of all the class's embeddings seen so far (seeded).
        case reservoir
    }

    /// How the cache turns image-image cosines into logits (see ``TipAdapterHead``).
    public enum AffinityCorrection: String, Sendable, CaseIterable {
        /// The papers' form: alpha exp(-beta (1 - y F')) L with absolute alpha and beta.
        case none
        /// Our online intra-modal-overlap correction (the default): the event's affinities are
        /// standardised by their spread across the cached keys, exp(b (a_j - max a) / sd(a)), and the cache
        /// term is measured in units of the spread of the logits it is added to: r sd(base logits).
        case standardized
    }

    /// Keys kept per class (K shots).
    public var shotsPerClass = 16
    public var eviction: Eviction = .fifo
    /// The affinity correction; `alpha` and `beta` apply to `.none` only, `relativeAlpha` and
    /// `spreadSharpness` to `.standardized` only.
    public var affinityCorrection: AffinityCorrection = .standardized
    /// Residual ratio alpha of the cache logits (correction `.none`).
    public var alpha = 1.17
    /// Sharpness beta of the affinity exp(-beta (1 - x F')) (correction `.none`).
    public var beta = 1.0
    /// b: sharpness of the standardised affinity exp(b (a_j - max a) / sd(a)) (correction `.standardized`).
    public var spreadSharpness = 2.0
    /// r: weight of the cache term in units of the standard deviation, across classes, of the logits
    /// it is added to (correction `.standardized`).
    public var relativeAlpha = 1.0
    /// Correction `.standardized`: the cache term's weight is chosen per event among r times
    /// ``TipAdapterHead/weightLevels`` by a sign test of each level against level 0 (the base logits
    /// alone) on the recent labelled events where the two disagree; with false it is always r.
    public var selectsWeight = true
    /// Memory, in labelled events, of the error rates that choose the weight (EMA rate 1 / memory).
    public var selectionMemory = 100.0
    /// z: a level is used only when its wins over level 0 exceed its losses by z sqrt(wins + losses).
    public var selectionConfidence = 2.0
    /// Scale of the zero-shot term (CLIP's logit scale).
    public var temperature = 100.0
    /// Whether the logits include the zero-shot term; false when the head is summed with another head
    /// that supplies the zero-shot prior (e.g. `kalman+tip`), so it is not counted twice.
    public var includeZeroShot = true
    /// Tip-X: weight gamma of the KL-signature affinity (0 disables Tip-X).
    public var tipXWeight = 0.0
    /// Tip-X: temperature of the class-probability signatures.
    public var signatureTemperature = 0.5
    /// Seed of the reservoir sampler.
    public var seed: UInt64 = 0x5EED

    public init() {}

    public func validate() throws(ConfigurationError) {
        if shotsPerClass < 1 { throw ConfigurationError(field: "tip.shotsPerClass", reason: "must be at least 1") }
        if !(alpha >= 0) { throw ConfigurationError(field: "tip.alpha", reason: "must be non-negative") }
        if !(beta >= 0) { throw ConfigurationError(field: "tip.beta", reason: "must be non-negative") }
        if !(spreadSharpness >= 0) {
            throw ConfigurationError(field: "tip.spreadSharpness", reason: "must be non-negative")
        }
        if !(relativeAlpha >= 0) { throw ConfigurationError(field: "tip.relativeAlpha", reason: "must be non-negative") }
        if !(selectionConfidence >= 0) {
            throw ConfigurationError(field: "tip.selectionConfidence", reason: "must be non-negative")
        }
        if !(selectionMemory >= 1) { throw ConfigurationError(field: "tip.selectionMemory", reason: "must be at least 1") }
        if !(temperature > 0) { throw ConfigurationError(field: "tip.temperature", reason: "must be positive") }
        if !(tipXWeight >= 0) { throw ConfigurationError(field: "tip.gamma", reason: "must be non-negative") }
        if !(signatureTemperature > 0) {
            throw ConfigurationError(field: "tip.signatureTemperature", reason: "must be positive")
        }
    }
}

/// Tip-Adapter, training-free cache model (Zhang et al., "Tip-Adapter: Training-free Adaption of CLIP
/// for Few-shot Classification", ECCV 2022), optionally with the Tip-X signature term (Udandarao et al.,
/// "SuS-X: Training-Free Name-Only Transfer of Vision-Language Models", ICCV 2023), and optionally on
/// embeddings corrected by a linear map for intra-modal overlap (TA++ / TX++: Kravets & Namboodiri,
/// "CLIP Adaptation by Intra-modal Overlap Reduction", BMVC 2024).
///
/// Cache: keys F = normalised labelled embeddings (at most K per class, FIFO or reservoir),
/// values L = their one-hot labels. For a normalised input x (y = normalise(M x) with the optional
/// map M, else y = x), a = y F' the affinities to the cached keys, z0 = tau x T' the base logits
/// (the zero-shot term; in a sum such as `kalman+tip`, the other part's logits):
///
///     correction none (the papers' form):
///     A        = exp(-beta (1 - a)),   w = alpha,   w_X = gamma,    [lo, hi] = [min a, max a]
///     correction standardized (default; TipAdapterHead+Correction.swift):
///     A_j      = exp(b (a_j - max a) / sd(a)),       sd over the cached keys (A = 1 when sd = 0)
///     w        = r sd_c(z0),   w_X = gamma sd_c(z0), [lo, hi] = [min A, 1]
///
///     logits   = z0 + w A L                                          (Tip-Adapter)
///     s(f)     = softmax(f T' / tau_s)                               (class signature, tau_s = 0.5)
///     kl_j     = -KL(s(y) || s(F_j)), min-max rescaled to [lo, hi]
///     logits  += w_X kl L                                            (Tip-X)
///
/// Learning inserts the input into the cache. Cost per event: O(C K D) (+ O(C K C) for Tip-X); the
/// correction adds O(C K + C).
public final class TipAdapterHead: AdapterHead {
    public let name: String
    public internal(set) var classCount: Int
    public let dimension: Int
    public let configuration: TipAdapterConfiguration
    public private(set) var updateCount = 0

    var classes: Matrix  // T, C x D, normalised
    private let projection: Matrix?  // M, D x D (TA++ / TX++)
    var keys: Matrix  // (C K) x D; slot c*K + i holds class c's i-th key
    var keyLogSignatures: Matrix  // (C K) x C, log s(F_j) (Tip-X only)
    var filled: [Int]  // keys held per class
    var retired: [Bool]  // classes the model retired: left out of the cross-class statistics
    var seen: [Int]  // labelled embeddings seen per class (reservoir)
    var nextSlot: [Int]  // FIFO position per class
    private var random: SplitMix64

    private let query: Matrix  // y (D)
    var affinity: Matrix  // (C K): a, then the kernel values A
    var signature: Matrix  // s(y) (C)
    var klAffinity: Matrix  // (C K)
    var base: Matrix  // z0 (C)
    var term: Matrix  // the cache term at weight r (C), for the weight selection
    /// Discounted counts of the labelled events on which weight level m was right and level 0 wrong
    /// (wins) and the reverse (losses) (correction `.standardized` with `selectsWeight`), else empty.
    var levelWins: [Double]
    var levelLosses: [Double]
    private var hasPrediction = false

    /// - Parameters:
    ///   - projection: optional D x D map applied to embeddings before the cache (TA++ / TX++).
    public init(
        classes: ClassEmbeddings, configuration: TipAdapterConfiguration = .init(), projection: Matrix? = nil,
        name: String? = nil
    ) {
        precondition(projection == nil || (projection!.rows == classes.dimension && projection!.columns == classes.dimension))
        self.configuration = configuration
        self.name = name ?? (configuration.tipXWeight > 0 ? "tipx" : "tip") + (projection == nil ? "" : "++")
        self.classes = classes.normalized
        self.projection = projection
        classCount = classes.count
        dimension = classes.dimension
        let slots = classCount * configuration.shotsPerClass
        keys = Matrix(rows: slots, columns: dimension)
        keyLogSignatures = Matrix(rows: configuration.tipXWeight > 0 ? slots : 0, columns: classCount)
        filled = Array(repeating: 0, count: classCount)
        retired = Array(repeating: false, count: classCount)
        seen = Array(repeating: 0, count: classCount)
        nextSlot = Array(repeating: 0, count: classCount)
        random = SplitMix64(seed: configuration.seed)
        query = Matrix(rows: dimension, columns: 1)
        affinity = Matrix(rows: slots, columns: 1)
        signature = Matrix(rows: classCount, columns: 1)
        klAffinity = Matrix(rows: slots, columns: 1)
        base = Matrix(rows: classCount, columns: 1)
        term = Matrix(rows: classCount, columns: 1)
        levelWins = Array(repeating: 0, count: configuration.selectsLevels ? Self.weightLevels.count : 0)
        levelLosses = levelWins
    }

    /// The number of keys currently cached for class `c`.
    public func cachedKeys(of c: Int) -> Int { filled[c] }

    public func predict(_ x: UnsafePointer<Double>, logits: UnsafeMutablePointer<Double>) -> Double {
        let tau = configuration.temperature
        if configuration.includeZeroShot {
            BLAS.gemv(classCount, dimension, alpha: tau, classes.pointer, x, beta: 0, logits)
            addCache(x, to: logits, base: UnsafePointer(logits))
        } else {
            // Alone without its zero-shot term, the standardized cache term still takes its scale from z0.
            if configuration.affinityCorrection == .standardized {
                BLAS.gemv(classCount, dimension, alpha: tau, classes.pointer, x, beta: 0, base.pointer)
            }
            logits.update(repeating: 0, count: classCount)
            addCache(x, to: logits, base: UnsafePointer(base.pointer))
        }
        return 0
    }

    /// Adds the cache term (and the Tip-X term) of `x` to `logits`, which hold the base logits z0 it
    /// is a residual of (``CombinedHead`` passes the sum of the parts before this one): with the
    /// standardized correction the term's scale is the spread of these logits. Like
    /// ``predict(_:logits:)``, this is the prediction that ``learn(label:context:)`` then learns.
    public func addCacheTerm(_ x: UnsafePointer<Double>, to logits: UnsafeMutablePointer<Double>) {
        addCache(x, to: logits, base: UnsafePointer(logits))
    }

    private func addCache(
        _ x: UnsafePointer<Double>, to logits: UnsafeMutablePointer<Double>, base z0: UnsafePointer<Double>
    ) {
        let d = dimension
        let k = configuration.shotsPerClass
        if let projection {
            BLAS.gemv(d, d, alpha: 1, projection.pointer, x, beta: 0, query.pointer)
            let norm = BLAS.dot(d, query.pointer, query.pointer).squareRoot()
            BLAS.scal(d, alpha: norm > 0 ? 1 / norm : 0, query.pointer)
        } else {
            query.pointer.update(from: x, count: d)
        }
        hasPrediction = true
        let selects = configuration.selectsLevels
        if selects && z0 != UnsafePointer(base.pointer) { base.pointer.update(from: z0, count: classCount) }
        term.pointer.update(repeating: 0, count: classCount)
        defer {
            let level = selects ? Self.weightLevels[selectedLevel] : 1
            BLAS.axpy(classCount, alpha: level, term.pointer, logits)
        }
        guard filled.contains(where: { $0 > 0 }) else { return }
        BLAS.gemv(keys.rows, d, alpha: 1, keys.pointer, query.pointer, beta: 0, affinity.pointer)
        // The scale is read before anything is added: `z0` may be `logits`.
        let weights = kernelize(base: z0)  // affinity now holds A
        for c in 0..<classCount where !retired[c] {
            var sum = 0.0
            for i in 0..<filled[c] { sum += affinity[c * k + i] }
            term[c] += weights.cache * sum
        }
        guard configuration.tipXWeight > 0 else { return }

        // Tip-X: -KL(s(y) || s(F_j)) = -sum_i s_i log s_i + sum_i s_i log s_j,i
        writeLogSignature(of: query.pointer, into: signature.pointer)
        var negativeEntropy = 0.0
        for i in 0..<classCount {
            let logS = signature[i]
            signature[i] = retired[i] ? 0 : Foundation.exp(logS)
            negativeEntropy += signature[i] * logS
        }
        BLAS.gemv(keys.rows, classCount, alpha: 1, keyLogSignatures.pointer, signature.pointer, beta: 0, klAffinity.pointer)
        var klLow = Double.infinity
        var klHigh = -Double.infinity
        for c in 0..<classCount where !retired[c] {
            for i in 0..<filled[c] {
                let v = klAffinity[c * k + i] - negativeEntropy
                klAffinity[c * k + i] = v
                klLow = min(klLow, v)
                klHigh = max(klHigh, v)
            }
        }
        let span = klHigh - klLow
        let (lowest, highest) = (weights.low, weights.high)
        for c in 0..<classCount where !retired[c] {
            var sum = 0.0
            for i in 0..<filled[c] {
                let unit = span > 0 ? (klAffinity[c * k + i] - klLow) / span : 1
                sum += lowest + unit * (highest - lowest)
            }
            term[c] += weights.signature * sum
        }
    }

    public func learn(label: Int, context: LearnContext) {
        precondition(hasPrediction, "learn(label:) must follow predict(_:logits:)")
        precondition(label >= 0 && label < classCount, "label \(label) out of range")
        hasPrediction = false
        if configuration.selectsLevels { scoreLevels(label: label) }
        let k = configuration.shotsPerClass
        seen[label] += 1
        let slot: Int
        if filled[label] < k {
            slot = filled[label]
            filled[label] += 1
        } else {
            switch configuration.eviction {
            case .fifo:
                slot = nextSlot[label]
                nextSlot[label] = (slot + 1) % k
            case .reservoir:
                let r = Int(random.next() % UInt64(seen[label]))
                guard r < k else {
                    updateCount += 1
                    return
                }
                slot = r
            }
        }
        let row = label * k + slot
        keys.row(row).update(from: query.pointer, count: dimension)
        if configuration.tipXWeight > 0 {
            writeLogSignature(of: query.pointer, into: keyLogSignatures.row(row))
        }
        updateCount += 1
    }

    /// log softmax(f T' / tau_s) into `out` (C entries).
    func writeLogSignature(of f: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        BLAS.gemv(classCount, dimension, alpha: 1 / configuration.signatureTemperature, classes.pointer, f, beta: 0, out)
        var maximum = -Double.infinity
        for i in 0..<classCount where !retired[i] { maximum = max(maximum, out[i]) }
        var sum = 0.0
        for i in 0..<classCount where !retired[i] { sum += Foundation.exp(out[i] - maximum) }
        let logSum = maximum + Foundation.log(sum)
        // Over the active classes; a retired class's entry is 0 (its probability is set to 0 where the
        // signatures meet, so it adds nothing).
        for i in 0..<classCount { out[i] = retired[i] ? 0 : out[i] - logSum }
    }
}

/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014) for reproducible sampling.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Checkpoint

extension TipAdapterHead {
    /// Writes the head: kind and name, configuration, C and D, fingerprints of the class embeddings and
    /// of the projection (which the model is rebuilt with, not restored from), the cache (keys, Tip-X
    /// key signatures, per-class fill, seen and FIFO counters), the sampler state and the update count,
    /// then, when the head selects its cache weight, the wins and losses of each weight level. A
    /// checkpoint of a different correction setting is refused, naming the field (checkpoints written
    /// before the correction existed are of format 3, refused as a whole).
    /// The scratch of the last `predict` is not saved (checkpoints are taken between events).
    public func save(to writer: inout CheckpointWriter) {
        writer.writeHeadHeader(
            kind: .tipAdapter, name: name, configuration: configuration, classCount: classCount, dimension: dimension)
        writer.writeUInt64(Checkpoint.fingerprint(classes))
        writer.writeBool(projection != nil)
        if let projection { writer.writeUInt64(Checkpoint.fingerprint(projection)) }
        writer.writeMatrix(keys)
        writer.writeMatrix(keyLogSignatures)
        writer.writeInts(filled)
        writer.writeInts(seen)
        writer.writeInts(nextSlot)
        writer.writeUInt64(random.state)
        writer.writeInt(updateCount)
        if configuration.selectsLevels {  // added with the standardized correction (issue 9)
            writer.writeDoubles(levelWins)
            writer.writeDoubles(levelLosses)
        }
    }

    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectHeadHeader(
            kind: .tipAdapter, name: name, configuration: configuration, classCount: classCount, dimension: dimension)
        try reader.expectFingerprint(Checkpoint.fingerprint(classes), field: "\(name).classEmbeddings")
        let storedHasProjection = try reader.readBool()
        if storedHasProjection != (projection != nil) {
            throw .configuration(
                "\(name).projection", expected: projection == nil ? "no projection" : "a projection",
                found: storedHasProjection ? "a projection" : "no projection")
        }
        if let projection { try reader.expectFingerprint(Checkpoint.fingerprint(projection), field: "\(name).projection") }
        let storedKeys = try reader.readMatrix(like: keys, field: "\(name).keys")
        let storedSignatures = try reader.readMatrix(like: keyLogSignatures, field: "\(name).keyLogSignatures")
        let storedFilled = try reader.readInts(count: classCount, field: "\(name).filled")
        let storedSeen = try reader.readInts(count: classCount, field: "\(name).seen")
        let storedNextSlot = try reader.readInts(count: classCount, field: "\(name).nextSlot")
        let storedRandom = try reader.readUInt64()
        let storedUpdates = try reader.readInt()
        let levels = levelWins.count
        let storedWins = levels > 0 ? try reader.readDoubles(count: levels, field: "\(name).levelWins") : []
        let storedLosses = levels > 0 ? try reader.readDoubles(count: levels, field: "\(name).levelLosses") : []
        if let bad = (storedWins + storedLosses).first(where: { !($0 >= 0) }) {
            throw .corrupt("\(name).levelWins", "weight-level count \(bad) is not a non-negative number")
        }
        let k = configuration.shotsPerClass
        for c in 0..<classCount {
            guard (0...k).contains(storedFilled[c]), storedSeen[c] >= storedFilled[c], (0..<k).contains(storedNextSlot[c])
            else {
                throw .corrupt(
                    "\(name).filled", "class \(c): filled \(storedFilled[c]), seen \(storedSeen[c]), next slot "
                        + "\(storedNextSlot[c]) with \(k) shots")
            }
        }
        guard storedUpdates >= 0 else { throw .corrupt("\(name).updateCount", "negative update count \(storedUpdates)") }
        return CheckpointCommit { [self] in
            keys.assign(storedKeys)
            keyLogSignatures.assign(storedSignatures)
            filled = storedFilled
            seen = storedSeen
            nextSlot = storedNextSlot
            random = SplitMix64(seed: storedRandom)  // SplitMix64's state is its seed
            updateCount = storedUpdates
            levelWins = storedWins
            levelLosses = storedLosses
            hasPrediction = false
        }
    }
}
