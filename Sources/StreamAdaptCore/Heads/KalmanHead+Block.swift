import Foundation

/// The buffers of one block of the full-covariance Kalman head (see ``KalmanHead`` and its
/// `predict(blockRow:logits:)`), allocated once for blocks of up to `capacity` events.
final class KalmanBlock {
    /// Events per panel: the in-block corrections from earlier panels are applied with level-3 calls,
    /// those within a panel with level-2 calls over at most this many rows.
    static let panel = 32

    let capacity: Int
    /// Row l: first (X Q)_l = Q_0 x_l, then v_l = Q_{l-1} x_l once event l is predicted.
    let directions: Matrix
    /// Row l: first W_0 x_l, then W_{l-1} x_l (unscaled logits) once event l is predicted.
    let logits: Matrix
    /// Row l: c_l = e_l sigma_l / S_l, the step of W along v_l (0 when event l did not update).
    let steps: Matrix
    /// alpha_l = g_l sigma_l / S_l, the weight of v_l v_l' in the downdate of Q (0 when no update).
    let weights: Matrix
    /// Scratch: panel x capacity products x_i' v_j, and one row of them.
    let cross: Matrix
    let products: Matrix

    var rows: UnsafePointer<Double>?
    var count = 0
    var isActive = false
    var current = -1
    var updatesAtStart = 0

    init(capacity: Int, dimension: Int, classCount: Int) {
        self.capacity = capacity
        directions = Matrix(rows: capacity, columns: dimension)
        logits = Matrix(rows: capacity, columns: classCount)
        steps = Matrix(rows: capacity, columns: classCount)
        weights = Matrix(rows: capacity, columns: 1)
        cross = Matrix(rows: Self.panel, columns: capacity)
        products = Matrix(rows: capacity, columns: 1)
    }
}

/// The blocked update of the full-covariance Kalman head: exact per-sample semantics with level-3 BLAS.
///
/// Within a block of events x_1..x_b (rows of X) the stored covariance Q_0 (P = sigma Q) and weights W_0
/// are left as they are and the block's updates are kept as a tail (Woodbury form):
///
///     Q_{l-1} = Q_0 - sum_{j<l} alpha_j v_j v_j',   W_{l-1} = W_0 + sum_{j<l} c_j v_j'
///     v_l = Q_{l-1} x_l = (X Q_0)_l - sum_{j<l} alpha_j v_j (v_j' x_l)
///     W_{l-1} x_l = W_0 x_l + sum_{j<l} c_j (v_j' x_l)
///
/// with alpha_j = g_j sigma_j / S_j and c_j = e_j sigma_j / S_j, sigma_j the scale after event j's
/// forgetting: the per-event filter's `P <- P - g u u' / S`, `W <- W + e u' / S` with u = sigma v. So
/// event l sees exactly the state after event l - 1, and its prediction, gain and update are those of
/// the per-event path up to rounding. X Q_0 (`dsymm`) and X W_0' (`dgemm`) are one level-3 call each per
/// block; the corrections from earlier panels of 32 events are `dgemm`s, those within a panel `dgemv`s
/// over at most 32 rows. At the end of the block the tail is folded in:
///
///     W_0 <- W_0 + C' V  (dgemm),   Q_0 <- Q_0 - V' A V  (dsyrk, upper triangle)
///
/// Per event that is 2 D^2 + D^2 flops at level 3 (instead of two level-2 passes over the D x D matrix,
/// reading and then rewriting it) plus O(D b) for the in-block corrections. Forgetting, the trace bound,
/// the Mahalanobis regulation and the noise adaptation are scalar and sequential, as per event. The
/// rescaling of the lazy scale and the periodic refresh of the running trace (``maintainCovariance(refreshingTrace:)``)
/// run at the end of the block instead of at their exact event: both only change rounding.
extension KalmanHead: BlockedHead {
    public var supportsBlocks: Bool { configuration.covariance == .full }

    public func prepareBlocks(capacity: Int) {
        guard supportsBlocks, capacity > 1, (block?.capacity ?? 0) < capacity else { return }
        block = KalmanBlock(capacity: capacity, dimension: dimension, classCount: classCount)
        covariance32?.prepareBlocks(capacity: capacity)
    }

    public func beginBlock(_ rows: UnsafePointer<Double>, count: Int) {
        guard let block else { preconditionFailure("prepareBlocks(capacity:) must come before beginBlock") }
        precondition(count <= block.capacity && !block.isActive)
        block.rows = rows
        block.count = count
        block.isActive = true
        block.current = -1
        block.updatesAtStart = updateCount
        let d = dimension
        // Z = X Q_0 (rows: Q_0 x_l) and X W_0' (rows: W_0 x_l): one level-3 call each.
        if let covariance32 {
            covariance32.multiplyRows(rows, count: count, into: block.directions.pointer)
        } else {
            BLAS.symmRight(count, d, alpha: 1, covariance.pointer, rows, beta: 0, block.directions.pointer)
        }
        BLAS.gemmTransposedB(count, classCount, d, alpha: 1, rows, weights.pointer, beta: 0, block.logits.pointer)
    }

    public func predict(blockRow l: Int, logits out: UnsafeMutablePointer<Double>) -> Double {
        guard let block, block.isActive, let rows = block.rows else { preconditionFailure("predict(blockRow:) outside a block") }
        precondition(l == block.current + 1 && l < block.count, "block rows must be predicted in order")
        block.current = l
        let d = dimension
        let c = classCount
        let x = rows + l * d
        let panel = KalmanBlock.panel
        let panelStart = l - l % panel
        if l == panelStart && l > 0 {
            // Corrections from every earlier panel for the rows of this panel, at level 3.
            let m = min(panel, block.count - l)
            let cross = block.cross.pointer
            let ld = block.cross.columns
            // cross(i, j) = x_{l+i}' v_j
            BLAS.gemm(transposeB: true, m, l, d, alpha: 1, x, lda: d, block.directions.pointer, ldb: d, beta: 0, cross, ldc: ld)
            // logits += cross C
            BLAS.gemm(m, c, l, alpha: 1, cross, lda: ld, block.steps.pointer, ldb: c, beta: 1, block.logits.row(l), ldc: c)
            // v -= (cross A) V
            for i in 0..<m {
                let row = cross + i * ld
                for j in 0..<l { row[j] *= block.weights[j] }
            }
            BLAS.gemm(m, d, l, alpha: -1, cross, lda: ld, block.directions.pointer, ldb: d, beta: 1, block.directions.row(l), ldc: d)
        }
        let v = block.directions.row(l)
        let z = block.logits.row(l)
        let within = l - panelStart
        if within > 0 {
            // Corrections from the earlier rows of this panel.
            let t = block.products.pointer
            let earlier = block.directions.row(panelStart)
            BLAS.gemv(within, d, alpha: 1, earlier, x, beta: 0, t)
            BLAS.gemvTransposed(within, c, alpha: 1, block.steps.row(panelStart), t, beta: 1, z)
            for j in 0..<within { t[j] *= block.weights[panelStart + j] }
            BLAS.gemvTransposed(within, d, alpha: -1, earlier, t, beta: 1, v)
        }
        block.weights[l] = 0
        for k in 0..<c { block.steps[l, k] = 0 }
        lastVariance = covarianceScale * BLAS.dot(d, x, v)
        let scale = configuration.observation == .softmax ? configuration.logitScale : configuration.outputScale
        for k in 0..<c { out[k] = scale * z[k] }
        hasPrediction = true
        return scale * scale * lastVariance
    }

    /// ``learn(label:context:)`` inside a block: the scalar steps of the per-event update, with the
    /// rank-one terms recorded in the block instead of applied.
    func learnInBlock(_ block: KalmanBlock, label: Int, context: LearnContext) {
        let l = block.current
        let d = dimension
        let config = configuration
        let lambda = forgettingFactor(time: context.time)
        covarianceScale /= lambda
        let q = lastVariance / lambda
        let d2 = context.mahalanobis2 ?? Double(d)
        let noiseEffective = noise * (1 + config.mahalanobisScaling * max(0, d2) / Double(d))
        let (s, gain) = innovate(label: label, logits: block.logits.row(l), variance: q, noise: noiseEffective)
        if let evidence, let rows = block.rows {
            recordEvidence(evidence, input: rows + l * d, logits: block.logits.row(l), gain: gain, noise: noiseEffective, time: context.time)
        }
        let v = block.directions.row(l)
        let alpha = gain * covarianceScale / s
        block.weights[l] = alpha
        let step = covarianceScale / s
        let e = innovation.pointer
        for k in 0..<classCount { block.steps[l, k] = step * e[k] }
        storedTrace -= alpha * BLAS.dot(d, v, v)
        adaptNoise(variance: q)
        updateCount += 1
    }

    public func endBlock() {
        guard let block, block.isActive else { preconditionFailure("endBlock() outside a block") }
        // Rows not predicted would still hold an earlier block's weights: every row must have been.
        precondition(block.current == block.count - 1, "endBlock() before every row of the block was predicted")
        block.isActive = false
        block.rows = nil
        hasPrediction = false
        let d = dimension
        let c = classCount
        // Keep the rows that updated (alpha > 0), in order.
        var k = 0
        for l in 0..<block.count where block.weights[l] > 0 {
            if k != l {
                block.directions.row(k).update(from: block.directions.row(l), count: d)
                block.steps.row(k).update(from: block.steps.row(l), count: c)
                block.weights[k] = block.weights[l]
            }
            k += 1
        }
        if k > 0 {
            // W_0 += C' V, then Q_0 -= V' A V (rows scaled by sqrt(alpha)).
            BLAS.gemm(
                transposeA: true, c, d, k, alpha: 1, block.steps.pointer, lda: c, block.directions.pointer, ldb: d,
                beta: 1, weights.pointer, ldc: d)
            for j in 0..<k { BLAS.scal(d, alpha: block.weights[j].squareRoot(), block.directions.row(j)) }
            if let covariance32 {
                covariance32.subtractGram(block.directions.pointer, count: k)
            } else {
                BLAS.syrkTransposed(d, k, alpha: -1, block.directions.pointer, beta: 1, covariance.pointer)
            }
        }
        // As per event, but once: the trace refresh when the block passed a 1024th update.
        maintainCovariance(refreshingTrace: updateCount / 1024 != block.updatesAtStart / 1024)
    }
}
