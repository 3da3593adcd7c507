/* Counts malloc/calloc/realloc/posix_memalign calls of a process (LD_PRELOAD) and prints the total
 * to standard error at exit. Used by scripts/count-allocations. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <unistd.h>
static atomic_long calls;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static char bootstrap[65536]; static size_t used;
void *malloc(size_t n) { if (!real_malloc) { real_malloc = dlsym(RTLD_NEXT, "malloc"); } atomic_fetch_add(&calls, 1); return real_malloc(n); }
void *calloc(size_t a, size_t b) { if (!real_calloc) { void *p = bootstrap + used; used += a*b; return p; } atomic_fetch_add(&calls, 1); return real_calloc(a, b); }
void *realloc(void *p, size_t n) { if (!real_realloc) real_realloc = dlsym(RTLD_NEXT, "realloc"); atomic_fetch_add(&calls, 1); return real_realloc(p, n); }
int posix_memalign(void **p, size_t a, size_t n) { if (!real_posix_memalign) real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign"); atomic_fetch_add(&calls, 1); return real_posix_memalign(p, a, n); }
void free(void *p) { static void (*real_free)(void *); if ((char*)p >= bootstrap && (char*)p < bootstrap + sizeof bootstrap) return; if (!real_free) real_free = dlsym(RTLD_NEXT, "free"); real_free(p); }
__attribute__((constructor)) static void init(void) { real_calloc = dlsym(RTLD_NEXT, "calloc"); }
__attribute__((destructor)) static void fini(void) { char b[64]; int n = snprintf(b, sizeof b, "ALLOCATIONS %ld\n", (long)calls); write(2, b, n); }
