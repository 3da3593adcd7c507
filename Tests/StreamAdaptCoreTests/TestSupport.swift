import StreamAdaptCore

/// Deterministic random numbers and small dense linear algebra for checking closed forms.
struct TestRandom {
    var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    /// Uniform in [-1, 1).
    mutating func uniform() -> Double { Double(generator.next() >> 11) / Double(1 << 52) - 1 }
    /// A random unit vector of `n` entries.
    mutating func unitVector(_ n: Int) -> [Double] {
        let v = (0..<n).map { _ in uniform() }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }
    /// Random class embeddings (C x D) as floats.
    mutating func classes(_ c: Int, _ d: Int) throws -> ClassEmbeddings {
        try ClassEmbeddings(
            names: (0..<c).map { "class\($0)" }, dimension: d, values: (0..<(c * d)).map { _ in Float(uniform()) })
    }
}

/// Solves A X = B for square A (n x n) and B (n x m), row-major, by Gaussian elimination with partial pivoting.
func solve(_ a: [Double], _ b: [Double], n: Int, m: Int) -> [Double] {
    var a = a
    var b = b
    for k in 0..<n {
        var pivot = k
        for i in (k + 1)..<n where abs(a[i * n + k]) > abs(a[pivot * n + k]) { pivot = i }
        if pivot != k {
            for j in 0..<n { a.swapAt(k * n + j, pivot * n + j) }
            for j in 0..<m { b.swapAt(k * m + j, pivot * m + j) }
        }
        for i in (k + 1)..<n {
            let f = a[i * n + k] / a[k * n + k]
            for j in k..<n { a[i * n + j] -= f * a[k * n + j] }
            for j in 0..<m { b[i * m + j] -= f * b[k * m + j] }
        }
    }
    var x = [Double](repeating: 0, count: n * m)
    for k in stride(from: n - 1, through: 0, by: -1) {
        for j in 0..<m {
            var s = b[k * m + j]
            for i in (k + 1)..<n { s -= a[k * n + i] * x[i * m + j] }
            x[k * m + j] = s / a[k * n + k]
        }
    }
    return x
}

/// Whether the symmetric n x n matrix is positive definite (Cholesky succeeds).
func isPositiveDefinite(_ s: [Double], n: Int) -> Bool {
    var l = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0...i {
            var sum = s[i * n + j]
            for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
            if i == j {
                if sum <= 0 { return false }
                l[i * n + i] = sum.squareRoot()
            } else {
                l[i * n + j] = sum / l[j * n + j]
            }
        }
    }
    return true
}

func maxRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    let scale = max(1e-300, b.map(abs).max() ?? 0)
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}

extension AdapterHead {
    /// predict then learn, for tests.
    func step(_ x: [Double], label: Int, context: LearnContext = LearnContext()) {
        var logits = [Double](repeating: 0, count: classCount)
        x.withUnsafeBufferPointer { xb in
            logits.withUnsafeMutableBufferPointer { _ = predict(xb.baseAddress!, logits: $0.baseAddress!) }
        }
        learn(label: label, context: context)
    }

    func logits(_ x: [Double]) -> [Double] {
        var logits = [Double](repeating: 0, count: classCount)
        x.withUnsafeBufferPointer { xb in
            logits.withUnsafeMutableBufferPointer { _ = predict(xb.baseAddress!, logits: $0.baseAddress!) }
        }
        return logits
    }
}

/// The dot product of two vectors of equal length.
func dot(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map(*).reduce(0, +)
}

/// The L1 distance sum_i |a_i - b_i| between two weight arrays of equal length (how far an update moved them).
func l1Distance(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.reduce(0, +)
}
