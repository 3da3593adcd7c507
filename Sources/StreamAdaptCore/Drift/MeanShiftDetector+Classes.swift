extension MeanShiftDetector {
    /// Follows a change of the class set (`docs/classes.md`): the class subspace S is recomputed from
    /// the grown class embeddings (so that the new class's direction, where its events are expected to
    /// move the mean, is not tested), and the coordinates Q f and Q s of both means are recomputed in
    /// the new basis. The means, their weights, the variance estimate and the alert state are kept, so
    /// the statistic goes on from where it was. O(C^2 D + k D) once, between events.
    ///
    /// - Parameter classes: the normalised class embeddings, C x D (all classes, retired ones included:
    ///   their events may still arrive).
    func updateClassSubspace(_ classes: Matrix) {
        precondition(classes.columns == dimension)
        basis = Self.classSubspace(classes)
        let k = basis.rows
        fastCoordinates = Matrix(rows: k, columns: 1)
        slowCoordinates = Matrix(rows: k, columns: 1)
        coordinates = Matrix(rows: k, columns: 1)
        BLAS.gemv(k, dimension, alpha: 1, basis.pointer, fast.pointer, beta: 0, fastCoordinates.pointer)
        BLAS.gemv(k, dimension, alpha: 1, basis.pointer, slow.pointer, beta: 0, slowCoordinates.pointer)
    }
}
