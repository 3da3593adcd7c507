#ifndef STREAMADAPT_CBLAS_SHIM_H
#define STREAMADAPT_CBLAS_SHIM_H
// OpenBLAS: CBLAS for level-1/2/3 work, plus the LAPACK Cholesky factorisation the drift
// scorer uses (Debian's libopenblas exports the Fortran LAPACK symbols).
#include <cblas.h>

void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
#endif
