/// The input-drift test: has the mean of the inputs moved, in either direction, relative to a slower
/// reference? A two-sample test of a fast moving average of the embeddings against a slow one, outside
/// the span of the class embeddings.
///
/// For each normalised input x (D values), with P the orthogonal projection onto the complement of the
/// class subspace S (the span of the top k = min(C, D/4) principal directions of the class
/// embeddings T, C x D):
///
///     f <- f + r_f (x - f),   r_f = max(1/W, 1/(n_f + 1))           (fast mean, W = `window`)
///     s <- s + r_s (x - s),   r_s = max(1/R, 1/(n_s + 1))           (reference mean, R = `reference`)
///     v <- v + r_v (|P(x - f)|^2 / (1 + a) - v)                     (per-event variance outside S, before f moves)
///     a <- (1 - r_f)^2 a + r_f^2,   b <- (1 - r_s)^2 b + r_s^2,   c <- (1 - r_f)(1 - r_s) c + r_f r_s
///     T  = |P(f - s)|^2 / (v (a + b - 2c))
///
/// a, b and c are the sums of the squared weights (and cross products) the two means give past events,
/// so a + b - 2c is the variance factor of f - s for independent inputs: without drift, E T = 1 whatever
/// the windows, the dimension or the scale of the embeddings. After an abrupt shift, f moves to the new
/// mean within about W events while s stays, and T grows with the square of the shift over the noise:
/// on the shared data it passes 8 within about 10 events of every clean, mild or corrupted shift, in
/// either direction, and stays below 4.1 on every stationary stream measured (docs/drift.md).
///
/// Why outside the class subspace: a window of 50 events holds a random mix of classes, and the mean of
/// that mix moves along the class directions from window to window (the more so when classes come in
/// bursts). Those moves are not drift; removing S removes most of them (on the shared data the
/// largest T over 6,000 stationary events falls from 9.5 to 4.1), while a change of domain (a new
/// camera, a corruption, a return to an earlier domain) moves the mean outside S too. The test reads
/// only the embeddings: it needs no labels, no head and no Mahalanobis scorer, and it does not learn
/// the shift into a covariance (a whitened test goes blind to a domain it has learned once and that
/// comes back: docs/drift.md).
///
/// Alert rule: after `warmup` events, raised when T >= `raiseLevel`; the reference then restarts from
/// the events after the raise (n_s = 0), so it learns the new regime; cleared when T <= `clearLevel`
/// at least W events after the raise: the inputs have been stable around their new mean for a window.
/// A later shift is tested against that new reference, so a return to an earlier domain is a shift
/// like any other.
///
/// Cost per event: one k x D `dgemv` (x's coordinates in S) and four passes over D values; no
/// allocation. P(f - s) is not formed: |P u|^2 = |u|^2 - |Q u|^2 for the orthonormal basis Q (k x D) of
/// S, and Q f, Q s are kept as moving averages of Q x.
public final class MeanShiftDetector {
    public let dimension: Int
    public let window: Int
    public let reference: Int
    public let raiseLevel: Double
    public let clearLevel: Double
    public let warmup: Int
    /// Orthonormal basis of the class subspace S, k x D (k >= 1).
    var basis: Matrix

    let fast: Matrix  // f, D
    let slow: Matrix  // s, D
    var fastCoordinates: Matrix  // Q f, k
    var slowCoordinates: Matrix  // Q s, k
    var coordinates: Matrix  // Q x of the current event, k (scratch)
    private var fastCount = 0
    private var slowCount = 0
    private var varianceCount = 0
    private var fastWeights = 0.0  // a
    private var slowWeights = 0.0  // b
    private var crossWeights = 0.0  // c
    private var variance = 0.0  // v
    private var events = 0
    private var eventsSinceRaise = 0
    /// Whether an input-drift alert is active.
    public private(set) var isActive = false
    /// T after the last event (0 before there is a variance estimate).
    public private(set) var statistic = 0.0

    /// - Parameters:
    ///   - classes: the class embeddings (their normalised rows span the subspace that is tested out).
    ///   - window: W, the fast mean's memory in events; `reference`: R, the reference's.
    public init(
        classes: Matrix, window: Int = 50, reference: Int = 500, raiseLevel: Double = 8, clearLevel: Double = 3,
        warmup: Int = 100
    ) {
        precondition(window >= 1 && reference >= 1 && clearLevel <= raiseLevel && warmup >= 0)
        dimension = classes.columns
        self.window = window
        self.reference = reference
        self.raiseLevel = raiseLevel
        self.clearLevel = clearLevel
        self.warmup = warmup
        basis = Self.classSubspace(classes)
        let d = dimension
        let k = basis.rows
        fast = Matrix(rows: d, columns: 1)
        slow = Matrix(rows: d, columns: 1)
        fastCoordinates = Matrix(rows: k, columns: 1)
        slowCoordinates = Matrix(rows: k, columns: 1)
        coordinates = Matrix(rows: k, columns: 1)
    }

    /// An orthonormal basis (rows) of the span of the top k = min(C, max(1, D/4)) principal directions
    /// of the rows of `classes` (C x D): the eigenvectors of the C x C Gram matrix G = T T' with the
    /// largest eigenvalues, mapped back as q_j = T' u_j / sqrt(lambda_j). Directions with an eigenvalue
    /// below 1e-10 of the largest are dropped (linearly dependent class embeddings). Capping k at D/4
    /// leaves most of the space to the test when there are many classes.
    static func classSubspace(_ classes: Matrix) -> Matrix {
        let c = classes.rows
        let d = classes.columns
        let gram = Matrix(rows: c, columns: c)
        for i in 0..<c {
            for j in i..<c {
                let v = BLAS.dot(d, classes.row(i), classes.row(j))
                gram[i, j] = v
                gram[j, i] = v
            }
        }
        let values = Matrix(rows: c, columns: 1)
        let solved = BLAS.symmetricEigen(c, gram.pointer, values: values.pointer)
        precondition(solved, "dsyev failed on a \(c) x \(c) Gram matrix")
        let largest = max(values[c - 1], 0)
        let wanted = min(c, max(1, d / 4))
        var kept: [Int] = []
        for j in stride(from: c - 1, through: 0, by: -1) where kept.count < wanted && values[j] > 1e-10 * largest {
            kept.append(j)
        }
        if kept.isEmpty { kept = [c - 1] }
        let basis = Matrix(rows: kept.count, columns: d)
        for (row, j) in kept.enumerated() {
            let q = basis.row(row)
            let u = gram.row(j)  // the eigenvector of values[j]
            for i in 0..<c { BLAS.axpy(d, alpha: u[i], classes.row(i), q) }
            let norm = BLAS.dot(d, q, q).squareRoot()
            if norm > 0 { BLAS.scal(d, alpha: 1 / norm, q) }
        }
        return basis
    }

    /// Adds one normalised input; returns `.raised` or `.cleared` when the alert state changes.
    public func observe(_ x: UnsafePointer<Double>) -> DetectorChange? {
        let d = dimension
        let k = basis.rows
        BLAS.gemv(k, d, alpha: 1, basis.pointer, x, beta: 0, coordinates.pointer)
        let rf = max(1 / Double(window), 1 / Double(fastCount + 1))
        let rs = max(1 / Double(reference), 1 / Double(slowCount + 1))
        let f = fast.pointer
        let s = slow.pointer
        let q = coordinates.pointer
        let qf = fastCoordinates.pointer
        let qs = slowCoordinates.pointer
        // One pass: the deviation from f before it moves, both means, and |f - s|^2 after.
        var deviation2 = 0.0
        var difference2 = 0.0
        for i in 0..<d {
            let xi = x[i]
            let e = xi - f[i]
            deviation2 += e * e
            let fi = f[i] + rf * e
            let si = s[i] + rs * (xi - s[i])
            f[i] = fi
            s[i] = si
            difference2 += (fi - si) * (fi - si)
        }
        var deviationInside = 0.0
        var differenceInside = 0.0
        for j in 0..<k {
            let e = q[j] - qf[j]
            deviationInside += e * e
            qf[j] += rf * e
            qs[j] += rs * (q[j] - qs[j])
            differenceInside += (qf[j] - qs[j]) * (qf[j] - qs[j])
        }
        if fastCount > 0 {
            let rv = max(1 / Double(reference), 1 / Double(varianceCount + 1))
            variance += rv * (max(0, deviation2 - deviationInside) / (1 + fastWeights) - variance)
            varianceCount += 1
        }
        fastWeights = (1 - rf) * (1 - rf) * fastWeights + rf * rf
        slowWeights = (1 - rs) * (1 - rs) * slowWeights + rs * rs
        crossWeights = (1 - rf) * (1 - rs) * crossWeights + rf * rs
        fastCount += 1
        slowCount += 1
        let factor = fastWeights + slowWeights - 2 * crossWeights
        statistic = variance > 0 && factor > 1e-12 ? max(0, difference2 - differenceInside) / (variance * factor) : 0
        events += 1

        if isActive {
            eventsSinceRaise += 1
            if eventsSinceRaise >= window && statistic <= clearLevel {
                isActive = false
                return .cleared
            }
            return nil
        }
        guard events > warmup, statistic >= raiseLevel else { return nil }
        isActive = true
        eventsSinceRaise = 0
        // The reference restarts: it learns the regime after the change.
        slowCount = 0
        slowWeights = 0
        crossWeights = 0
        return .raised
    }
}

// MARK: - Checkpoint

extension MeanShiftDetector: Checkpointable {
    /// Writes the settings (checked on restore), the class-subspace basis, both means and their
    /// coordinates in it, the weight sums, the variance, the counters and the alert state. The basis is
    /// saved although it is a function of the class embeddings: the coordinates are kept incrementally
    /// in it, and an eigendecomposition on another machine (another OpenBLAS kernel or thread count)
    /// may return the same subspace with other signs or a rotation within equal eigenvalues.
    public func save(to writer: inout CheckpointWriter) {
        writer.writeSection("MeanShiftDetector")
        writer.writeInt(window)
        writer.writeInt(reference)
        writer.writeDouble(raiseLevel)
        writer.writeDouble(clearLevel)
        writer.writeInt(warmup)
        writer.writeInt(basis.rows)
        writer.writeMatrix(basis)
        writer.writeMatrix(fast)
        writer.writeMatrix(slow)
        writer.writeMatrix(fastCoordinates)
        writer.writeMatrix(slowCoordinates)
        writer.writeInts([fastCount, slowCount, varianceCount, events, eventsSinceRaise])
        writer.writeDoubles([fastWeights, slowWeights, crossWeights, variance, statistic])
        writer.writeBool(isActive)
    }

    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectSection("MeanShiftDetector")
        try reader.expectSetting(window, field: "drift.inputWindow")
        try reader.expectSetting(reference, field: "drift.inputReference")
        try reader.expectSetting(raiseLevel, field: "drift.inputRaiseLevel")
        try reader.expectSetting(clearLevel, field: "drift.inputClearLevel")
        try reader.expectSetting(warmup, field: "drift.inputWarmup")
        try reader.expectShape(basis.rows, field: "meanShift.basis")
        let storedBasis = try reader.readMatrix(like: basis, field: "meanShift.basis")
        guard storedBasis.allSatisfy(\.isFinite) else { throw .corrupt("meanShift.basis", "a non-finite value") }
        let storedFast = try reader.readMatrix(like: fast, field: "meanShift.fast")
        let storedSlow = try reader.readMatrix(like: slow, field: "meanShift.slow")
        let storedFastCoordinates = try reader.readMatrix(like: fastCoordinates, field: "meanShift.fastCoordinates")
        let storedSlowCoordinates = try reader.readMatrix(like: slowCoordinates, field: "meanShift.slowCoordinates")
        let counts = try reader.readInts(count: 5, field: "meanShift.counts")
        let sums = try reader.readDoubles(count: 5, field: "meanShift.sums")
        let storedActive = try reader.readBool()
        guard counts.allSatisfy({ $0 >= 0 }) else { throw .corrupt("meanShift.counts", "\(counts) has a negative count") }
        guard sums.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw .corrupt("meanShift.sums", "\(sums) has a negative or non-finite value")
        }
        return CheckpointCommit { [self] in
            basis.pointer.update(from: storedBasis, count: storedBasis.count)
            fast.pointer.update(from: storedFast, count: storedFast.count)
            slow.pointer.update(from: storedSlow, count: storedSlow.count)
            fastCoordinates.pointer.update(from: storedFastCoordinates, count: storedFastCoordinates.count)
            slowCoordinates.pointer.update(from: storedSlowCoordinates, count: storedSlowCoordinates.count)
            fastCount = counts[0]
            slowCount = counts[1]
            varianceCount = counts[2]
            events = counts[3]
            eventsSinceRaise = counts[4]
            fastWeights = sums[0]
            slowWeights = sums[1]
            crossWeights = sums[2]
            variance = sums[3]
            statistic = sums[4]
            isActive = storedActive
        }
    }
}
