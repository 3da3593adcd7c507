import Foundation

/// Settings of the ``KalmanHead``. The defaults are the product's defaults; `docs/heads.md`
/// says how they were chosen.
public struct KalmanConfiguration: Sendable, Equatable {
    /// How a label is turned into an observation of the logits.
    public enum Observation: String, Sendable, CaseIterable {
        /// Linear-Gaussian: the logits observe `targetScale * onehot(label)` with noise variance R.
        case gaussian
        /// Categorical: innovation `onehot(label) - softmax(logits)`, Fisher-weighted precision
        /// update (the natural-gradient form of the EKF, Ollivier 2018).
        case softmax
    }

    /// The structure of the weight posterior's covariance.
    public enum Covariance: String, Sendable, CaseIterable {
        /// One D x D feature covariance shared by all classes (posterior of W = P kron I):
        /// exact for the linear-Gaussian model, O(D^2 + CD) per update.
        case full
        /// One variance per weight (LoKO-style), O(CD) per update: for very large D or C.
        case diagonal
    }

    /// What the Gaussian observation regresses the logits on.
    public enum Target: String, Sendable, CaseIterable {
        /// y = mean(z) 1 + kappa_y (onehot(c) - 1/C): only the contrasts between classes are learned,
        /// the common level of the logits is left where it is (the default; safe with sparse labels).
        case centred
        /// y = kappa_y onehot(c): plain linear regression on a scaled one-hot target (ridge regression).
        case oneHot = "onehot"
    }

    /// The storage of the full covariance P.
    public enum Precision: String, Sendable, CaseIterable {
        /// Float64 (the default).
        case float64
        /// Float32: half the memory and bandwidth, twice the flop rate of the kernels over P; W, the
        /// innovations and all scalars stay Float64 (docs/heads.md measures what it changes).
        case float32
    }

    /// What the forgetting factor counts.
    public enum ForgettingUnit: String, Sendable, CaseIterable {
        /// P <- P / lambda before each update (the default).
        case event
        /// P <- P / lambda^dt, dt the seconds of event time (the event's timestamp) since the latest
        /// update: forgetting that does not depend on how the events are spread over partitions, as the
        /// `shared` model mode of a consumer group needs to be exact (docs/scale-out.md). An event without
        /// a timestamp, or older than the latest, forgets nothing.
        case second
    }

    public var observation: Observation = .gaussian
    public var target: Target = .centred
    public var covariance: Covariance = .full
    /// Storage of the full covariance (the diagonal variant is always Float64).
    public var precision: Precision = .float64
    /// Forgetting factor lambda in (0, 1]: P <- P / lambda before each update (or per second of event
    /// time, ``forgettingUnit``).
    public var forgetting: Double = 0.999
    /// Whether ``forgetting`` applies per update or per second of event time.
    public var forgettingUnit: ForgettingUnit = .event
    /// Prior variance p0 of each weight: P0 = p0 * I.
    public var priorVariance: Double = 0.01
    /// Upper bound on trace(P), as a multiple of trace(P0); stops forgetting wind-up (infinity: no bound).
    public var traceBound: Double = 1.0
    /// Initial observation-noise variance R0.
    public var initialNoise: Double = 1e-3
    /// Memory beta of the EMA of squared innovations that adapts R (1 keeps R fixed).
    public var noiseMemory: Double = 0.99
    /// Floor of R.
    public var minimumNoise: Double = 1e-4
    /// Mahalanobis scaling factor s: R_eff = R * (1 + s * d2 / D).
    public var mahalanobisScaling: Double = 1.0
    /// W starts as `initialScale * t^_c` (the normalised class embeddings).
    public var initialScale: Double = 1.0
    /// Gaussian observation: the target margin kappa_y of the true class's logit.
    public var targetScale: Double = 0.02
    /// Softmax observation: the logits fed to the softmax are `logitScale * W x`.
    public var logitScale: Double = 1.0
    /// Gaussian observation: `predict` reports `outputScale * W x`. 100, CLIP's logit scale, puts the
    /// logits on the zero-shot scale so that they can be summed with zero-shot or cache logits.
    public var outputScale: Double = 100
    /// Softmax observation: floor of the Fisher weight h.
    public var minimumFisher: Double = 1e-3

    /// The Gaussian defaults (the product's default head; see `docs/heads.md`).
    public init() {}

    /// Defaults for the diagonal covariance: p0 = 3e-4. Without the feature correlations that shrink
    /// the full filter's steps, the diagonal filter needs a much smaller prior variance per weight
    /// (measured on the shared data: 0.638 with 3e-4 against 0.577 with the full head's 0.01).
    public static var diagonalDefaults: KalmanConfiguration {
        var config = KalmanConfiguration()
        config.covariance = .diagonal
        config.priorVariance = 3e-4
        return config
    }

    /// Defaults for the softmax observation: R = 1 fixed, W0 = 30 t^_c, p0 = 10.
    public static var softmaxDefaults: KalmanConfiguration {
        var config = KalmanConfiguration()
        config.observation = .softmax
        config.initialNoise = 1
        config.noiseMemory = 1
        config.initialScale = 30
        config.priorVariance = 10
        return config
    }

    /// The defaults for an observation model and a covariance structure: the softmax observation brings
    /// its noise, initial scale and prior (``softmaxDefaults``), the diagonal covariance its smaller prior
    /// (``diagonalDefaults``), which wins when both apply.
    public static func defaults(observation: Observation, covariance: Covariance) -> KalmanConfiguration {
        var config = observation == .softmax ? softmaxDefaults : KalmanConfiguration()
        if covariance == .diagonal {
            config.covariance = .diagonal
            config.priorVariance = diagonalDefaults.priorVariance
        }
        return config
    }

    /// Checks every field; returns the name of the first invalid one with the reason.
    public func validate() throws(ConfigurationError) {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(field: "kalman.\(field)", reason: reason) }
        }
        try check(forgetting > 0 && forgetting <= 1, "forgetting", "must be in (0, 1]")
        try check(priorVariance > 0 && priorVariance.isFinite, "priorVariance", "must be positive")
        try check(traceBound >= 1, "traceBound", "must be at least 1 (a multiple of trace(P0))")
        try check(initialNoise > 0 && initialNoise.isFinite, "initialNoise", "must be positive")
        try check(noiseMemory >= 0 && noiseMemory <= 1, "noiseMemory", "must be in [0, 1]")
        try check(minimumNoise > 0, "minimumNoise", "must be positive")
        try check(mahalanobisScaling >= 0, "mahalanobisScaling", "must be non-negative")
        try check(initialScale.isFinite, "initialScale", "must be finite")
        try check(targetScale > 0, "targetScale", "must be positive")
        try check(logitScale > 0, "logitScale", "must be positive")
        try check(outputScale > 0, "outputScale", "must be positive")
        try check(minimumFisher > 0, "minimumFisher", "must be positive")
        try check(precision == .float64 || covariance == .full, "precision", "float32 applies to the full covariance only")
    }
}

/// A configuration value that is out of range; `field` names it.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason)" }
}

/// The Kalman head: a linear classifier W (C x D) on L2-normalised embeddings with a Gaussian
/// posterior, updated per sample by a Kalman filter, i.e. online natural-gradient descent.
///
/// Method: Abdi, Sun, Pan, "Bayesian Natural Gradient Fine-Tuning of CLIP Models via Kalman
/// Filtering" (ICDM 2025, arXiv 2511.01694), with its adaptive observation noise and Mahalanobis
/// regulation; the EKF / natural-gradient equivalence and the forgetting factor as process noise
/// proportional to P from Ollivier, arXiv 1703.00209 and 1901.00696; the diagonal variant after
/// LoKO (Abdi et al., arXiv 2410.11551). The linear head and its posterior structure are our
/// reconstruction (see `docs/heads.md`).
///
/// State: W (C x D), initialised to `initialScale * t^_c`; P (D x D), P0 = p0 * I, the shared feature
/// covariance (posterior covariance of vec(W) = P kron I_C, exact for a linear-Gaussian observation of
/// all C logits through the same x). For an input x (normalised) and label c:
///
///     predict:   z = W x,  u = P x,  q = x' P x        (q: predictive variance of each logit)
///     forget:    P <- P / lambda_eff,  lambda_eff = max(lambda, min(1, tr(P)/(b tr(P0))))
///                (process noise Q = (1/lambda - 1) P; b = traceBound keeps tr(P) <= b tr(P0))
///     regulate:  R_eff = R (1 + s d2 / D),  d2 = squared Mahalanobis distance of x
///     gaussian:  y = mean(z) 1 + kappa (onehot(c) - 1/C)  (centred target; or y = kappa onehot(c))
///                e = y - z,  S = q + R_eff
///                W <- W + e u' / S,   P <- P - u u' / S
///                R <- beta R + (1 - beta) max(r_min, |e|^2 / C - q)
///                (C, mean and softmax over the active classes; e = 0 for retired ones)
///     softmax:   p = softmax(a z),  e = onehot(c) - p,  h = max(h_min, p_c (1 - p_c))
///                S = R_eff / a + h a q   (information form: P^-1 <- P^-1 + (h a^2 / R_eff) x x')
///                W <- W + e u' / S,   P <- P - (h a) u u' / S       (a = logitScale)
///
/// P is Float64, only its upper triangle is stored and updated (so it is symmetric by construction),
/// and it is kept as `scale * P_stored` so that forgetting costs O(1) instead of O(D^2). Per update:
/// one `dsymv` (in predict), one `dsyr`, one `dger`: O(D^2 + CD), no allocation.
///
/// The diagonal variant keeps one variance per weight, P_cj, and updates each class row on its own:
///
///     q_c = sum_j P_cj x_j^2,  S_c = q_c + R_eff (gaussian; softmax: R_eff / a + h a q_c)
///     W_cj <- W_cj + P_cj x_j e_c / S_c,  P_cj <- P_cj - g P_cj^2 x_j^2 / S_c   (g = 1, or h a)
public final class KalmanHead: AdapterHead {
    public let name: String
    public internal(set) var classCount: Int
    public let dimension: Int
    public let configuration: KalmanConfiguration
    public internal(set) var updateCount = 0
    /// The current observation-noise variance R.
    public internal(set) var noise: Double
    /// Classes the model retired (``ClassGrowingHead/retireClass(_:)``): left out of the observation
    /// (the centred target's level, the softmax, the noise estimate) and their rows no longer updated.
    var retired: [Bool]
    var activeCount: Int

    /// Weights W, C x D.
    public internal(set) var weights: Matrix
    /// Full: upper triangle of P_stored (D x D). Diagonal: the per-weight variances (C x D).
    var covariance: Matrix
    /// The full covariance in Float32 (`precision: float32`); `covariance` is then empty.
    let covariance32: Float32Covariance?
    /// P = covarianceScale * P_stored.
    var covarianceScale = 1.0
    /// trace(P_stored) (full) or sum of all variances (diagonal).
    var storedTrace: Double
    var traceLimit: Double

    // Per-event scratch, allocated once.
    private let input: Matrix  // x of the last predict
    var pX: Matrix  // u = P x (full) / per-class q_c (diagonal)
    var logits: Matrix  // z = W x of the last predict
    var innovation: Matrix  // e
    private let squaredInput: Matrix  // x_j^2 (diagonal covariance)
    var lastVariance = 0.0  // q of the last predict
    var hasPrediction = false
    /// The in-block state of the blocked update (``KalmanBlock``), allocated by ``prepareBlocks(capacity:)``.
    var block: KalmanBlock?
    /// Event-time forgetting (`forgettingUnit: second`): the latest event time (seconds) an update saw.
    public internal(set) var lastTime: Double?
    /// When set, every update is also added to this record of evidence (its information-form terms, for
    /// the `shared` model of a consumer group: ``KalmanEvidence``). Not part of the head's checkpoint.
    public var evidence: KalmanEvidence?

    public init(classes: ClassEmbeddings, configuration: KalmanConfiguration = .init(), name: String = "kalman") {
        self.name = name
        self.configuration = configuration
        classCount = classes.count
        dimension = classes.dimension
        retired = Array(repeating: false, count: classes.count)
        activeCount = classes.count
        noise = configuration.initialNoise
        weights = Matrix(copying: classes.normalized)
        BLAS.scal(weights.count, alpha: configuration.initialScale, weights.pointer)
        let d = dimension
        switch configuration.covariance {
        case .full:
            if configuration.precision == .float32 {
                covariance = Matrix(rows: 0, columns: 0)
                covariance32 = Float32Covariance(dimension: d, diagonal: configuration.priorVariance)
            } else {
                covariance = Matrix(rows: d, columns: d)
                for i in 0..<d { covariance[i, i] = configuration.priorVariance }
                covariance32 = nil
            }
            storedTrace = configuration.priorVariance * Double(d)
            pX = Matrix(rows: d, columns: 1)
        case .diagonal:
            covariance32 = nil
            covariance = Matrix(rows: classCount, columns: d, value: configuration.priorVariance)
            storedTrace = configuration.priorVariance * Double(d * classCount)
            pX = Matrix(rows: classCount, columns: 1)
        }
        traceLimit = storedTrace * configuration.traceBound
        input = Matrix(rows: d, columns: 1)
        logits = Matrix(rows: classCount, columns: 1)
        innovation = Matrix(rows: classCount, columns: 1)
        squaredInput = Matrix(rows: configuration.covariance == .diagonal ? d : 0, columns: 1)
    }

    /// trace(P) (full), or the sum of all weight variances (diagonal).
    public var covarianceTrace: Double { covarianceScale * storedTrace }

    /// P(i, j) of the full covariance (or the variance of weight (i, j) in the diagonal variant).
    public func covarianceEntry(_ i: Int, _ j: Int) -> Double {
        switch configuration.covariance {
        case .full:
            if let covariance32 { covarianceScale * covariance32[i, j] } else {
                covarianceScale * (i <= j ? covariance[i, j] : covariance[j, i])
            }
        case .diagonal: covarianceScale * covariance[i, j]
        }
    }

    public func predict(_ x: UnsafePointer<Double>, logits out: UnsafeMutablePointer<Double>) -> Double {
        let d = dimension
        input.pointer.update(from: x, count: d)
        BLAS.gemv(classCount, d, alpha: 1, weights.pointer, x, beta: 0, logits.pointer)
        switch configuration.covariance {
        case .full:
            if let covariance32 {
                covariance32.multiply(x, scale: covarianceScale, into: pX.pointer)
            } else {
                BLAS.symv(d, alpha: covarianceScale, covariance.pointer, x, beta: 0, pX.pointer)
            }
            lastVariance = BLAS.dot(d, x, pX.pointer)
        case .diagonal:
            for j in 0..<d { squaredInput[j] = x[j] * x[j] }
            BLAS.gemv(classCount, d, alpha: covarianceScale, covariance.pointer, squaredInput.pointer, beta: 0, pX.pointer)
            var total = 0.0
            for c in 0..<classCount where !retired[c] { total += pX[c] }
            lastVariance = total / Double(activeCount)
        }
        let scale = configuration.observation == .softmax ? configuration.logitScale : configuration.outputScale
        for c in 0..<classCount { out[c] = scale * logits[c] }
        hasPrediction = true
        return scale * scale * lastVariance
    }

    public func learn(label: Int, context: LearnContext) {
        precondition(hasPrediction, "learn(label:) must follow predict(_:logits:)")
        precondition(label >= 0 && label < classCount, "label \(label) out of range")
        hasPrediction = false
        if let block, block.isActive {
            learnInBlock(block, label: label, context: context)
            return
        }
        let c = classCount
        let d = dimension
        let config = configuration

        // Forgetting (predict step): P <- P / lambda_eff, bounded trace.
        let lambda = forgettingFactor(time: context.time)
        covarianceScale /= lambda
        var q = lastVariance / lambda
        if config.covariance == .full {
            BLAS.scal(d, alpha: 1 / lambda, pX.pointer)
        } else {
            BLAS.scal(c, alpha: 1 / lambda, pX.pointer)
        }

        // Mahalanobis regulation of the observation noise.
        let d2 = context.mahalanobis2 ?? Double(d)
        let noiseEffective = noise * (1 + config.mahalanobisScaling * max(0, d2) / Double(d))

        let (innovationScale, gain) = innovate(label: label, logits: logits.pointer, variance: q, noise: noiseEffective)
        let e = innovation.pointer
        if let evidence {
            recordEvidence(evidence, input: input.pointer, logits: logits.pointer, gain: gain, noise: noiseEffective, time: context.time)
        }

        switch config.covariance {
        case .full:
            let u = pX.pointer
            let s = innovationScale
            BLAS.ger(c, d, alpha: 1 / s, e, u, weights.pointer)
            let norm2 = BLAS.dot(d, u, u)
            if let covariance32 {
                covariance32.rankOne(-gain / (s * covarianceScale), u)
            } else {
                BLAS.syr(d, alpha: -gain / (s * covarianceScale), u, covariance.pointer)
            }
            storedTrace -= gain * norm2 / (s * covarianceScale)
        case .diagonal:
            var removed = 0.0
            for k in 0..<c where !retired[k] {  // a retired row keeps its weights and variances
                let qk = pX[k]
                let s = config.observation == .gaussian ? qk + noiseEffective : noiseEffective / config.logitScale + gain * qk
                removed += diagonalRowUpdate(
                    weights: weights.row(k), variances: covariance.row(k), weightStep: covarianceScale * e[k] / s,
                    varianceStep: gain * covarianceScale / s)
            }
            storedTrace -= removed
            q = lastVariance / lambda
        }

        // Adapt R from the squared innovation (Gaussian observation).
        adaptNoise(variance: q)

        updateCount += 1
        maintainCovariance(refreshingTrace: updateCount % 1024 == 0)
    }

    /// The least lambda^dt one update applies (event-time forgetting after a long gap: lambda^dt would
    /// underflow to 0, and P / 0 is not a covariance). An update forgets at most this much; the
    /// shared model's fold is exact only while no gap reaches it (docs/scale-out.md).
    public static let minimumForgettingFactor = 1e-8

    /// lambda_eff of an update at event time `time`: max(lambda^k, min(1, tr(P) / (b tr(P0)))) with k = 1 per
    /// event, or k = the seconds since the latest update (`forgettingUnit: second`; 0 without a time or
    /// for an older event; lambda^k at least ``minimumForgettingFactor``). Advances ``lastTime``.
    func forgettingFactor(time: Double?) -> Double {
        let config = configuration
        var base = config.forgetting
        if config.forgettingUnit == .second {
            base = 1
            if let time, time.isFinite {
                if let last = lastTime, time > last, config.forgetting < 1 {
                    base = max(Foundation.pow(config.forgetting, time - last), Self.minimumForgettingFactor)
                }
                if lastTime.map({ time > $0 }) ?? true { lastTime = time }
            }
        }
        return max(base, min(1, covarianceTrace / traceLimit))
    }

    /// Adds the update just computed (``innovation`` e, gain g) to `evidence` as the linear-Gaussian
    /// observation it equals: target y = z + e / g with noise r = R_eff (Gaussian) or R_eff / (h a^2)
    /// (softmax: S = R_eff / a + h a q = h a (q + r)), so that P^-1 <- P^-1 + x x' / r and
    /// W <- W + (y - z) (P x)' / (q + r) is this update.
    func recordEvidence(
        _ evidence: KalmanEvidence, input x: UnsafePointer<Double>, logits z: UnsafePointer<Double>, gain: Double, noise: Double,
        time: Double?
    ) {
        let y = evidence.target.pointer
        let e = innovation.pointer
        for k in 0..<classCount { y[k] = z[k] + e[k] / gain }
        let r = configuration.observation == .gaussian ? noise : noise / (gain * configuration.logitScale)
        evidence.add(x, target: y, noise: r, time: time)
    }

    /// The innovation e (into ``innovation``) of the observation `label` for the unscaled logits z = W x,
    /// and the innovation scale S and covariance gain g for the predictive variance q (after forgetting)
    /// and the effective observation noise: gaussian S = q + R_eff, g = 1; softmax S = R_eff / a + h a q,
    /// g = h a. Shared by the per-event and the blocked update.
    func innovate(label: Int, logits z: UnsafePointer<Double>, variance q: Double, noise noiseEffective: Double)
        -> (scale: Double, gain: Double)
    {
        let c = classCount
        let active = Double(activeCount)
        let config = configuration
        let e = innovation.pointer
        var gain = 1.0  // factor on the covariance downdate (h a for softmax)
        var innovationScale = 1.0  // S, for the full covariance
        // Retired classes: e = 0 (their rows stay as they were) and out of the level and the softmax.
        switch config.observation {
        case .gaussian:
            var level = 0.0
            if config.target == .centred {
                for k in 0..<c where !retired[k] { level += z[k] }
                level = level / active - config.targetScale / active
            }
            for k in 0..<c { e[k] = retired[k] ? 0 : level - z[k] }
            e[label] += config.targetScale
            innovationScale = q + noiseEffective
        case .softmax:
            let a = config.logitScale
            var maximum = -Double.infinity
            for k in 0..<c where !retired[k] { maximum = max(maximum, a * z[k]) }
            var sum = 0.0
            for k in 0..<c {
                let v = retired[k] ? 0 : Foundation.exp(a * z[k] - maximum)
                e[k] = v
                sum += v
            }
            for k in 0..<c { e[k] = -e[k] / sum }
            let pc = -e[label]
            e[label] += 1
            let h = max(config.minimumFisher, pc * (1 - pc))
            gain = h * a
            innovationScale = noiseEffective / a + h * a * q
        }
        return (innovationScale, gain)
    }

    /// R <- beta R + (1 - beta) max(r_min, |e|^2 / C - q) (Gaussian observation, from ``innovation``).
    func adaptNoise(variance q: Double) {
        let config = configuration
        guard config.observation == .gaussian && config.noiseMemory < 1 else { return }
        let e = innovation.pointer
        var e2 = 0.0
        for k in 0..<classCount { e2 += e[k] * e[k] }  // 0 for retired classes
        let sample = max(config.minimumNoise, e2 / Double(activeCount) - q)
        noise = max(config.minimumNoise, config.noiseMemory * noise + (1 - config.noiseMemory) * sample)
    }

    /// One class row of the diagonal filter, vectorised: with p the stored variances,
    /// w_j += a p_j x_j and p_j -= b p_j^2 x_j^2; returns sum_j b p_j^2 x_j^2 (the trace removed).
    private func diagonalRowUpdate(
        weights w: UnsafeMutablePointer<Double>, variances p: UnsafeMutablePointer<Double>, weightStep a: Double,
        varianceStep b: Double
    ) -> Double {
        let x = UnsafeRawPointer(input.pointer)
        let x2 = UnsafeRawPointer(squaredInput.pointer)
        let wRaw = UnsafeMutableRawPointer(w)
        let pRaw = UnsafeMutableRawPointer(p)
        let d = dimension
        let stride = MemoryLayout<SIMD4<Double>>.stride
        var removed = SIMD4<Double>(repeating: 0)
        var j = 0
        while j + 4 <= d {
            let offset = j * 8
            let pv = pRaw.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            let xv = x.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            let x2v = x2.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            let wv = wRaw.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            wRaw.storeBytes(of: wv + a * pv * xv, toByteOffset: offset, as: SIMD4<Double>.self)
            let drop = b * pv * pv * x2v
            pRaw.storeBytes(of: pv - drop, toByteOffset: offset, as: SIMD4<Double>.self)
            removed += drop
            j += stride / 8
        }
        var tail = removed.sum()
        while j < d {
            let pj = p[j]
            w[j] += a * pj * input[j]
            let drop = b * pj * pj * squaredInput[j]
            p[j] = pj - drop
            tail += drop
            j += 1
        }
        return tail
    }

    /// Keeps the lazy scale in range and, when `refreshingTrace` (every 1024th update), recomputes the
    /// running trace from the stored matrix against rounding drift.
    func maintainCovariance(refreshingTrace: Bool) {
        if covarianceScale > 1e6 || covarianceScale < 1e-6 {
            if let covariance32 {
                covariance32.scale(by: covarianceScale)
            } else {
                BLAS.scal(covariance.count, alpha: covarianceScale, covariance.pointer)
            }
            storedTrace *= covarianceScale
            covarianceScale = 1
        }
        if refreshingTrace {
            var t = 0.0
            switch configuration.covariance {
            case .full:
                if let covariance32 { t = covariance32.diagonalSum } else { for i in 0..<dimension { t += covariance[i, i] } }
            case .diagonal:
                let d = dimension
                for c in 0..<classCount where !retired[c] { for j in 0..<d { t += covariance[c, j] } }
            }
            storedTrace = t
        }
    }
}

// MARK: - Checkpoint

extension KalmanHead {
    /// Writes the head: kind and name, configuration, C and D, W, P_stored (its upper triangle; or the
    /// C x D variances), the lazy scale of P, the running trace,
    /// R and the update count. The scratch of the last `predict` is not saved (checkpoints are taken
    /// between events, and `learn` only uses what the `predict` of the same event wrote).
    public func save(to writer: inout CheckpointWriter) {
        writer.writeHeadHeader(
            kind: .kalman, name: name, configuration: configuration, classCount: classCount, dimension: dimension)
        writer.writeMatrix(weights)
        switch configuration.covariance {
        case .full:
            if let covariance32 {
                writer.writeUpperTriangle(covariance32.values, dimension: dimension)
            } else {
                writer.writeUpperTriangle(covariance)
            }
        case .diagonal: writer.writeMatrix(covariance)
        }
        writer.writeDouble(covarianceScale)
        writer.writeDouble(storedTrace)
        writer.writeDouble(noise)
        writer.writeInt(updateCount)
        if configuration.forgettingUnit == .second { writer.writeDouble(lastTime ?? .nan) }
    }

    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectHeadHeader(
            kind: .kalman, name: name, configuration: configuration, classCount: classCount, dimension: dimension)
        let storedWeights = try reader.readMatrix(like: weights, field: "\(name).weights")
        var storedCovariance: [Double] = []
        var storedCovariance32: [Float] = []
        switch configuration.covariance {
        case .full:
            if covariance32 != nil {
                storedCovariance32 = try reader.readFloatUpperTriangle(dimension: dimension, field: "\(name).covariance")
            } else {
                storedCovariance = try reader.readUpperTriangle(dimension: dimension, field: "\(name).covariance")
            }
        case .diagonal: storedCovariance = try reader.readMatrix(like: covariance, field: "\(name).covariance")
        }
        let storedScale = try reader.readDouble()
        let storedTraceValue = try reader.readDouble()
        let storedNoise = try reader.readDouble()
        let storedUpdates = try reader.readInt()
        let storedTime = configuration.forgettingUnit == .second ? try reader.readDouble() : .nan
        guard storedScale > 0, storedScale.isFinite else {
            throw .corrupt("\(name).covarianceScale", "\(storedScale) is not a positive finite scale")
        }
        guard storedUpdates >= 0 else { throw .corrupt("\(name).updateCount", "negative update count \(storedUpdates)") }
        return CheckpointCommit { [self] in
            weights.assign(storedWeights)
            switch configuration.covariance {
            case .full:
                if let covariance32 {
                    let d = dimension
                    var k = 0
                    for i in 0..<d {
                        for j in 0..<i { covariance32.values[i * d + j] = 0 }
                        for j in i..<d {
                            covariance32.values[i * d + j] = storedCovariance32[k]
                            k += 1
                        }
                    }
                } else {
                    covariance.assignUpperTriangle(storedCovariance)
                }
            case .diagonal: covariance.assign(storedCovariance)
            }
            covarianceScale = storedScale
            storedTrace = storedTraceValue
            noise = storedNoise
            updateCount = storedUpdates
            lastTime = storedTime.isNaN ? nil : storedTime
            hasPrediction = false
        }
    }
}
