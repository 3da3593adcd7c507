#ifndef STREAMADAPT_CBLAS_SHIM_H
#define STREAMADAPT_CBLAS_SHIM_H
// OpenBLAS: CBLAS for level-1/2/3 work, plus the LAPACK Cholesky factorisation the drift
// scorer uses and the symmetric eigensolver of the mean-shift test's class subspace (Debian's libopenblas exports the Fortran LAPACK symbols).
#include <cblas.h>

void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);
#endif
