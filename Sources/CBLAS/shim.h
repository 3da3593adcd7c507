#ifndef STREAMADAPT_CBLAS_SHIM_H
#define STREAMADAPT_CBLAS_SHIM_H
// OpenBLAS: CBLAS for level-1/2/3 work, plus the two LAPACK routines the drift
// scorer uses (Debian's libopenblas exports the Fortran LAPACK symbols).
#include <cblas.h>

void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
#endif
