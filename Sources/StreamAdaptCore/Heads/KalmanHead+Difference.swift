extension KalmanHead {
    /// The largest difference between this head's W and P and `reference`'s, each relative to
    /// `reference`'s largest entry (how far a fold of ``KalmanEvidence`` is from one model over the same
    /// events: `eval --model-mode shared`, the shared-model tests). Same shape required.
    public func largestDifferences(from reference: KalmanHead) -> (weights: Double, covariance: Double) {
        precondition(reference.classCount == classCount && reference.dimension == dimension)
        let (c, d) = (classCount, dimension)
        var largestW = 0.0, worstW = 0.0, largestP = 0.0, worstP = 0.0
        for k in 0..<c {
            for j in 0..<d {
                largestW = max(largestW, abs(reference.weights[k, j]))
                worstW = max(worstW, abs(weights[k, j] - reference.weights[k, j]))
            }
        }
        for i in 0..<d {
            for j in i..<d {
                largestP = max(largestP, abs(reference.covarianceEntry(i, j)))
                worstP = max(worstP, abs(covarianceEntry(i, j) - reference.covarianceEntry(i, j)))
            }
        }
        return (worstW / largestW, worstP / largestP)
    }
}
