/// The buffers of one block of the drift scorer, allocated once for blocks of up to `capacity` events.
final class ScorerBlock {
    let capacity: Int
    /// Row i: the input in the scorer's space (projected when there is a projection), Float32.
    let inputs: UnsafeMutablePointer<Float>
    /// Row i: y_i = U'^-1 x_i for the factor of version `version`, for rows `solvedFrom...`.
    let solved: UnsafeMutablePointer<Float>
    /// Rows of the block in Float32 before the projection (only with a projection).
    let raw: UnsafeMutablePointer<Float>?
    var rows: UnsafePointer<Double>?
    var count = 0
    var version = 0
    var solvedFrom = 0
    var current = -1

    init(capacity: Int, dimension: Int, inputDimension: Int, projects: Bool) {
        self.capacity = capacity
        inputs = .allocate(capacity: capacity * dimension)
        inputs.initialize(repeating: 0, count: capacity * dimension)
        solved = .allocate(capacity: capacity * dimension)
        solved.initialize(repeating: 0, count: capacity * dimension)
        if projects {
            raw = .allocate(capacity: capacity * inputDimension)
            raw?.initialize(repeating: 0, count: capacity * inputDimension)
        } else {
            raw = nil
        }
    }

    deinit {
        inputs.deallocate()
        solved.deallocate()
        raw?.deallocate()
    }
}

/// Blocked scoring: the whitened inputs y_i = U'^-1 x_i of a block are one triangular solve with many
/// right-hand sides (`strsm`, level 3) instead of one `strsv` per event, and the projection (when there
/// is one) one `sgemm`. U changes only at a refresh; after one, the block's remaining rows are solved
/// again with the new factor, so each event is scored with the factor the per-event path would use.
/// Everything else (the class terms, calibration, learning) runs per event as in ``score(_:)``.
/// The solve is Float32 like the per-event one, but sums in another order: scores agree with the
/// per-event path to Float32 rounding (about 1e-6 relative), not bit for bit.
extension MahalanobisScorer {
    /// Allocates the in-block buffers for blocks of up to `capacity` events.
    public func prepareBlocks(capacity: Int) {
        guard capacity > 1, (block?.capacity ?? 0) < capacity else { return }
        block = ScorerBlock(
            capacity: capacity, dimension: dimension, inputDimension: inputDimension, projects: projectionMatrix != nil)
    }

    /// Starts a block of `count` normalised inputs (rows of `rows`, count x ``inputDimension``).
    public func beginBlock(_ rows: UnsafePointer<Double>, count: Int) {
        guard let block else { preconditionFailure("prepareBlocks(capacity:) must come before beginBlock") }
        precondition(count <= block.capacity)
        block.rows = rows
        block.count = count
        block.current = -1
        let d = dimension
        if let projectionMatrix, let raw = block.raw {
            for k in 0..<(count * inputDimension) { raw[k] = Float(rows[k]) }
            BLAS.gemmFloatTransposedB(count, d, inputDimension, raw, projectionMatrix, block.inputs)
        } else {
            for k in 0..<(count * d) { block.inputs[k] = Float(rows[k]) }
        }
        solve(block, from: 0)
    }

    private func solve(_ block: ScorerBlock, from first: Int) {
        let d = dimension
        let rows = block.count - first
        guard rows > 0 else { return }
        (block.solved + first * d).update(from: block.inputs + first * d, count: rows * d)
        BLAS.solveRightUpper(rows, d, factor, block.solved + first * d)
        block.solvedFrom = first
        block.version = factorVersion
    }

    /// ``score(_:)`` of row `blockRow` of the block (rows in order).
    public func score(blockRow i: Int) -> (distance2: Double, nearest: Int) {
        guard let block else { preconditionFailure("score(blockRow:) outside a block") }
        precondition(i == block.current + 1 && i < block.count, "block rows must be scored in order")
        block.current = i
        if block.version != factorVersion { solve(block, from: i) }
        let d = dimension
        if projectionMatrix != nil {
            let x = block.inputs + i * d
            for j in 0..<d { input[j] = Double(x[j]) }
        } else if let rows = block.rows {
            input.pointer.update(from: rows + i * d, count: d)  // exact, as in score(_:)
        }
        let y32 = block.solved + i * d
        for j in 0..<d { whitenedInput[j] = Double(y32[j]) }
        return completeScore()
    }
}
