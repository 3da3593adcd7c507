import Foundation

/// Settings of the ``MahalanobisScorer``.
public struct MahalanobisConfiguration: Sendable, Equatable {
    /// Memory a of the shared covariance: Sigma <- a Sigma + (1 - a) d d'.
    public var covarianceMemory = 0.998
    /// Step r of the class means: mu_c <- mu_c + r (x - mu_c).
    public var meanRate = 0.01
    /// Prior covariance Sigma0 = priorVariance * I (per dimension, of normalised embeddings).
    public var priorVariance = 1e-4
    /// Weight of the prior covariance, in events: the memory starts at n0/(n0 + 1).
    public var priorEvents = 20
    /// Ridge added before inversion, as a fraction of the mean diagonal of Sigma.
    public var shrinkage = 1.0
    /// Score in a fixed random projection of the embeddings to this many dimensions when they have more
    /// (0: score in the full dimension). See ``MahalanobisScorer``.
    public var projection = 0
    /// Refactor the covariance (Cholesky) every this many updates once the threshold is calibrated.
    public var refreshInterval = 400
    /// Refactor every this many updates until the threshold is calibrated, while the covariance
    /// estimate still converges (so that the reference scores are those of a settled precision).
    public var calibrationRefreshInterval = 100
    /// Events used only to learn means and covariance before calibration.
    public var warmupEvents = 500
    /// Events whose scores calibrate the threshold (after the warm-up).
    public var referenceEvents = 1000
    /// Threshold quantile of the reference scores.
    public var quantile = 0.99
    /// Step of the multiplicative median tracker that lets the threshold follow the slow decline (or
    /// growth) of in-distribution scores after calibration; 0 freezes the threshold.
    public var thresholdTracking = 0.01

    public init() {}

    public func validate() throws(ConfigurationError) {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(field: "drift.\(field)", reason: reason) }
        }
        try check(covarianceMemory > 0 && covarianceMemory < 1, "covarianceMemory", "must be in (0, 1)")
        try check(meanRate > 0 && meanRate <= 1, "meanRate", "must be in (0, 1]")
        try check(priorVariance > 0, "priorVariance", "must be positive")
        try check(priorEvents >= 0, "priorEvents", "must be non-negative")
        try check(shrinkage >= 0, "shrinkage", "must be non-negative")
        try check(refreshInterval >= 1, "refreshInterval", "must be at least 1")
        try check(calibrationRefreshInterval >= 1, "calibrationRefreshInterval", "must be at least 1")
        try check(projection >= 0, "projection", "must be non-negative (0: no projection)")
        try check(warmupEvents >= 0, "warmupEvents", "must be non-negative")
        try check(referenceEvents >= 1, "referenceEvents", "must be at least 1")
        try check(quantile > 0 && quantile < 1, "quantile", "must be in (0, 1)")
        try check(thresholdTracking >= 0 && thresholdTracking < 1, "thresholdTracking", "must be in [0, 1)")
    }
}

/// Online Mahalanobis drift scorer: class-conditional means with a shared covariance, both with
/// forgetting (Lee et al., "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
/// Adversarial Attacks", NeurIPS 2018, made streaming).
///
///     score(x)  = min_c (x - mu_c)' Lambda (x - mu_c),   Lambda = (Sigma + eps I)^-1 = (U' U)^-1
///
/// computed in O(D^2 + CD) as |y|^2 - 2 m_c'y + |m_c|^2 with y = U'^-1 x (one triangular solve) and
/// m_c = U'^-1 mu_c, which with |m_c|^2 is kept exact under mean updates while U is fixed. Learning
/// from class c (the label, or the predicted class for unlabelled events):
///
///     mu_c <- mu_c + r (x - mu_c),   Sigma <- a Sigma + (1 - a) (x - mu_c)(x - mu_c)'  (with the new mu_c)
///
/// with r = max(meanRate, 1/(n_c+1)) after n_c updates of class c and a = min(covarianceMemory,
/// (n0+n)/(n0+n+1)) after n updates: running averages at first (the priors, the class embeddings and
/// Sigma0 = priorVariance I with a weight of n0 = priorEvents events, fade as 1/n), exponential
/// forgetting once the memory is reached.
/// The covariance updates are deferred and applied in blocks, each with one level-3 `dsyrk`, before
/// each refresh (the same sum, one pass over Sigma per block instead of one per event). Sigma is Float64;
/// a refresh factors Sigma + eps I = U'U (eps = shrinkage * tr(Sigma) / D) by a Float32 Cholesky (LAPACK
/// spotrf), every `calibrationRefreshInterval` updates until the threshold is calibrated, then every
/// max(calibrationRefreshInterval, n/4) updates after n updates, at most every `refreshInterval`.
/// Float32 halves the memory the per-event solve streams and the
/// factorisation time; its relative error (about 1e-7 times the condition number, which the ridge keeps
/// below 1 + D) is far below what a threshold on the score can see. The precision lags Sigma by up to
/// one interval, which is what lets a sudden shift stand out for a while before the covariance absorbs
/// it. After `warmupEvents` the scores of the next
/// `referenceEvents` events calibrate the threshold as their empirical `quantile`; from then on each
/// event is flagged when its score exceeds the threshold. The threshold then follows the median m_t of
/// the unflagged events' scores, threshold_t = threshold_0 m_t / m_0, tracked multiplicatively
/// (m <- m (1 + eta) when a score is above m, m <- m / (1 + eta) otherwise): in-distribution scores
/// keep falling for a while as the covariance estimate converges, while a sudden shift, whose events
/// are flagged, does not move the threshold.
///
/// With `projection` = k (0 < k < D) all of the above runs on R x, R a fixed k x D random matrix with
/// entries N(0, 1/k): O(kD + k^2 + Ck) per event instead of O(D^2 + CD); faster at large D, less
/// sensitive to mild shifts (measured in docs/drift.md).
public final class MahalanobisScorer {
    public let configuration: MahalanobisConfiguration
    public internal(set) var classCount: Int
    /// The dimension the scorer works in: the projection's when there is one, else the embeddings'.
    public let dimension: Int
    /// The dimension of the embeddings it is given.
    public let inputDimension: Int
    /// The random projection R (k x D, Float32, entries N(0, 1/k)), nil without one.
    let projectionMatrix: UnsafeMutablePointer<Float>?
    let input32: UnsafeMutablePointer<Float>  // x in Float32 (projection input), D

    /// Class means, C x ``dimension``.
    public internal(set) var means: Matrix
    private let covariance: Matrix  // upper triangle of Sigma_stored
    private var covarianceScale = 1.0  // Sigma = covarianceScale * Sigma_stored
    /// U, the Cholesky factor of Sigma + eps I = U' U (Float32, D x D row-major, upper triangle), so
    /// that (x - mu)' Lambda (x - mu) = |U'^-1 (x - mu)|^2.
    var factor: UnsafeMutablePointer<Float>
    private var work: UnsafeMutablePointer<Float>  // D x D, factorisation workspace (swapped with `factor`)
    var whitenedMeans: Matrix  // m_c = U'^-1 mu_c, C x D
    var meansScratch: UnsafeMutablePointer<Float>  // C x D, Float32 means for the refresh's solve
    var meanQuadratic: Matrix  // |m_c|^2 = mu_c' Lambda mu_c, C
    /// Covariance updates not yet applied: row i is sqrt(w_i) (x_i - mu_c), so that
    /// Sigma_stored += pending' pending; applied in one `dsyrk` (level 3) before each refresh.
    private let pending: Matrix
    private var pendingCount = 0
    private var updatesSinceRefresh = 0
    private var covarianceUpdates = 0
    var classUpdates: [Int]

    /// Events scored so far.
    public private(set) var scoredEvents = 0
    /// The calibrated threshold, nil until the reference window is complete.
    public var threshold: Double? { calibratedThreshold.map { $0 * trackedMedian / calibratedMedian } }
    private var calibratedThreshold: Double?
    private var calibratedMedian = 1.0
    private var trackedMedian = 1.0
    private let referenceScores: Matrix
    private var referenceCount = 0

    // Per-event scratch: the last scored input and its products.
    let input: Matrix
    let whitenedInput: Matrix  // y = U'^-1 x
    let whitenedInput32: UnsafeMutablePointer<Float>  // y in Float32, for the solve
    var crossTerms: Matrix  // m_c' y = mu_c' Lambda x, C
    private let delta: Matrix
    private var inputQuadratic = 0.0  // |y|^2 = x' Lambda x
    private var hasScore = false
    /// Counts refreshes of ``factor``, so that a block knows when its solves are stale.
    var factorVersion = 0
    /// The in-block buffers (``ScorerBlock``), allocated by ``prepareBlocks(capacity:)``.
    var block: ScorerBlock?

    public init(classes: ClassEmbeddings, configuration: MahalanobisConfiguration = .init()) {
        self.configuration = configuration
        classCount = classes.count
        inputDimension = classes.dimension
        let k = configuration.projection
        let project = k > 0 && k < classes.dimension
        dimension = project ? k : classes.dimension
        let d = dimension
        let inputD = inputDimension
        input32 = .allocate(capacity: inputD)
        input32.initialize(repeating: 0, count: inputD)
        if project {
            // Entries N(0, 1/k) from a fixed seed (Box-Muller over SplitMix64): the same projection for
            // the same (k, D) in every process, so checkpoints need not store it.
            let r = UnsafeMutablePointer<Float>.allocate(capacity: d * inputD)
            var generator = SplitMix64(seed: 0x5EED_D41F_7000_0000 ^ UInt64(d * 65_536 + inputD))
            let scale = 1 / Double(d).squareRoot()
            var i = 0
            while i < d * inputD {
                let u1 = max(Double(generator.next() >> 11) / 9_007_199_254_740_992, 1e-300)
                let u2 = Double(generator.next() >> 11) / 9_007_199_254_740_992
                let radius = (-2 * Foundation.log(u1)).squareRoot() * scale
                r[i] = Float(radius * Foundation.cos(2 * Double.pi * u2))
                if i + 1 < d * inputD { r[i + 1] = Float(radius * Foundation.sin(2 * Double.pi * u2)) }
                i += 2
            }
            projectionMatrix = r
            means = Matrix(rows: classCount, columns: d)
            var projectedMean = [Float](repeating: 0, count: d)
            for c in 0..<classCount {
                let row = classes.normalized.row(c)
                for j in 0..<inputD { input32[j] = Float(row[j]) }
                BLAS.gemvFloat(d, inputD, r, input32, &projectedMean)
                for j in 0..<d { means[c, j] = Double(projectedMean[j]) }
            }
        } else {
            projectionMatrix = nil
            means = Matrix(copying: classes.normalized)
        }
        classUpdates = Array(repeating: 0, count: classCount)
        covariance = Matrix(rows: d, columns: d)
        for i in 0..<d { covariance[i, i] = configuration.priorVariance }
        factor = .allocate(capacity: d * d)
        factor.initialize(repeating: 0, count: d * d)
        work = .allocate(capacity: d * d)
        work.initialize(repeating: 0, count: d * d)
        whitenedMeans = Matrix(rows: classCount, columns: d)
        meansScratch = .allocate(capacity: classCount * d)
        meansScratch.initialize(repeating: 0, count: classCount * d)
        meanQuadratic = Matrix(rows: classCount, columns: 1)
        // Deferred updates are applied in blocks of at most 128 rows (one dsyrk each).
        pending = Matrix(
            rows: min(128, max(configuration.refreshInterval, configuration.calibrationRefreshInterval)), columns: d)
        referenceScores = Matrix(rows: configuration.referenceEvents, columns: 1)
        input = Matrix(rows: d, columns: 1)
        whitenedInput = Matrix(rows: d, columns: 1)
        whitenedInput32 = .allocate(capacity: d)
        whitenedInput32.initialize(repeating: 0, count: d)
        crossTerms = Matrix(rows: classCount, columns: 1)
        delta = Matrix(rows: d, columns: 1)
        refreshPrecision()
    }

    deinit {
        projectionMatrix?.deallocate()
        input32.deallocate()
        factor.deallocate()
        work.deallocate()
        meansScratch.deallocate()
        whitenedInput32.deallocate()
    }

    /// R x, the embedding `x` (``inputDimension`` values) in the scorer's space (a copy of x without a
    /// projection). Allocates: for tests and tools, not the per-event path.
    public func projected(_ x: [Double]) -> [Double] {
        guard let projectionMatrix else { return x }
        var out = [Float](repeating: 0, count: dimension)
        BLAS.gemvFloat(dimension, inputDimension, projectionMatrix, x.map(Float.init), &out)
        return out.map(Double.init)
    }

    /// U(i, j) of the Cholesky factor of Sigma + eps I = U' U at the last refresh (0 below the diagonal).
    public func factorEntry(_ i: Int, _ j: Int) -> Double { i <= j ? Double(factor[i * dimension + j]) : 0 }

    /// The ridge eps added to Sigma before inversion.
    public var ridge: Double {
        var t = 0.0
        for i in 0..<dimension { t += covariance[i, i] }
        for k in 0..<pendingCount { t += BLAS.dot(dimension, pending.row(k), pending.row(k)) }
        return configuration.shrinkage * covarianceScale * t / Double(dimension)
    }

    /// Sigma(i, j), the current shared covariance.
    public func covarianceEntry(_ i: Int, _ j: Int) -> Double {
        var v = i <= j ? covariance[i, j] : covariance[j, i]
        for k in 0..<pendingCount { v += pending[k, i] * pending[k, j] }
        return covarianceScale * v
    }

    /// Scores the normalised embedding `x`: returns the squared Mahalanobis distance to the nearest
    /// class mean and that class. Also counts the event towards calibration.
    public func score(_ x: UnsafePointer<Double>) -> (distance2: Double, nearest: Int) {
        let d = dimension
        // The input in the scorer's space (kept for learn), and in Float32 for the solve.
        let y32 = whitenedInput32
        if let projectionMatrix {
            for j in 0..<inputDimension { input32[j] = Float(x[j]) }
            BLAS.gemvFloat(d, inputDimension, projectionMatrix, input32, y32)
            for j in 0..<d { input[j] = Double(y32[j]) }
        } else {
            input.pointer.update(from: x, count: d)
            for j in 0..<d { y32[j] = Float(x[j]) }
        }
        // y = U'^-1 x: one triangular solve over the Float32 factor (half the memory traffic of a
        // Float64 symv with Lambda).
        BLAS.solveTransposedUpper(d, factor, y32)
        let y = whitenedInput.pointer
        for i in 0..<d { y[i] = Double(y32[i]) }
        return completeScore()
    }

    /// The score of the input in ``input`` whose whitened form y = U'^-1 x is in ``whitenedInput``.
    func completeScore() -> (distance2: Double, nearest: Int) {
        let d = dimension
        let y = whitenedInput.pointer
        inputQuadratic = BLAS.dot(d, y, y)
        BLAS.gemv(classCount, d, alpha: 1, whitenedMeans.pointer, y, beta: 0, crossTerms.pointer)
        var best = Double.infinity
        var nearest = 0
        for c in 0..<classCount {
            let v = inputQuadratic - 2 * crossTerms[c] + meanQuadratic[c]
            if v < best {
                best = v
                nearest = c
            }
        }
        best = max(0, best)
        hasScore = true
        scoredEvents += 1
        if let threshold {
            // Follow the median of the scores of unflagged events (multiplicative quantile tracking).
            if best <= threshold {
                let step = configuration.thresholdTracking
                trackedMedian *= best > trackedMedian ? 1 + step : 1 / (1 + step)
            }
        } else if scoredEvents > configuration.warmupEvents {
            referenceScores[referenceCount] = best
            referenceCount += 1
            if referenceCount == configuration.referenceEvents { calibrate() }
        }
        return (best, nearest)
    }

    /// Whether `distance2` is beyond the calibrated threshold (false before calibration).
    public func isDrifting(_ distance2: Double) -> Bool {
        guard let threshold else { return false }
        return distance2 > threshold
    }

    /// Learns that the input of the last ``score(_:)`` belongs to class `label`.
    public func learn(label: Int) {
        precondition(hasScore, "learn(label:) must follow score(_:)")
        precondition(label >= 0 && label < classCount)
        hasScore = false
        let d = dimension
        // Running averages until the forgetting memory is reached, so the prior fades as 1/(n + 1).
        covarianceUpdates += 1
        classUpdates[label] += 1
        let n = Double(configuration.priorEvents + covarianceUpdates - 1)
        let a = min(configuration.covarianceMemory, n / (n + 1))
        let r = max(configuration.meanRate, 1 / Double(classUpdates[label] + 1))
        let mean = means.row(label)
        for i in 0..<d { delta[i] = input[i] - mean[i] }
        covarianceScale *= a
        // x - mu_new = (1 - r) d: the scatter around the updated mean, deferred to the next refresh.
        if pendingCount == pending.rows { applyPending() }
        let weight = ((1 - a) / covarianceScale).squareRoot() * (1 - r)
        let row = pending.row(pendingCount)
        for i in 0..<d { row[i] = weight * delta[i] }
        pendingCount += 1
        if covarianceScale < 1e-8 {
            applyPending()
            BLAS.scal(covariance.count, alpha: covarianceScale, covariance.pointer)
            covarianceScale = 1
        }
        // mu <- (1 - r) mu + r x, and the same for m = U'^-1 mu (exact while U is fixed).
        BLAS.axpy(d, alpha: r, delta.pointer, mean)
        let pm = whitenedMeans.row(label)
        BLAS.scal(d, alpha: 1 - r, pm)
        BLAS.axpy(d, alpha: r, whitenedInput.pointer, pm)
        meanQuadratic[label] =
            (1 - r) * (1 - r) * meanQuadratic[label] + 2 * r * (1 - r) * crossTerms[label] + r * r * inputQuadratic
        updatesSinceRefresh += 1
        let interval =
            calibratedThreshold == nil
            ? configuration.calibrationRefreshInterval
            : min(configuration.refreshInterval, max(configuration.calibrationRefreshInterval, covarianceUpdates / 4))
        if updatesSinceRefresh >= interval { refreshPrecision() }
    }

    /// Adds the deferred covariance updates to Sigma_stored in one level-3 call.
    private func applyPending() {
        guard pendingCount > 0 else { return }
        BLAS.syrkTransposed(dimension, pendingCount, alpha: 1, pending.pointer, beta: 1, covariance.pointer)
        pendingCount = 0
    }

    /// Refactors Sigma + eps I = U' U (Float32 Cholesky) and recomputes m_c = U'^-1 mu_c and |m_c|^2.
    public func refreshPrecision() {
        applyPending()
        let d = dimension
        let eps = ridge
        for i in 0..<d {
            let row = work + i * d
            let source = covariance.row(i)
            for j in i..<d { row[j] = Float(covarianceScale * source[j]) }
            row[i] += Float(eps)
        }
        // Runs on the OpenBLAS threads the host set (BLAS.setThreads): the CLI uses 1 for everything.
        if BLAS.choleskyUpper(d, work) {
            swap(&factor, &work)
        }  // else keep the previous factor: with eps > 0 this cannot happen for finite input.
        for k in 0..<(classCount * d) { meansScratch[k] = Float(means.pointer[k]) }
        BLAS.solveRightUpper(classCount, d, factor, meansScratch)
        for k in 0..<(classCount * d) { whitenedMeans.pointer[k] = Double(meansScratch[k]) }
        for c in 0..<classCount { meanQuadratic[c] = BLAS.dot(d, whitenedMeans.row(c), whitenedMeans.row(c)) }
        updatesSinceRefresh = 0
        factorVersion &+= 1
    }

    private func calibrate() {
        var scores = referenceScores.array
        scores.sort()
        calibratedThreshold = Quantile.ofSorted(scores, configuration.quantile)!  // referenceEvents >= 1
        calibratedMedian = max(scores[scores.count / 2], 1e-300)
        trackedMedian = calibratedMedian
    }
}

// MARK: - Checkpoint

extension MahalanobisScorer: Checkpointable {
    /// Writes the scorer: configuration, C and D, the means, Sigma_stored (its upper triangle), the
    /// deferred covariance updates, the scale, the Float32 factor U (its upper triangle, as Float32),
    /// m_c = U'^-1 mu_c, |m_c|^2, the refresh and update
    /// counters, the calibration (threshold, medians, reference scores) and the scored-event count.
    /// U, m_c and |m_c|^2 are saved, not recomputed: U was factored from Sigma as it was at the last
    /// refresh, and m_c, |m_c|^2 have been updated incrementally since. The scratch of the last `score`
    /// is not saved (checkpoints are taken between events).
    public func save(to writer: inout CheckpointWriter) {
        writer.writeSection("MahalanobisScorer")
        writer.writeConfiguration(configuration, prefix: "drift.mahalanobis")
        writer.writeInt(classCount)
        writer.writeInt(dimension)
        writer.writeInt(inputDimension)
        writer.writeMatrix(means)
        writer.writeUpperTriangle(covariance)
        writer.writeInt(pendingCount)
        writer.writeDoubles(Array(UnsafeBufferPointer(start: pending.pointer, count: pendingCount * dimension)))
        writer.writeDouble(covarianceScale)
        writer.writeUpperTriangle(factor, dimension: dimension)
        writer.writeMatrix(whitenedMeans)
        writer.writeMatrix(meanQuadratic)
        writer.writeInt(updatesSinceRefresh)
        writer.writeInt(covarianceUpdates)
        writer.writeInts(classUpdates)
        writer.writeInt(scoredEvents)
        writer.writeOptionalDouble(calibratedThreshold)
        writer.writeDouble(calibratedMedian)
        writer.writeDouble(trackedMedian)
        writer.writeMatrix(referenceScores)
        writer.writeInt(referenceCount)
    }

    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectSection("MahalanobisScorer")
        try reader.expectConfiguration(configuration, prefix: "drift.mahalanobis")
        try reader.expectShape(classCount, field: "scorer.classCount")
        try reader.expectShape(dimension, field: "scorer.dimension")
        try reader.expectShape(inputDimension, field: "scorer.inputDimension")
        let storedMeans = try reader.readMatrix(like: means, field: "scorer.means")
        let storedCovariance = try reader.readUpperTriangle(dimension: dimension, field: "scorer.covariance")
        let storedPendingCount = try reader.readInt()
        guard (0...pending.rows).contains(storedPendingCount) else {
            throw .corrupt("scorer.pending", "\(storedPendingCount) deferred updates, at most \(pending.rows)")
        }
        let storedPending = try reader.readDoubles(count: storedPendingCount * dimension, field: "scorer.pending")
        let storedScale = try reader.readDouble()
        let storedFactor = try reader.readFloatUpperTriangle(dimension: dimension, field: "scorer.factor")
        let storedWhitenedMeans = try reader.readMatrix(like: whitenedMeans, field: "scorer.whitenedMeans")
        let storedQuadratic = try reader.readMatrix(like: meanQuadratic, field: "scorer.meanQuadratic")
        let storedSinceRefresh = try reader.readInt()
        let storedCovarianceUpdates = try reader.readInt()
        let storedClassUpdates = try reader.readInts(count: classCount, field: "scorer.classUpdates")
        let storedScored = try reader.readInt()
        let storedThreshold = try reader.readOptionalDouble()
        let storedCalibratedMedian = try reader.readDouble()
        let storedTrackedMedian = try reader.readDouble()
        let storedReference = try reader.readMatrix(like: referenceScores, field: "scorer.referenceScores")
        let storedReferenceCount = try reader.readInt()

        guard storedScale > 0, storedScale.isFinite else {
            throw .corrupt("scorer.covarianceScale", "\(storedScale) is not a positive finite scale")
        }
        guard storedSinceRefresh >= 0, storedCovarianceUpdates >= 0, storedScored >= 0,
            storedClassUpdates.allSatisfy({ $0 >= 0 })
        else { throw .corrupt("scorer", "negative counter") }
        let limit = configuration.referenceEvents - (storedThreshold == nil ? 1 : 0)
        guard (0...limit).contains(storedReferenceCount) else {
            throw .corrupt(
                "scorer.referenceCount",
                "\(storedReferenceCount) reference scores with \(configuration.referenceEvents) in the window, "
                    + (storedThreshold == nil ? "not calibrated" : "calibrated"))
        }
        return CheckpointCommit { [self] in
            means.assign(storedMeans)
            covariance.assignUpperTriangle(storedCovariance)
            pendingCount = storedPendingCount
            for (i, v) in storedPending.enumerated() { pending[i] = v }
            covarianceScale = storedScale
            var k = 0
            for i in 0..<dimension {
                for j in 0..<i { factor[i * dimension + j] = 0 }
                for j in i..<dimension {
                    factor[i * dimension + j] = storedFactor[k]
                    k += 1
                }
            }
            whitenedMeans.assign(storedWhitenedMeans)
            meanQuadratic.assign(storedQuadratic)
            updatesSinceRefresh = storedSinceRefresh
            covarianceUpdates = storedCovarianceUpdates
            classUpdates = storedClassUpdates
            scoredEvents = storedScored
            calibratedThreshold = storedThreshold
            calibratedMedian = storedCalibratedMedian
            trackedMedian = storedTrackedMedian
            referenceScores.assign(storedReference)
            referenceCount = storedReferenceCount
            hasScore = false
            factorVersion &+= 1
        }
    }
}
