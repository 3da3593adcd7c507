/// The stored covariance Q of the full Kalman head in Float32 (`KalmanConfiguration.precision:
/// float32`): the upper triangle of a D x D row-major Float32 matrix, with the Float32 scratch its
/// kernels need. The head keeps everything else (W, the scale sigma of P = sigma Q, the running trace,
/// u = P x, the innovations) in Float64 and converts at the kernels' edges: `ssymv` / `ssyr` per event,
/// `ssymm` / `ssyrk` per block. Half the bytes per pass over P and twice the flop rate of the Float64
/// kernels, for Float32 rounding of Q (measured in docs/heads.md).
final class Float32Covariance {
    let dimension: Int
    let values: UnsafeMutablePointer<Float>
    private let vector: UnsafeMutablePointer<Float>  // x or u in Float32
    private let product: UnsafeMutablePointer<Float>  // Q x
    /// Block scratch (capacity x D each): the block's inputs, then the folded rows; and X Q.
    private var blockInputs: UnsafeMutablePointer<Float>?
    private var blockProducts: UnsafeMutablePointer<Float>?
    private var blockCapacity = 0

    init(dimension d: Int, diagonal: Double) {
        dimension = d
        values = .allocate(capacity: d * d)
        values.initialize(repeating: 0, count: d * d)
        for i in 0..<d { values[i * d + i] = Float(diagonal) }
        vector = .allocate(capacity: d)
        vector.initialize(repeating: 0, count: d)
        product = .allocate(capacity: d)
        product.initialize(repeating: 0, count: d)
    }

    deinit {
        values.deallocate()
        vector.deallocate()
        product.deallocate()
        blockInputs?.deallocate()
        blockProducts?.deallocate()
    }

    subscript(i: Int, j: Int) -> Double { Double(i <= j ? values[i * dimension + j] : values[j * dimension + i]) }

    var diagonalSum: Double {
        var t = 0.0
        for i in 0..<dimension { t += Double(values[i * dimension + i]) }
        return t
    }

    /// out <- scale * Q x.
    func multiply(_ x: UnsafePointer<Double>, scale: Double, into out: UnsafeMutablePointer<Double>) {
        let d = dimension
        for j in 0..<d { vector[j] = Float(x[j]) }
        BLAS.symvFloat(d, values, vector, product)
        for j in 0..<d { out[j] = scale * Double(product[j]) }
    }

    /// Q <- Q + alpha u u'.
    func rankOne(_ alpha: Double, _ u: UnsafePointer<Double>) {
        let d = dimension
        for j in 0..<d { vector[j] = Float(u[j]) }
        BLAS.syrFloat(d, alpha: Float(alpha), vector, values)
    }

    func scale(by factor: Double) { BLAS.scalFloat(dimension * dimension, alpha: Float(factor), values) }

    func prepareBlocks(capacity: Int) {
        guard capacity > blockCapacity else { return }
        blockInputs?.deallocate()
        blockProducts?.deallocate()
        blockInputs = .allocate(capacity: capacity * dimension)
        blockInputs?.initialize(repeating: 0, count: capacity * dimension)
        blockProducts = .allocate(capacity: capacity * dimension)
        blockProducts?.initialize(repeating: 0, count: capacity * dimension)
        blockCapacity = capacity
    }

    /// Rows of out <- Q x_i for the `count` rows of `rows` (count x D).
    func multiplyRows(_ rows: UnsafePointer<Double>, count: Int, into out: UnsafeMutablePointer<Double>) {
        guard let inputs = blockInputs, let products = blockProducts else { preconditionFailure("prepareBlocks first") }
        let n = count * dimension
        for k in 0..<n { inputs[k] = Float(rows[k]) }
        BLAS.symmRightFloat(count, dimension, values, inputs, products)
        for k in 0..<n { out[k] = Double(products[k]) }
    }

    /// Q <- Q - V'V for the `count` rows of `rows` (count x D).
    func subtractGram(_ rows: UnsafePointer<Double>, count: Int) {
        guard let inputs = blockInputs else { preconditionFailure("prepareBlocks first") }
        let n = count * dimension
        for k in 0..<n { inputs[k] = Float(rows[k]) }
        BLAS.syrkTransposedFloat(dimension, count, alpha: -1, inputs, values)
    }
}
