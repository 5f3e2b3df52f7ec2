/* Internal: the per-instruction-set implementations behind the public API.
 * thm_isa.c picks one (at run time on x86 hosts, at build time on boards);
 * arguments have already been checked by the public function. */
#ifndef THM_IMPL_H
#define THM_IMPL_H

#include <stddef.h>
#include <stdint.h>

typedef void (*thm_matmul_s32_fn)(const int8_t *x, const int8_t *w, const int32_t *bias,
                                  int32_t *y, int32_t M, int32_t K, int32_t N);
typedef void (*thm_matmul_s8_fn)(const int8_t *x, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, int8_t *y,
                                 int32_t M, int32_t K, int32_t N);

/* sum_k a[k] * b[k] over k < K (K >= 0): attention's QK^T, one score at a time. */
typedef int32_t (*thm_dot_s8_fn)(const int8_t *a, const int8_t *b, int32_t K);
/* acc[d] += sum_{j < n} p[j] * v[j * ldv + d] for d < D: attention's P.V, one
 * query row and head at a time (p in Q15, so |acc| <= 2^15 * 128 * n). */
typedef void (*thm_pv_s16s8_fn)(const int16_t *p, const int8_t *v, size_t ldv,
                                int32_t n, int32_t D, int32_t *acc);

/* Portable C: always present, the fallback of every fast path. */
void thm_matmul_s8_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, int8_t *y,
                            int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                                int32_t *y, int32_t M, int32_t K, int32_t N);
int32_t thm_dot_s8_portable(const int8_t *a, const int8_t *b, int32_t K);
void thm_pv_s16s8_portable(const int16_t *p, const int8_t *v, size_t ldv, int32_t n,
                           int32_t D, int32_t *acc);

/* ARM board fast paths (kernels/arm/<feature>/), compiled in by feature macro;
 * each file is an empty translation unit without its feature. */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)
#define THM_HAVE_ARM_DSP 1
void thm_matmul_s8_dsp(const int8_t *x, const int8_t *w, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, int8_t *y,
                       int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_dsp(const int8_t *x, const int8_t *w, const int32_t *bias,
                           int32_t *y, int32_t M, int32_t K, int32_t N);
int32_t thm_dot_s8_dsp(const int8_t *a, const int8_t *b, int32_t K);
void thm_matmul_s8_packed_dsp(const int8_t *x, const void *wp, const int32_t *bias,
                              const int32_t *mult, const int32_t *shift, int8_t *y,
                              int32_t M, int32_t K, int32_t N);   /* THM_LAYOUT_S16_R4K16 */
#endif
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)
#define THM_HAVE_ARM_MVE 1
void thm_matmul_s8_mve(const int8_t *x, const int8_t *w, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, int8_t *y,
                       int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_mve(const int8_t *x, const int8_t *w, const int32_t *bias,
                           int32_t *y, int32_t M, int32_t K, int32_t N);
int32_t thm_dot_s8_mve(const int8_t *a, const int8_t *b, int32_t K);
void thm_matmul_s8_packed_mve(const int8_t *x, const void *wp, const int32_t *bias,
                              const int32_t *mult, const int32_t *shift, int8_t *y,
                              int32_t M, int32_t K, int32_t N);   /* THM_LAYOUT_S8_R8K64 */
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#define THM_HAVE_ARM_NEON_DOT 1
void thm_matmul_s8_neon(const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, int8_t *y,
                        int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_neon(const int8_t *x, const int8_t *w, const int32_t *bias,
                            int32_t *y, int32_t M, int32_t K, int32_t N);
int32_t thm_dot_s8_neon(const int8_t *a, const int8_t *b, int32_t K);
void thm_matmul_s8_packed_neon(const int8_t *x, const void *wp, const int32_t *bias,
                               const int32_t *mult, const int32_t *shift, int8_t *y,
                               int32_t M, int32_t K, int32_t N);  /* THM_LAYOUT_S8_R8K64 */
#endif

/* The selected implementation (thm_isa.c). */
extern thm_matmul_s8_fn thm_impl_matmul_s8;
extern thm_matmul_s32_fn thm_impl_matmul_s8_s32;
extern thm_dot_s8_fn thm_impl_dot_s8;
extern thm_pv_s16s8_fn thm_impl_pv_s16s8;

/* Shared argument checks. */
static inline int thm_shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }

#endif /* THM_IMPL_H */
