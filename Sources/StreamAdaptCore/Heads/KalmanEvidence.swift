/// What a set of labelled events tells the Kalman head, in information form: the building block of one
/// model learned from several partitions (the `shared` model mode of a consumer group, docs/scale-out.md).
///
/// For the linear-Gaussian head with a fixed observation noise R, no Mahalanobis regulation, the one-hot
/// target y = kappa onehot(c) and forgetting 1, the posterior after any set of events is that of Bayesian
/// linear regression, whatever the order (Kalman 1960; the information filter, e.g. Maybeck 1979, ch. 5):
///
///     Y   = P^-1        = P0^-1 + sum_i x_i x_i' / R
///     Y W' = eta         = P0^-1 W0' + sum_i x_i y_i' / R
///
/// so the evidence of disjoint sets of events (partitions) adds: with E_p = (sum_{i in p} x_i x_i' / R,
/// sum_{i in p} y_i x_i' / R),
///
///     G = P0^-1 + sum_p E_p.information,   W' = G^-1 (P0^-1 W0' + sum_p E_p.projection'),   P = G^-1
///
/// equals, up to rounding, the head that learned every event one by one (``fold(_:into:)``; tested in
/// KalmanEvidenceTests). With the centred target, an adaptive R, the Mahalanobis regulation or
/// forgetting, a fold is an approximation (``isExact(for:)``).
///
/// Storage: D x D (the upper triangle of sum x x' / R) and C x D; one `dsyr` and one `daxpy` per event.
public final class KalmanEvidence {
    public let dimension: Int
    public let classCount: Int
    /// sum_i x_i x_i' / R: the upper triangle of a D x D row-major matrix.
    public let information: Matrix
    /// sum_i y_i x_i' / R as C x D, row-major: row c is the evidence for W's row c.
    public let projection: Matrix
    /// Events added.
    public private(set) var count = 0

    public init(dimension: Int, classCount: Int) {
        self.dimension = dimension
        self.classCount = classCount
        information = Matrix(rows: dimension, columns: dimension)
        projection = Matrix(rows: classCount, columns: dimension)
    }

    /// Whether a fold reproduces the sequential head exactly (up to rounding) for `configuration`.
    public static func isExact(for configuration: KalmanConfiguration) -> Bool {
        configuration.observation == .gaussian && configuration.target == .oneHot && configuration.covariance == .full
            && configuration.precision == .float64 && configuration.forgetting == 1 && configuration.noiseMemory == 1
            && configuration.mahalanobisScaling == 0
    }

    /// Adds one labelled event: `x` as the head saw it (normalised), its label, the head's target scale
    /// kappa and observation noise R.
    public func add(_ x: UnsafePointer<Double>, label: Int, targetScale: Double, noise: Double) {
        precondition(label >= 0 && label < classCount, "label \(label) out of range")
        BLAS.syr(dimension, alpha: 1 / noise, x, information.pointer)
        BLAS.axpy(dimension, alpha: targetScale / noise, x, projection.pointer + label * dimension)
        count += 1
    }

    /// Adds the evidence of other events (a disjoint set).
    public func add(_ other: KalmanEvidence) {
        precondition(other.dimension == dimension && other.classCount == classCount)
        BLAS.axpy(information.count, alpha: 1, other.information.pointer, information.pointer)
        BLAS.axpy(projection.count, alpha: 1, other.projection.pointer, projection.pointer)
        count += other.count
    }

    /// Sets `head`'s weights and covariance to the posterior of its prior (W0 = initialScale * t^_c,
    /// P0 = p0 I, from its configuration and `classes`) and `evidence`: one Cholesky factorisation of G,
    /// O(D^3 / 3) + O(C D^2). The head's noise and update count are left as they are.
    /// - Throws: ``KalmanEvidenceError`` when the head is not a full Float64 Kalman head of the same
    ///   shape, or G is not positive definite.
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
        let g = Matrix(rows: d, columns: d)
        let b = Matrix(rows: c, columns: d)
        let prior = 1 / config.priorVariance
        for i in 0..<d { g[i, i] = prior }
        // P0^-1 W0' with W0 = initialScale * t^_c.
        b.pointer.update(from: classes.normalized.pointer, count: c * d)
        BLAS.scal(c * d, alpha: prior * config.initialScale, b.pointer)
        for e in evidence {
            BLAS.axpy(d * d, alpha: 1, e.information.pointer, g.pointer)
            BLAS.axpy(c * d, alpha: 1, e.projection.pointer, b.pointer)
        }
        guard BLAS.choleskySolveAndInvert(d, g.pointer, rightHandSides: c, b.pointer) else {
            throw .notPositiveDefinite
        }
        head.adopt(weights: b, covariance: g)
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
