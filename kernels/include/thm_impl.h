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
/* thm_softmax_q15 of one unmasked row of n scores into p, e [n] scratch, for
 * 1 <= n <= THM_SOFTMAX_ROW_MAX_N, mult >= 0 and thm_softmax_range_ok(shift, diff_max) (the
 * caller checks): the model's fast attention (runtime/device/model). */
#define THM_SOFTMAX_ROW_MAX_N 65535   /* n * 2^15 fits the row's 32-bit exp sum */
typedef void (*thm_softmax_row_fn)(const int32_t *s, int16_t *p, int32_t n, int32_t mult,
                                   int32_t shift, int32_t diff_max, uint32_t *e);
/* One RMSNorm row (thm_rmsnorm_s16 when x16, else _s8) of D elements into y,
 * arguments as the kernel checks them. */
typedef void (*thm_rmsnorm_row_fn)(const void *x, int x16, const int32_t *gm, const int32_t *gs,
                                   int64_t eps_q16, int8_t *y, int32_t D);

/* The fast attention's P.V (runtime/device/model/thm_model_attention.c):
 * out [r * out_stride + d] = sat8(requantize(sum_{j < Tk} p[r Tk + j] vt[d Tk + j],
 * mult, shift)) for r < bq, d < D, with p [bq, Tk] Q15 (0..32767),
 * vt [D, Tk] one head's V transposed, 1 <= D <= THM_MAX_HEAD_DIM. */
typedef void (*thm_pv_rows_fn)(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D,
                               int32_t mult, int32_t shift, int8_t *out, size_t out_stride);

/* Portable C: always present, the fallback of every fast path. */
void thm_matmul_s8_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, int8_t *y,
                            int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                                int32_t *y, int32_t M, int32_t K, int32_t N);
int32_t thm_dot_s8_portable(const int8_t *a, const int8_t *b, int32_t K);
void thm_pv_s16s8_portable(const int16_t *p, const int8_t *v, size_t ldv, int32_t n,
                           int32_t D, int32_t *acc);
void thm_pv_rows_portable(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D,
                          int32_t mult, int32_t shift, int8_t *out, size_t out_stride);

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
void thm_softmax_row_q15_dsp(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                             int32_t diff_max, uint32_t *e);
void thm_rmsnorm_row_dsp(const void *x, int x16, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                         int8_t *y, int32_t D);
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
void thm_softmax_row_q15_mve(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                             int32_t diff_max, uint32_t *e);
void thm_rmsnorm_row_mve(const void *x, int x16, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                         int8_t *y, int32_t D);
void thm_pv_rows_mve(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D, int32_t mult,
                     int32_t shift, int8_t *out, size_t out_stride);
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
void thm_softmax_row_q15_neon(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                              int32_t diff_max, uint32_t *e);
void thm_rmsnorm_row_neon(const void *x, int x16, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                          int8_t *y, int32_t D);
#endif

/* The selected implementation (thm_isa.c). */
extern thm_matmul_s8_fn thm_impl_matmul_s8;
extern thm_matmul_s32_fn thm_impl_matmul_s8_s32;
extern thm_dot_s8_fn thm_impl_dot_s8;
extern thm_pv_s16s8_fn thm_impl_pv_s16s8;
extern thm_softmax_row_fn thm_impl_softmax_row;   /* NULL: no fast path */
extern thm_rmsnorm_row_fn thm_impl_rmsnorm_row;   /* NULL: no fast path */
extern thm_pv_rows_fn thm_impl_pv_rows;           /* NULL: the model splits p into int8 digits */

/* Shared argument checks. */
static inline int thm_shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }

#endif /* THM_IMPL_H */
