import Foundation

/// Settings of the ``ClipoodHead``.
public struct ClipoodConfiguration: Sendable, Equatable {
    /// Margin scale lambda_m of the margin metric softmax.
    public var margin = 0.3
    /// Logit scale tau.
    public var temperature = 100.0
    /// SGD learning rate (per sample).
    public var learningRate = 1e-3
    /// Beta(b, b) shape of the moving average weights.
    public var betaShape = 0.5
    /// Length H (updates) of the sliding horizon over which the Beta moving average runs.
    public var horizon = 500

    public init() {}

    public func validate() throws(ConfigurationError) {
        if !(margin >= 0) { throw ConfigurationError(field: "clipood.margin", reason: "must be non-negative") }
        if !(temperature > 0) { throw ConfigurationError(field: "clipood.temperature", reason: "must be positive") }
        if !(learningRate > 0) { throw ConfigurationError(field: "clipood.learningRate", reason: "must be positive") }
        if !(betaShape > 0) { throw ConfigurationError(field: "clipood.betaShape", reason: "must be positive") }
        if horizon < 2 { throw ConfigurationError(field: "clipood.horizon", reason: "must be at least 2") }
    }
}

/// CLIPood, first-order online fine-tuning of the linear head (Shu et al., "CLIPood: Generalizing CLIP
/// to Out-of-Distributions", ICML 2023), streaming variant.
///
/// Training logits use the margin metric softmax (MMS) with class-adaptive margins from the class
/// (text) embeddings:
///
///     m_{y,j}  = lambda_m (1 - cos(t_y, t_j))                 (0 for the true class j = y)
///     l_j      = tau (w_j . x + m_{y,j})
///     W       <- W - eta tau (softmax(l) - onehot(y)) x'      (one SGD step on the cross-entropy)
///
/// Predictions use the Beta moving average (BMA) of the weights. The paper's BMA weights step t of T
/// by Beta(b, b).pdf((t + 0.5) / (T + 1)) and needs the horizon T; a stream has none, so we use a
/// sliding horizon of H updates: at the start of each horizon the average restarts from the current
/// weights (its step t = 0, which with b < 1 carries a large weight, as the zero-shot model does in the
/// paper), and each update t = 1..H-1 of the horizon is folded in as
///
///     w_t = Beta(b, b).pdf((t + 0.5) / (H + 1)),  Wbar <- (Z Wbar + w_t W) / (Z + w_t),  Z <- Z + w_t
///
/// so the prediction weights are always a Beta-weighted average of the last < H weight iterates.
public final class ClipoodHead: AdapterHead {
    public let name = "clipood"
    public internal(set) var classCount: Int
    public let dimension: Int
    public let configuration: ClipoodConfiguration
    public private(set) var updateCount = 0

    /// The SGD iterate W (C x D).
    public internal(set) var weights: Matrix
    /// The Beta moving average Wbar used for prediction.
    public internal(set) var averageWeights: Matrix
    var margins: Matrix  // C x C, m_{y,j}
    private var averageMass = 0.0  // Z
    private var horizonStep = 0  // t within the current horizon

    private let input: Matrix
    var trainLogits: Matrix
    /// Classes the model retired: out of the training softmax, their rows no longer updated.
    var retired: [Bool]
    private var hasPrediction = false

    public init(classes: ClassEmbeddings, configuration: ClipoodConfiguration = .init()) {
        self.configuration = configuration
        classCount = classes.count
        dimension = classes.dimension
        retired = Array(repeating: false, count: classes.count)
        weights = Matrix(copying: classes.normalized)
        averageWeights = Matrix(copying: classes.normalized)
        let c = classCount
        margins = Matrix(rows: c, columns: c)
        BLAS.gemmTransposedB(c, c, dimension, alpha: -configuration.margin, classes.normalized.pointer, classes.normalized.pointer, beta: 0, margins.pointer)
        for i in 0..<c {
            for j in 0..<c { margins[i, j] += configuration.margin }
            margins[i, i] = 0
        }
        averageMass = Self.betaWeight(step: 0, horizon: configuration.horizon, shape: configuration.betaShape)
        input = Matrix(rows: dimension, columns: 1)
        trainLogits = Matrix(rows: c, columns: 1)
    }

    /// The Beta moving-average weight of step `step` of a horizon of `horizon` steps:
    /// Beta(shape, shape).pdf((step + 0.5) / (horizon + 1)).
    public static func betaWeight(step: Int, horizon: Int, shape: Double) -> Double {
        let x = (Double(step) + 0.5) / Double(horizon + 1)
        let logB = 2 * lgamma(shape) - lgamma(2 * shape)
        return Foundation.exp((shape - 1) * Foundation.log(x) + (shape - 1) * Foundation.log(1 - x) - logB)
    }

    public func predict(_ x: UnsafePointer<Double>, logits: UnsafeMutablePointer<Double>) -> Double {
        input.pointer.update(from: x, count: dimension)
        BLAS.gemv(classCount, dimension, alpha: configuration.temperature, averageWeights.pointer, x, beta: 0, logits)
        hasPrediction = true
        return 0
    }

    public func learn(label: Int, context: LearnContext) {
        precondition(hasPrediction, "learn(label:) must follow predict(_:logits:)")
        precondition(label >= 0 && label < classCount, "label \(label) out of range")
        hasPrediction = false
        let c = classCount
        let tau = configuration.temperature
        let z = trainLogits.pointer
        BLAS.gemv(c, dimension, alpha: tau, weights.pointer, input.pointer, beta: 0, z)
        var maximum = -Double.infinity
        for j in 0..<c {
            z[j] += tau * margins[label, j]
            if !retired[j] { maximum = max(maximum, z[j]) }
        }
        var sum = 0.0
        for j in 0..<c {
            z[j] = retired[j] ? 0 : Foundation.exp(z[j] - maximum)  // a retired row gets no gradient
            sum += z[j]
        }
        for j in 0..<c { z[j] /= sum }
        z[label] -= 1  // gradient of the cross-entropy wrt the logits
        BLAS.ger(c, dimension, alpha: -configuration.learningRate * tau, z, input.pointer, weights.pointer)
        updateCount += 1

        // Beta moving average over the sliding horizon.
        horizonStep += 1
        if horizonStep >= configuration.horizon {
            horizonStep = 0
            averageWeights.copy(from: weights)
            averageMass = Self.betaWeight(step: 0, horizon: configuration.horizon, shape: configuration.betaShape)
        } else {
            let w = Self.betaWeight(step: horizonStep, horizon: configuration.horizon, shape: configuration.betaShape)
            let share = w / (averageMass + w)
            BLAS.scal(averageWeights.count, alpha: 1 - share, averageWeights.pointer)
            BLAS.axpy(averageWeights.count, alpha: share, weights.pointer, averageWeights.pointer)
            averageMass += w
        }
    }
}

// MARK: - Checkpoint

extension ClipoodHead {
    /// Writes the head: kind and name, configuration, C and D, a fingerprint of the class margins (built
    /// from the class embeddings, not restored), W, the Beta moving average and its mass, the step in the
    /// horizon and the update count. The scratch of the last `predict` is not saved (checkpoints are
    /// taken between events).
    public func save(to writer: inout CheckpointWriter) {
        writer.writeHeadHeader(
            kind: .clipood, name: name, configuration: configuration, classCount: classCount, dimension: dimension)
        writer.writeUInt64(Checkpoint.fingerprint(margins))
        writer.writeMatrix(weights)
        writer.writeMatrix(averageWeights)
        writer.writeDouble(averageMass)
        writer.writeInt(horizonStep)
        writer.writeInt(updateCount)
    }

    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectHeadHeader(
            kind: .clipood, name: name, configuration: configuration, classCount: classCount, dimension: dimension)
        try reader.expectFingerprint(Checkpoint.fingerprint(margins), field: "\(name).classEmbeddings")
        let storedWeights = try reader.readMatrix(like: weights, field: "\(name).weights")
        let storedAverage = try reader.readMatrix(like: averageWeights, field: "\(name).averageWeights")
        let storedMass = try reader.readDouble()
        let storedStep = try reader.readInt()
        let storedUpdates = try reader.readInt()
        guard (0..<configuration.horizon).contains(storedStep) else {
            throw .corrupt("\(name).horizonStep", "\(storedStep) is outside 0..<\(configuration.horizon)")
        }
        guard storedUpdates >= 0 else { throw .corrupt("\(name).updateCount", "negative update count \(storedUpdates)") }
        return CheckpointCommit { [self] in
            weights.assign(storedWeights)
            averageWeights.assign(storedAverage)
            averageMass = storedMass
            horizonStep = storedStep
            updateCount = storedUpdates
            hasPrediction = false
        }
    }
}
