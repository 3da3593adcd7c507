extension KalmanHead: ClassGrowingHead {

    /// Appends a class. With the full covariance its row of W is
    ///
    ///     w_new = w_bar + (initialScale / p0) P (t^_new - t_bar)
    ///
    /// with w_bar, t_bar the means of the C rows of W and of the class embeddings T (of the active rows
    /// when classes were retired). This is the
    /// posterior mean of a row that started at initialScale t^_new with the prior P0 = p0 I and whose
    /// data term is the average of the other rows' (W_k = P (P0^-1 s t^_k + b_k) for every row; the
    /// centred target keeps the mean row at s t_bar, so the average data term is (P^-1 - P0^-1) s t_bar):
    /// as if the stream so far had been observed with the new class among the classes, never labelled.
    /// Where the stream has taught the head much (P small) the zero-shot contrast of the new class is
    /// suppressed and its logit sits at the common level; where it has not, the zero-shot contrast
    /// remains. For a head that has learned nothing (P = P0) this is initialScale t^_new, the
    /// constructor's row. The raw zero-shot row instead would stand far above the learned rows for
    /// every input that resembles the new class: the learned rows' contrasts are margins of about
    /// kappa_y around the common level, the zero-shot contrasts are cosines (docs/classes.md measures
    /// both: on the shared data the raw row took a third of the other classes' events).
    ///
    /// P (D x D) is shared by all classes (vec(W) ~ P kron I_C), so it is unchanged: the new row learns
    /// with the feature covariance the stream has taught so far. The diagonal variant keeps one
    /// variance per weight, so its new row is a fresh row: initialScale t^_new with variances at the
    /// prior p0 (stored as p0 / scale), and its trace bound grows to b p0 D (C + 1), the bound of a fresh
    /// head with C + 1 classes. The per-class scratch (logits, innovation, per-class variances) and the
    /// block buffers are reallocated here. Cost: O(C D + D^2) once.
    public func appendClass(from classes: ClassEmbeddings) {
        precondition(classes.count == classCount + 1 && classes.dimension == dimension)
        precondition(!(block?.isActive ?? false), "appendClass inside a block")
        let t = classes.normalized.row(classCount)
        let d = dimension
        let c = classCount
        let s = configuration.initialScale
        let grown = weights.appendingRows(1)
        let row = grown.row(c)
        if configuration.covariance == .full {
            let contrast = Matrix(rows: d, columns: 1)  // t^_new - t_bar
            // Means over the active rows (retired rows are frozen, off the common level).
            let active = Double(activeCount)
            for j in 0..<d {
                var wSum = 0.0
                var tSum = 0.0
                for k in 0..<c where !retired[k] {
                    wSum += weights[k, j]
                    tSum += classes.normalized[k, j]
                }
                row[j] = wSum / active
                contrast[j] = t[j] - tSum / active
            }
            let shrunk = Matrix(rows: d, columns: 1)  // P (t^_new - t_bar)
            if let covariance32 {
                covariance32.multiply(contrast.pointer, scale: covarianceScale, into: shrunk.pointer)
            } else {
                BLAS.symv(d, alpha: covarianceScale, covariance.pointer, contrast.pointer, beta: 0, shrunk.pointer)
            }
            BLAS.axpy(d, alpha: s / configuration.priorVariance, shrunk.pointer, row)
        } else {
            for j in 0..<d { row[j] = s * t[j] }
        }
        weights = grown
        if configuration.covariance == .diagonal {
            covariance = covariance.appendingRows(1, value: configuration.priorVariance / covarianceScale)
            storedTrace += configuration.priorVariance * Double(d) / covarianceScale
            traceLimit = configuration.priorVariance * Double(d * (activeCount + 1)) * configuration.traceBound
            pX = Matrix(rows: classCount + 1, columns: 1)
        }
        classCount += 1
        retired.append(false)
        activeCount += 1
        logits = Matrix(rows: classCount, columns: 1)
        innovation = Matrix(rows: classCount, columns: 1)
        hasPrediction = false
        if let block { self.block = KalmanBlock(capacity: block.capacity, dimension: d, classCount: classCount) }
    }

    /// Leaves class `c` out of the observation from now on: its innovation is 0 (its row keeps what it
    /// learned), the centred target's level, the softmax and the noise estimate are over the active
    /// classes. The diagonal variant also stops updating the row's variances and takes them out of the
    /// trace and its bound (as a head that never had the class). Not checkpointed here: the model's
    /// class set carries the retired flags (a restore retires the class again before the state is read).
    public func retireClass(_ c: Int) {
        precondition(c >= 0 && c < classCount)
        guard !retired[c] else { return }
        retired[c] = true
        activeCount -= 1
        if configuration.covariance == .diagonal {
            // Its frozen variances leave the trace and its share leaves the bound (b p0 D per class).
            var rowTrace = 0.0
            for j in 0..<dimension { rowTrace += covariance[c, j] }
            storedTrace -= rowTrace
            traceLimit -= configuration.priorVariance * Double(dimension) * configuration.traceBound
        }
    }
}
