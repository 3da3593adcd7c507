import Foundation

/// What a set of labelled events tells the Kalman head, in information form: the building block of one
/// model learned from several partitions (the `shared` model mode of a consumer group, docs/scale-out.md).
///
/// Every update of the head is a linear-Gaussian observation of the logits: target y (C values) through
/// x with noise r (``KalmanHead`` records y = z + e / g and r = R_eff, or R_eff / (h a^2) for the softmax
/// observation). For the linear-Gaussian head with a fixed R and no Mahalanobis regulation, y (kappa
/// onehot(c), or the centred target, whose level mean(z) is the never-changing mean row of W times x) and
/// r = R do not depend on the state, and the posterior after any set of
/// events is that of weighted Bayesian linear regression, whatever the order (Kalman 1960; the
/// information filter, e.g. Maybeck 1979, ch. 5). With forgetting per second of event time
/// (`forgettingUnit: second`, no trace bound) an event at time t_i weighs lambda^(T - t_i) at time T:
///
///     Y(T)   = P(T)^-1 = lambda^(T - t_0) P0^-1 + sum_i lambda^(T - t_i) x_i x_i' / r_i
///     eta(T) = Y W'    = lambda^(T - t_0) P0^-1 W0' + sum_i lambda^(T - t_i) x_i y_i' / r_i
///
/// (t_0 the first event's time; forgetting inflates P and keeps W, so it scales Y and eta alike). So the
/// evidence of disjoint sets of events (partitions) adds: partition p keeps E_p = (sum x x' / r,
/// sum y x' / r) weighted to its latest time T_p, and
///
///     G = lambda^(T - t_0) P0^-1 + sum_p lambda^(T - T_p) E_p.information,   P = G^-1,
///     W' = G^-1 (lambda^(T - t_0) P0^-1 W0' + sum_p lambda^(T - T_p) E_p.projection')
///
/// with T = max_p T_p, t_0 = min_p of the first times, equals (up to rounding) the head that learned every
/// event one by one in time order (``fold(_:into:classes:)``; tested in KalmanEvidenceTests). Anything
/// else is an approximation (``isExact(for:)``): y and r then depend on the state of the head that
/// recorded them; with per-event forgetting each partition forgets over its own events (E_p is weighted
/// lambda^(its events since), the prior lambda^(the most events of a partition)); the trace bound is
/// left out.
///
/// Storage: D x D (the upper triangle of sum x x' / r) and C x D, both times a lazy ``scale``; events
/// are added 64 at a time (one `dsyrk` and one `dgemm`).
public final class KalmanEvidence {
    public let dimension: Int
    public let classCount: Int
    /// The head's forgetting factor and what it counts.
    public let forgetting: Double
    public let unit: KalmanConfiguration.ForgettingUnit
    /// sum_i w_i x_i x_i' / r_i = scale * information (the upper triangle of a D x D row-major matrix).
    public var information: Matrix {
        flush()
        return storedInformation
    }
    /// sum_i w_i y_i x_i' / r_i = scale * projection, C x D row-major: row c is the evidence for W's row c.
    public var projection: Matrix {
        flush()
        return storedProjection
    }
    let storedInformation: Matrix
    let storedProjection: Matrix
    /// Events added but not yet in the stored matrices, as rows sqrt(alpha) x (``pendingInputs``) and
    /// sqrt(alpha) y (``pendingTargets``): applied ``panel`` at a time with one `dsyrk` and one `dgemm`
    /// (level 3) instead of a `dsyr` per event. Measured with `streamadapt bench --fold` at D = 1024: a
    /// `dsyr` per event over four partitions' D x D records cost about 500 us per event (each record is
    /// 8 MB, far out of cache), the panel 30 to 40 us.
    let pendingInputs: Matrix
    let pendingTargets: Matrix
    var pending = 0
    static let panel = 64
    /// The lazy factor of ``information`` and ``projection``.
    public internal(set) var scale = 1.0
    /// Events added.
    public internal(set) var count = 0
    /// `second`: the latest event time (seconds) added, the time the weights refer to; nil before one.
    public internal(set) var latestTime: Double?
    /// `second`: the earliest event time added.
    public internal(set) var firstTime: Double?
    /// Scratch for the recording head: the target of the event being added (C values).
    let target: Matrix

    public init(dimension: Int, classCount: Int, forgetting: Double = 1, unit: KalmanConfiguration.ForgettingUnit = .event) {
        self.dimension = dimension
        self.classCount = classCount
        self.forgetting = forgetting
        self.unit = unit
        storedInformation = Matrix(rows: dimension, columns: dimension)
        storedProjection = Matrix(rows: classCount, columns: dimension)
        pendingInputs = Matrix(rows: Self.panel, columns: dimension)
        pendingTargets = Matrix(rows: Self.panel, columns: classCount)
        target = Matrix(rows: classCount, columns: 1)
    }

    /// An empty record for `head`'s shape and forgetting.
    public convenience init(for head: KalmanHead) {
        self.init(
            dimension: head.dimension, classCount: head.classCount, forgetting: head.configuration.forgetting,
            unit: head.configuration.forgettingUnit)
    }

    /// Whether a fold reproduces the sequential head exactly (up to rounding) for `configuration`: the
    /// full Float64 Gaussian head with fixed noise, no Mahalanobis regulation, and either no forgetting
    /// or forgetting per second of event time without a trace bound. Either target: the centred target's
    /// level, mean(z), is the mean row of W times x, and that mean row never changes (the centred
    /// innovation sums to zero over the classes), so its y does not depend on the state either.
    public static func isExact(for configuration: KalmanConfiguration) -> Bool {
        let forgettingIsExact =
            configuration.forgetting == 1 || (configuration.forgettingUnit == .second && configuration.traceBound == .infinity)
        return configuration.observation == .gaussian && configuration.covariance == .full
            && configuration.precision == .float64 && configuration.noiseMemory == 1 && configuration.mahalanobisScaling == 0
            && forgettingIsExact
    }

    /// Adds one event: `x` as the head saw it (normalised), its target y (C values) and noise r, at event
    /// time `time` (seconds; `second` unit only, nil: counted at the latest time).
    public func add(_ x: UnsafePointer<Double>, target y: UnsafePointer<Double>, noise r: Double, time: Double?) {
        var weight = 1.0
        switch unit {
        case .event:
            scale *= forgetting
        case .second:
            if let time, time.isFinite {
                if let latest = latestTime {
                    if time > latest {
                        scale *= Foundation.pow(forgetting, time - latest)
                        latestTime = time
                    } else {
                        weight = Foundation.pow(forgetting, latest - time)
                    }
                } else {
                    latestTime = time
                }
                firstTime = min(firstTime ?? time, time)
            }
        }
        if scale < 1e-8 { normalize() }
        let root = (weight / (r * scale)).squareRoot()
        let row = pendingInputs.row(pending)
        for j in 0..<dimension { row[j] = root * x[j] }
        let targets = pendingTargets.row(pending)
        for k in 0..<classCount { targets[k] = root * y[k] }
        pending += 1
        if pending == Self.panel { flush() }
        count += 1
    }

    /// Adds the pending events to the stored matrices: information += S' S (upper triangle), projection
    /// += T' S, with S, T the pending rows.
    public func flush() {
        guard pending > 0 else { return }
        BLAS.syrkTransposed(dimension, pending, alpha: 1, pendingInputs.pointer, beta: 1, storedInformation.pointer)
        BLAS.gemm(
            transposeA: true, classCount, dimension, pending, alpha: 1, pendingTargets.pointer, lda: classCount,
            pendingInputs.pointer, ldb: dimension, beta: 1, storedProjection.pointer, ldc: dimension)
        pending = 0
    }

    /// Adds one event of the linear-Gaussian head with the one-hot target: y = kappa onehot(label).
    public func add(_ x: UnsafePointer<Double>, label: Int, targetScale: Double, noise: Double, time: Double? = nil) {
        precondition(label >= 0 && label < classCount, "label \(label) out of range")
        let y = target.pointer
        for k in 0..<classCount { y[k] = k == label ? targetScale : 0 }
        add(x, target: UnsafePointer(y), noise: noise, time: time)
    }

    /// Folds the lazy scale into the stored matrices (the stored values stay in range).
    func normalize() {
        flush()
        guard scale != 1 else { return }
        BLAS.scal(storedInformation.count, alpha: scale, storedInformation.pointer)
        BLAS.scal(storedProjection.count, alpha: scale, storedProjection.pointer)
        scale = 1
    }

    /// Sets `head`'s weights and covariance to the posterior of its prior (W0 = initialScale * t^_c,
    /// P0 = p0 I, from its configuration and `classes`) and `evidence`, weighted as the type's equations
    /// say: one Cholesky factorisation of G, O(D^3 / 3) + O(C D^2). With event-time forgetting the head's
    /// latest time becomes T. The head's noise and update count are left as they are.
    /// - Throws: ``KalmanEvidenceError`` when the head is not a full Float64 Kalman head of the same
    ///   shape and forgetting, or G is not positive definite.
    public static func fold(_ evidence: [KalmanEvidence], into head: KalmanHead, classes: ClassEmbeddings) throws(KalmanEvidenceError) {
        let d = head.dimension
        let c = head.classCount
        let config = head.configuration
        guard config.covariance == .full, config.precision == .float64, head.covariance32 == nil else {
            throw .unsupportedHead("a fold needs the full Float64 covariance")
        }
        guard classes.dimension == d, classes.count == c, evidence.allSatisfy({ $0.dimension == d && $0.classCount == c }) else {
            throw .shape("evidence and head differ in D or C")
        }
        guard evidence.allSatisfy({ $0.forgetting == config.forgetting && $0.unit == config.forgettingUnit }) else {
            throw .shape("evidence and head differ in their forgetting")
        }
        // The weights of the prior and of each record.
        var priorWeight = 1.0
        var weights = [Double](repeating: 1, count: evidence.count)
        let latest = evidence.compactMap(\.latestTime).max()
        switch config.forgettingUnit {
        case .event:
            priorWeight = max(Foundation.pow(config.forgetting, Double(evidence.map(\.count).max() ?? 0)), 1e-300)
        case .second:
            if let latest, let first = evidence.compactMap(\.firstTime).min() {
                // Kept above 0 (a prior forgotten to 0 leaves G singular where no event looked).
                priorWeight = max(Foundation.pow(config.forgetting, latest - first), 1e-300)
            }
            for (i, e) in evidence.enumerated() {
                if let t = e.latestTime, let latest { weights[i] = Foundation.pow(config.forgetting, latest - t) }
            }
        }
        let g = Matrix(rows: d, columns: d)
        let b = Matrix(rows: c, columns: d)
        let prior = priorWeight / config.priorVariance
        for i in 0..<d { g[i, i] = prior }
        // P0^-1 W0' with W0 = initialScale * t^_c.
        b.pointer.update(from: classes.normalized.pointer, count: c * d)
        BLAS.scal(c * d, alpha: prior * config.initialScale, b.pointer)
        for (e, w) in zip(evidence, weights) {
            BLAS.axpy(d * d, alpha: w * e.scale, e.information.pointer, g.pointer)
            BLAS.axpy(c * d, alpha: w * e.scale, e.projection.pointer, b.pointer)
        }
        guard BLAS.choleskySolveAndInvert(d, g.pointer, rightHandSides: c, b.pointer) else {
            throw .notPositiveDefinite
        }
        head.adopt(weights: b, covariance: g)
        if config.forgettingUnit == .second, let latest { head.lastTime = latest }
    }
}

/// Why a fold of ``KalmanEvidence`` failed.
public enum KalmanEvidenceError: Error, Equatable, Sendable {
    case unsupportedHead(String)
    case shape(String)
    /// P0^-1 + sum of the evidence is not positive definite (non-finite evidence).
    case notPositiveDefinite
}

extension KalmanHead {
    /// Replaces W (C x D) and P (its upper triangle, D x D): the posterior of a fold.
    func adopt(weights w: Matrix, covariance p: Matrix) {
        weights.pointer.update(from: w.pointer, count: weights.count)
        covariance.pointer.update(from: p.pointer, count: covariance.count)
        covarianceScale = 1
        var trace = 0.0
        for i in 0..<dimension { trace += covariance[i, i] }
        storedTrace = trace
        hasPrediction = false
    }
}

extension KalmanEvidence {
    /// Makes this record a copy of `other` (same shape and forgetting).
    public func copy(from other: KalmanEvidence) {
        precondition(other.dimension == dimension && other.classCount == classCount && other.forgetting == forgetting && other.unit == unit)
        pending = 0
        storedInformation.copy(from: other.information)
        storedProjection.copy(from: other.projection)
        scale = other.scale
        count = other.count
        latestTime = other.latestTime
        firstTime = other.firstTime
    }
}

extension KalmanHead {
    /// Takes `other`'s W, P and event time (the posterior of a fold given to a member's other partitions).
    public func adoptPosterior(of other: KalmanHead) {
        precondition(other.dimension == dimension && other.classCount == classCount && other.covariance32 == nil && covariance32 == nil)
        weights.copy(from: other.weights)
        covariance.copy(from: other.covariance)
        covarianceScale = other.covarianceScale
        storedTrace = other.storedTrace
        lastTime = other.lastTime
        hasPrediction = false
    }
}
