extension MahalanobisScorer {
    /// Appends a class (`docs/classes.md`): its mean starts at the class embedding t^ (R t^ with the
    /// random projection), as the constructor starts every class mean, with no updates counted (so its
    /// first labelled or predicted events move it at the running-average rate 1/(n_c + 1)). The shared
    /// covariance is unchanged; the new mean's whitened form m = U'^-1 mu and |m|^2 are computed with
    /// the current factor U (one triangular solve), which keeps the invariant every other class's m_c
    /// holds between refreshes. The per-class buffers are reallocated here (between events).
    ///
    /// - Parameter t: the L2-normalised class embedding (``inputDimension`` entries).
    public func appendClass(_ t: UnsafePointer<Double>) {
        let d = dimension
        let c = classCount
        let grownMeans = means.appendingRows(1)
        let mean = grownMeans.row(c)
        if let projectionMatrix {
            for j in 0..<inputDimension { input32[j] = Float(t[j]) }
            var projectedMean = [Float](repeating: 0, count: d)
            BLAS.gemvFloat(d, inputDimension, projectionMatrix, input32, &projectedMean)
            for j in 0..<d { mean[j] = Double(projectedMean[j]) }
        } else {
            mean.update(from: t, count: d)
        }
        var whitened = (0..<d).map { Float(mean[$0]) }
        BLAS.solveRightUpper(1, d, factor, &whitened)
        let grownWhitened = whitenedMeans.appendingRows(1)
        for j in 0..<d { grownWhitened[c, j] = Double(whitened[j]) }
        let grownQuadratic = meanQuadratic.appendingRows(1)
        grownQuadratic[c] = BLAS.dot(d, grownWhitened.row(c), grownWhitened.row(c))

        means = grownMeans
        whitenedMeans = grownWhitened
        meanQuadratic = grownQuadratic
        classUpdates.append(0)
        classCount += 1
        meansScratch.deallocate()
        meansScratch = .allocate(capacity: classCount * d)
        meansScratch.initialize(repeating: 0, count: classCount * d)
        crossTerms = Matrix(rows: classCount, columns: 1)
    }
}
