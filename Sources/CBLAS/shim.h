#ifndef STREAMADAPT_CBLAS_SHIM_H
#define STREAMADAPT_CBLAS_SHIM_H
// OpenBLAS: CBLAS for level-1/2/3 work, plus the LAPACK Cholesky factorisations the drift
// scorer (spotrf) and the Kalman evidence fold (dpotrf, dpotrs, dpotri) use and the symmetric eigensolver of the mean-shift test's class subspace (Debian's libopenblas exports the Fortran LAPACK symbols).
#include <cblas.h>

void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);
#endif
