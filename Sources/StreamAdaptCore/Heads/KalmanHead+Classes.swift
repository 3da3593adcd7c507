extension KalmanHead: ClassGrowingHead {
    /// Appends a class: W gets the row `initialScale * t^` (its zero-shot initialisation, as every row
    /// of a fresh head), so right after the call the new class's logit is `outputScale * initialScale *
    /// t^' x`. The full covariance P (D x D) is shared by all classes (vec(W) ~ P kron I_C), so it is
    /// unchanged: the new row learns with the feature covariance the stream has taught so far. The
    /// diagonal variant's new row of variances starts at the prior p0 (stored as p0 / scale), and its
    /// trace bound grows to b p0 D (C + 1), the bound of a fresh head with C + 1 classes. The per-class
    /// scratch (logits, innovation, per-class variances) and the block buffers are reallocated here.
    public func appendClass(from classes: ClassEmbeddings) {
        precondition(classes.count == classCount + 1 && classes.dimension == dimension)
        let t = UnsafePointer(classes.normalized.row(classCount))
        precondition(!(block?.isActive ?? false), "appendClass inside a block")
        let d = dimension
        let grown = weights.appendingRows(1)
        let row = grown.row(classCount)
        for j in 0..<d { row[j] = configuration.initialScale * t[j] }
        weights = grown
        if configuration.covariance == .diagonal {
            covariance = covariance.appendingRows(1, value: configuration.priorVariance / covarianceScale)
            storedTrace += configuration.priorVariance * Double(d) / covarianceScale
            traceLimit = configuration.priorVariance * Double(d * (classCount + 1)) * configuration.traceBound
            pX = Matrix(rows: classCount + 1, columns: 1)
        }
        classCount += 1
        logits = Matrix(rows: classCount, columns: 1)
        innovation = Matrix(rows: classCount, columns: 1)
        hasPrediction = false
        if let block { self.block = KalmanBlock(capacity: block.capacity, dimension: d, classCount: classCount) }
    }
}
