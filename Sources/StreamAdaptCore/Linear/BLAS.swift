import CBLAS

/// Thin, typed wrappers over the OpenBLAS routines StreamAdapt uses. All matrices are row-major;
/// symmetric matrices store (and are read from) their upper triangle only.
public enum BLAS {
    /// y <- alpha * A x + beta * y, A is m x n.
    @inlinable public static func gemv(
        _ m: Int, _ n: Int, alpha: Double, _ a: UnsafePointer<Double>, _ x: UnsafePointer<Double>,
        beta: Double, _ y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(n), x, 1, beta, y, 1)
    }

    /// y <- alpha * A' x + beta * y, A is m x n (so x has m entries and y has n).
    @inlinable public static func gemvTransposed(
        _ m: Int, _ n: Int, alpha: Double, _ a: UnsafePointer<Double>, _ x: UnsafePointer<Double>,
        beta: Double, _ y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(n), alpha, a, Int32(n), x, 1, beta, y, 1)
    }

    /// y <- alpha * S x + beta * y, S symmetric n x n read from its upper triangle.
    @inlinable public static func symv(
        _ n: Int, alpha: Double, _ s: UnsafePointer<Double>, _ x: UnsafePointer<Double>,
        beta: Double, _ y: UnsafeMutablePointer<Double>
    ) {
        cblas_dsymv(CblasRowMajor, CblasUpper, Int32(n), alpha, s, Int32(n), x, 1, beta, y, 1)
    }

    /// S <- S + alpha * x x' on the upper triangle of the symmetric n x n matrix S.
    @inlinable public static func syr(
        _ n: Int, alpha: Double, _ x: UnsafePointer<Double>, _ s: UnsafeMutablePointer<Double>
    ) {
        cblas_dsyr(CblasRowMajor, CblasUpper, Int32(n), alpha, x, 1, s, Int32(n))
    }

    /// y <- alpha * S x + beta * y, S symmetric n x n in packed upper storage (n (n + 1) / 2 entries).
    @inlinable public static func spmv(
        _ n: Int, alpha: Double, _ s: UnsafePointer<Double>, _ x: UnsafePointer<Double>,
        beta: Double, _ y: UnsafeMutablePointer<Double>
    ) {
        cblas_dspmv(CblasRowMajor, CblasUpper, Int32(n), alpha, s, x, 1, beta, y, 1)
    }

    /// S <- S + alpha * x x', S symmetric n x n in packed upper storage.
    @inlinable public static func spr(
        _ n: Int, alpha: Double, _ x: UnsafePointer<Double>, _ s: UnsafeMutablePointer<Double>
    ) {
        cblas_dspr(CblasRowMajor, CblasUpper, Int32(n), alpha, x, 1, s)
    }

    /// Index of entry (i, j), i <= j, of a symmetric n x n matrix in packed upper row-major storage.
    @inlinable public static func packedIndex(_ n: Int, _ i: Int, _ j: Int) -> Int {
        i * n - i * (i - 1) / 2 + (j - i)
    }

    /// A <- A + alpha * x y', A is m x n.
    @inlinable public static func ger(
        _ m: Int, _ n: Int, alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>,
        _ a: UnsafeMutablePointer<Double>
    ) {
        cblas_dger(CblasRowMajor, Int32(m), Int32(n), alpha, x, 1, y, 1, a, Int32(n))
    }

    /// S <- alpha * A' A + beta * S on the upper triangle of the symmetric n x n matrix S, A is k x n.
    @inlinable public static func syrkTransposed(
        _ n: Int, _ k: Int, alpha: Double, _ a: UnsafePointer<Double>, beta: Double, _ s: UnsafeMutablePointer<Double>
    ) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(n), beta, s, Int32(n))
    }

    /// C <- alpha * A B' + beta * C with A m x k, B n x k, C m x n.
    @inlinable public static func gemmTransposedB(
        _ m: Int, _ n: Int, _ k: Int, alpha: Double, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>,
        beta: Double, _ c: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(k), b, Int32(k),
            beta, c, Int32(n))
    }

    @inlinable public static func dot(_ n: Int, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        cblas_ddot(Int32(n), x, 1, y, 1)
    }

    /// y <- alpha * x + y.
    @inlinable public static func axpy(
        _ n: Int, alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>
    ) {
        cblas_daxpy(Int32(n), alpha, x, 1, y, 1)
    }

    /// x <- alpha * x.
    @inlinable public static func scal(_ n: Int, alpha: Double, _ x: UnsafeMutablePointer<Double>) {
        cblas_dscal(Int32(n), alpha, x, 1)
    }

    /// y <- A x for the m x n Float32 matrix A (row-major).
    @inlinable public static func gemvFloat(
        _ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(n), x, 1, 0, y, 1)
    }

    /// Cholesky factorisation S = U' U of the symmetric positive definite n x n Float32 matrix whose
    /// upper triangle `s` holds (row-major); U overwrites that triangle. False when S is not
    /// positive definite (then `s` is undefined).
    public static func choleskyUpper(_ n: Int, _ s: UnsafeMutablePointer<Float>) -> Bool {
        // LAPACK is column-major: the row-major upper triangle is the column-major lower one, and the
        // column-major L with S = L L' is, read row-major, U = L' with S = U' U.
        var uplo: CChar = 76  // "L"
        var size = Int32(n)
        var lda = Int32(n)
        var info: Int32 = 0
        spotrf_(&uplo, &size, s, &lda, &info)
        return info == 0
    }

    /// Solves S X = B for the symmetric positive definite n x n Float64 matrix S whose upper triangle `s`
    /// holds (row-major) and the m right-hand sides that are the rows of `b` (m x n, row-major); X
    /// overwrites `b`, and `s` becomes the inverse of S (its upper triangle). False when S is not
    /// positive definite (then both are undefined). O(n^3): for set-up work (a fold), not per event.
    public static func choleskySolveAndInvert(
        _ n: Int, _ s: UnsafeMutablePointer<Double>, rightHandSides m: Int, _ b: UnsafeMutablePointer<Double>
    ) -> Bool {
        // Column-major LAPACK: the row-major upper triangle is the column-major lower one ("L"), and the
        // m x n row-major B is the n x m column-major one with its columns as right-hand sides.
        var uplo: CChar = 76  // "L"
        var size = Int32(n)
        var lda = Int32(n)
        var count = Int32(m)
        var info: Int32 = 0
        dpotrf_(&uplo, &size, s, &lda, &info)
        guard info == 0 else { return false }
        if m > 0 {
            dpotrs_(&uplo, &size, &count, s, &lda, b, &lda, &info)
            guard info == 0 else { return false }
        }
        dpotri_(&uplo, &size, s, &lda, &info)
        return info == 0
    }

    /// Eigendecomposition of the symmetric n x n matrix `a` (row-major, both triangles set): on return
    /// `values` holds the eigenvalues in ascending order and row j of `a` the unit eigenvector of
    /// `values[j]`. False when LAPACK `dsyev` does not converge. Allocates its workspace: for set-up
    /// work (the class subspace of ``MeanShiftDetector``), not for the per-event path.
    public static func symmetricEigen(_ n: Int, _ a: UnsafeMutablePointer<Double>, values: UnsafeMutablePointer<Double>) -> Bool {
        // Column-major LAPACK on a symmetric matrix: the input needs no transpose; the eigenvectors come
        // back as columns of a column-major matrix, that is, as rows of the row-major one.
        var jobz: CChar = 86  // "V"
        var uplo: CChar = 85  // "U"
        var size = Int32(n)
        var lda = Int32(max(1, n))
        var info: Int32 = 0
        var query = 0.0
        var lwork: Int32 = -1
        dsyev_(&jobz, &uplo, &size, a, &lda, values, &query, &lwork, &info)
        guard info == 0 else { return false }
        lwork = Int32(max(1, Int(query)))
        let work = UnsafeMutablePointer<Double>.allocate(capacity: Int(lwork))
        defer { work.deallocate() }
        dsyev_(&jobz, &uplo, &size, a, &lda, values, work, &lwork, &info)
        return info == 0
    }

    /// x <- U'^-1 x for the upper triangular n x n Float32 matrix U (row-major): solves U' y = x.
    @inlinable public static func solveTransposedUpper(_ n: Int, _ u: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        cblas_strsv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, Int32(n), u, Int32(n), x, 1)
    }

    /// B <- B U^-1 for the upper triangular n x n Float32 matrix U and the m x n matrix B (row-major):
    /// row i of the result is (U'^-1 b_i)'.
    @inlinable public static func solveRightUpper(
        _ m: Int, _ n: Int, _ u: UnsafePointer<Float>, _ b: UnsafeMutablePointer<Float>
    ) {
        cblas_strsm(
            CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(m), Int32(n), 1, u, Int32(n), b,
            Int32(n))
    }

    /// Sets the number of OpenBLAS threads for the whole process. This is process-global state that
    /// belongs to the host: the command-line tool sets 1 once at start (per-sample level-2 work is
    /// fastest on one, and idle OpenBLAS workers spin in `sched_yield`, taking a core from the loop and
    /// librdkafka: docs/performance.md). Nothing in this library calls it.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}

// MARK: - Level 3 for blocked processing

extension BLAS {
    /// C <- alpha * op(A) op(B) + beta * C, row-major, C m x n, op(A) m x k, op(B) k x n, with leading
    /// dimensions (row strides) `lda`, `ldb`, `ldc`.
    @inlinable public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false, _ m: Int, _ n: Int, _ k: Int, alpha: Double,
        _ a: UnsafePointer<Double>, lda: Int, _ b: UnsafePointer<Double>, ldb: Int, beta: Double,
        _ c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m),
            Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C <- alpha * B S + beta * C for the symmetric n x n matrix S (read from its upper triangle) and
    /// the m x n matrices B, C (row-major): row i of C is alpha * S b_i + beta * c_i.
    @inlinable public static func symmRight(
        _ m: Int, _ n: Int, alpha: Double, _ s: UnsafePointer<Double>, _ b: UnsafePointer<Double>, beta: Double,
        _ c: UnsafeMutablePointer<Double>
    ) {
        cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, Int32(m), Int32(n), alpha, s, Int32(n), b, Int32(n), beta, c, Int32(n))
    }

    /// C <- A B' for the m x k Float32 matrix A and the n x k Float32 matrix B (row-major), C m x n.
    @inlinable public static func gemmFloatTransposedB(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, c, Int32(n))
    }
}

// MARK: - Float32 symmetric storage (the Kalman head's `precision: float32`)

extension BLAS {
    /// y <- S x for the symmetric n x n Float32 matrix S read from its upper triangle.
    @inlinable public static func symvFloat(
        _ n: Int, _ s: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        cblas_ssymv(CblasRowMajor, CblasUpper, Int32(n), 1, s, Int32(n), x, 1, 0, y, 1)
    }

    /// S <- S + alpha x x' on the upper triangle of the symmetric n x n Float32 matrix S.
    @inlinable public static func syrFloat(_ n: Int, alpha: Float, _ x: UnsafePointer<Float>, _ s: UnsafeMutablePointer<Float>) {
        cblas_ssyr(CblasRowMajor, CblasUpper, Int32(n), alpha, x, 1, s, Int32(n))
    }

    /// C <- B S for the symmetric n x n Float32 matrix S (upper triangle) and the m x n matrices B, C.
    @inlinable public static func symmRightFloat(
        _ m: Int, _ n: Int, _ s: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>
    ) {
        cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, Int32(m), Int32(n), 1, s, Int32(n), b, Int32(n), 0, c, Int32(n))
    }

    /// S <- S + alpha A' A on the upper triangle of the symmetric n x n Float32 matrix S, A is k x n.
    @inlinable public static func syrkTransposedFloat(
        _ n: Int, _ k: Int, alpha: Float, _ a: UnsafePointer<Float>, _ s: UnsafeMutablePointer<Float>
    ) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(n), 1, s, Int32(n))
    }

    /// x <- alpha x (Float32).
    @inlinable public static func scalFloat(_ n: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
        cblas_sscal(Int32(n), alpha, x, 1)
    }
}
