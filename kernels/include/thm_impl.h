/* Internal: the ops tables behind the public API (thimble_kernels.h).
 *
 * Every public kernel checks its arguments, then runs the entry of the
 * selected ISA's ops table (thm_isa.c), or its portable C when that table has
 * no entry. One table per ISA, written with designated initializers; which
 * tables exist is the only difference between an x86 host (chosen at run time
 * from CPUID) and a board (the ones the board's feature macros compile in).
 * An entry has its public function's arguments, already checked, and no
 * return code. Fast paths live in kernels/x86 and kernels/arm/<feature>. */
#ifndef THM_IMPL_H
#define THM_IMPL_H

#include "thm_fixedpoint.h"   /* thm_cq_store */
#include <stddef.h>
#include <stdint.h>
#include "thimble_kernels.h"

typedef void thm_matmul_s8_f(const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, int8_t *y,
                             int32_t M, int32_t K, int32_t N);
typedef thm_matmul_s8_f *thm_matmul_s8_fn;
typedef void thm_matmul_s32_f(const int8_t *x, const int8_t *w, const int32_t *bias,
                              int32_t *y, int32_t M, int32_t K, int32_t N);
typedef thm_matmul_s32_f *thm_matmul_s32_fn;
/* thm_matmul_s4: w4 [N, (K + 1) / 2], two int4 a byte (thimble_kernels.h). */
typedef void thm_matmul_s4_f(const int8_t *x, const uint8_t *w4, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, int8_t *y,
                             int32_t M, int32_t K, int32_t N);
typedef thm_matmul_s4_f *thm_matmul_s4_fn;
typedef void thm_matmul_s4_s32_f(const int8_t *x, const uint8_t *w4, const int32_t *bias,
                                 int32_t *y, int32_t M, int32_t K, int32_t N);
typedef thm_matmul_s4_s32_f *thm_matmul_s4_s32_fn;
/* thm_matmul_s8_packed for one layout (the table's slot says which). */
typedef void thm_matmul_packed_f(const int8_t *x, const void *wp, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, int8_t *y,
                                 int32_t M, int32_t K, int32_t N);
typedef thm_matmul_packed_f *thm_matmul_packed_fn;
typedef void thm_requantize_f(const int32_t *in, const int32_t *mult, const int32_t *shift,
                              int32_t *out, int32_t n);
typedef thm_requantize_f *thm_requantize_fn;
/* rows >= 1 unmasked rows, n >= 1 (any n: a row form limited to
 * THM_SOFTMAX_ROW_MAX_N hands longer rows to the portable one); e [n]. */
typedef void thm_softmax_rows_f(const int32_t *s, int16_t *p, int32_t rows, int32_t n,
                                int32_t mult, int32_t shift, int32_t diff_max, uint32_t *e);
typedef thm_softmax_rows_f *thm_softmax_rows_fn;
typedef void thm_rmsnorm_s8_f(const int8_t *x, const int32_t *gm, const int32_t *gs,
                              int64_t eps_q16, int8_t *y, int32_t rows, int32_t D);
typedef thm_rmsnorm_s8_f *thm_rmsnorm_s8_fn;
typedef void thm_rmsnorm_s16_f(const int16_t *x, const int32_t *gm, const int32_t *gs,
                               int64_t eps_q16, int8_t *y, int32_t rows, int32_t D);
typedef thm_rmsnorm_s16_f *thm_rmsnorm_s16_fn;
typedef void thm_rope_f(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14,
                        int8_t *y, int32_t T, int32_t n_heads, int32_t D, int32_t pos0);
typedef thm_rope_f *thm_rope_fn;
typedef void thm_residual_f(int16_t *r, const int8_t *y, int32_t n, int32_t mult,
                            int32_t shift);
typedef thm_residual_f *thm_residual_fn;
typedef void thm_pv_rows_f(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt,
                           int32_t D, int32_t mult, int32_t shift, int8_t *out,
                           size_t out_stride, void *scratch);
typedef thm_pv_rows_f *thm_pv_rows_fn;
typedef void thm_pv_combine_f(const int32_t *s0, const int32_t *s1, const int32_t *s2,
                              int32_t n, int32_t mult, int32_t shift, int8_t *out);
typedef thm_pv_combine_f *thm_pv_combine_fn;
/* thm_attention_s8's inner products: sum_k a[k] b[k] over K >= 0 (QK^T, one
 * score at a time), and acc[d] += sum_{j < n} p[j] v[j ldv + d], d < D (P.V
 * of one query row and head; p in Q15, |acc| <= 2^15 * 128 * n). */
typedef int32_t thm_dot_s8_f(const int8_t *a, const int8_t *b, int32_t K);
typedef thm_dot_s8_f *thm_dot_s8_fn;
typedef void thm_pv_s16s8_f(const int16_t *p, const int8_t *v, size_t ldv, int32_t n,
                            int32_t D, int32_t *acc);
typedef thm_pv_s16s8_f *thm_pv_s16s8_fn;

/* CQ (thm_matmul_cq.c): the rotation of the activations, and the product
 * with int8 (y8) or int32 (y32) out, the other pointer NULL. */
typedef void thm_cq_rotate_s8_f(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K);
typedef thm_cq_rotate_s8_f *thm_cq_rotate_s8_fn;
typedef void thm_matmul_cq_f(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                             const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                             const int32_t *rshift, int8_t *y8, int32_t *y32, int32_t M, int32_t Kp,
                             int32_t N);
typedef thm_matmul_cq_f *thm_matmul_cq_fn;
/* The end of every CQ product: output n's int64 sum requantized (mult, rshift)
 * and saturated to int8 (y8) or int32 (y32), stored at y[at]. */
static inline __attribute__((always_inline)) void thm_cq_store(int64_t acc, const int32_t *mult, const int32_t *rshift,
                                                               int32_t n, int8_t *y8, int32_t *y32, size_t at)
{
    const int64_t q = thm_requantize_s64(acc, mult[n], rshift[n]);
    if (y8) y8[at] = (int8_t)(q > 127 ? 127 : q < -128 ? -128 : q);
    else y32[at] = (int32_t)(q > INT32_MAX ? INT32_MAX : q < INT32_MIN ? INT32_MIN : q);
}

/* Needle 2's MLP transform, one row: out [n] = the unnormalised FWHT of x [n] (thm_fwht_s8.c). */
typedef void thm_fwht_s8_s32_f(const int8_t *x, int32_t n, int32_t *out);
typedef thm_fwht_s8_s32_f *thm_fwht_s8_s32_fn;

/* The rows and groups of a rotation around one ISA's group transform: group
 * g of row m, its n = min(128, K - 128 g) real inputs (the rest zero-padded
 * by `group`), into xr's group and sh's entry. */
typedef void thm_cq_group_fn(const int8_t *x, int32_t n, int8_t *out, uint8_t *sh);
static inline void thm_cq_rotate_rows(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K,
                                      thm_cq_group_fn *group)
{
    const int32_t G = (K + 127) / 128;
    for (int32_t m = 0; m < M; m++)
        for (int32_t g = 0; g < G; g++)
            group(x + (size_t)m * K + (size_t)g * 128, K - g * 128 < 128 ? K - g * 128 : 128,
                  xr + ((size_t)m * G + (size_t)g) * 128, sh + (size_t)m * G + (size_t)g);
}

#define THM_LAYOUT_SLOTS (THM_LAYOUT_S16_R4K16 + 1)   /* matmul_s8_packed[layout] */

typedef struct thm_ops {
    int32_t isa;                  /* THM_ISA_* */
    int (*available)(void);       /* NULL: whenever it is compiled in */
    thm_matmul_s8_fn matmul_s8;
    thm_matmul_s32_fn matmul_s8_s32;
    thm_matmul_packed_fn matmul_s8_packed[THM_LAYOUT_SLOTS];   /* the layouts this ISA owns */
    thm_matmul_s4_fn matmul_s4;
    thm_matmul_s4_s32_fn matmul_s4_s32;
    thm_matmul_s8_fn gemv_s8;     /* M = 1 only; NULL: this table's matmul_s8 */
    thm_matmul_s32_fn gemv_s8_s32;
    thm_requantize_fn requantize_s32;
    thm_softmax_rows_fn softmax_q15_rows;
    thm_rmsnorm_s8_fn rmsnorm_s8;
    thm_rmsnorm_s16_fn rmsnorm_s16;
    thm_rope_fn rope_s8;
    thm_residual_fn residual_gated_s16;
    thm_pv_rows_fn pv_rows_s8;
    thm_pv_combine_fn pv_combine_s8;
    thm_dot_s8_fn dot_s8;
    thm_pv_s16s8_fn pv_s16s8;
    thm_cq_rotate_s8_fn cq_rotate_s8;
    thm_matmul_cq_fn matmul_cq;
    thm_fwht_s8_s32_fn fwht_s8_s32;
} thm_ops;

/* The selected table (thm_isa.c); thm_isa_set switches it. */
extern const thm_ops *thm_ops_now;

/* The selected ISA's entry for op, else the portable one (thm_<op>_portable).
 * Callers that run an entry per row or per key take it once, outside the loop. */
#define THM_OP(op) (thm_ops_now->op ? thm_ops_now->op : thm_##op##_portable)

/* Portable C: the fallback of every entry (kernels/src). */
thm_matmul_s8_f thm_matmul_s8_portable;
thm_matmul_s32_f thm_matmul_s8_s32_portable;
thm_matmul_s4_f thm_matmul_s4_portable;
thm_matmul_s4_s32_f thm_matmul_s4_s32_portable;
thm_requantize_f thm_requantize_s32_portable;
thm_softmax_rows_f thm_softmax_q15_rows_portable;
thm_rmsnorm_s8_f thm_rmsnorm_s8_portable;
thm_rmsnorm_s16_f thm_rmsnorm_s16_portable;
thm_rope_f thm_rope_s8_portable;
thm_residual_f thm_residual_gated_s16_portable;
thm_pv_rows_f thm_pv_rows_s8_portable;
thm_pv_combine_f thm_pv_combine_s8_portable;
thm_dot_s8_f thm_dot_s8_portable;
thm_pv_s16s8_f thm_pv_s16s8_portable;
thm_cq_rotate_s8_f thm_cq_rotate_s8_portable;
thm_matmul_cq_f thm_matmul_cq_portable;
thm_fwht_s8_s32_f thm_fwht_s8_s32_portable;

/* The longest row a 32-bit exp sum holds (n * 2^15 < 2^31): the scalar and
 * vector rows' limit; longer rows take the 64-bit form. */
#define THM_SOFTMAX_ROW_MAX_N 65535

/* The two int4 matmul entries of a fast path over its core, as THM_MATMUL_ENTRIES. */
#define THM_MATMUL_S4_ENTRIES(sfx, core)                                                               \
    void thm_matmul_s4_##sfx(const int8_t *x, const uint8_t *w4, const int32_t *bias,                  \
                             const int32_t *mult, const int32_t *shift, int8_t *y,                     \
                             int32_t M, int32_t K, int32_t N)                                          \
    {                                                                                                  \
        core(x, w4, bias, mult, shift, y, 0, M, K, N);                                                 \
    }                                                                                                  \
    void thm_matmul_s4_s32_##sfx(const int8_t *x, const uint8_t *w4, const int32_t *bias, int32_t *y,  \
                                 int32_t M, int32_t K, int32_t N)                                      \
    {                                                                                                  \
        core(x, w4, bias, 0, 0, 0, y, M, K, N);                                                        \
    }

/* The two matmul entries of a fast path (int8 and int32 out) over its core,
 * core(x, w, bias, mult, shift, y8, y32, M, K, N), which writes y8 or y32. */
#define THM_MATMUL_ENTRIES(sfx, core)                                                                  \
    void thm_matmul_s8_##sfx(const int8_t *x, const int8_t *w, const int32_t *bias,                    \
                             const int32_t *mult, const int32_t *shift, int8_t *y,                     \
                             int32_t M, int32_t K, int32_t N)                                          \
    {                                                                                                  \
        core(x, w, bias, mult, shift, y, 0, M, K, N);                                                  \
    }                                                                                                  \
    void thm_matmul_s8_s32_##sfx(const int8_t *x, const int8_t *w, const int32_t *bias, int32_t *y,    \
                                 int32_t M, int32_t K, int32_t N)                                      \
    {                                                                                                  \
        core(x, w, bias, 0, 0, 0, y, M, K, N);                                                         \
    }

/* The ops-table entries of a board's row forms (kernels/arm/<feature>), for
 * the file that defines the row function thm_rmsnorm_row_<sfx> (x16 picks the
 * int16 input) or thm_softmax_row_q15_<sfx>: every row through it; softmax
 * rows longer than the 32-bit exp sum allows take the portable form. */
#define THM_RMSNORM_ROW_ENTRIES(sfx)                                                                  \
    void thm_rmsnorm_s8_##sfx(const int8_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16, \
                              int8_t *y, int32_t rows, int32_t D)                                     \
    {                                                                                                 \
        for (int32_t r = 0; r < rows; r++)                                                            \
            thm_rmsnorm_row_##sfx(x + (size_t)r * D, 0, gm, gs, eps_q16, y + (size_t)r * D, D);       \
    }                                                                                                 \
    void thm_rmsnorm_s16_##sfx(const int16_t *x, const int32_t *gm, const int32_t *gs,                \
                               int64_t eps_q16, int8_t *y, int32_t rows, int32_t D)                   \
    {                                                                                                 \
        for (int32_t r = 0; r < rows; r++)                                                            \
            thm_rmsnorm_row_##sfx(x + (size_t)r * D, 1, gm, gs, eps_q16, y + (size_t)r * D, D);       \
    }

#define THM_SOFTMAX_ROWS_ENTRY(sfx)                                                                   \
    void thm_softmax_q15_rows_##sfx(const int32_t *s, int16_t *p, int32_t rows, int32_t n,            \
                                    int32_t mult, int32_t shift, int32_t diff_max, uint32_t *e)       \
    {                                                                                                 \
        if (n > THM_SOFTMAX_ROW_MAX_N) {                                                              \
            thm_softmax_q15_rows_portable(s, p, rows, n, mult, shift, diff_max, e);                   \
            return;                                                                                   \
        }                                                                                             \
        for (int32_t r = 0; r < rows; r++)                                                            \
            thm_softmax_row_q15_##sfx(s + (size_t)r * n, p + (size_t)r * n, n, mult, shift, diff_max, e); \
    }


/* x86 host fast paths (kernels/x86, the Python extension only). */
#if defined(__x86_64__) && defined(THM_HOST_X86)
#define THM_HAVE_X86 1
int thm_x86_has_avx2(void);
int thm_x86_has_avx512vnni(void);
int thm_x86_has_avxvnni(void);
int thm_x86_has_amx(void);      /* asks the kernel for the tile permission once */
int thm_x86_amx_status(void);   /* THM_AMX_* */
#define THM_AMX_MIN_M 16        /* the AMX matmul's smallest M; fewer rows run AVX-512 VNNI */
thm_matmul_s8_f thm_matmul_s8_avx2, thm_matmul_s8_avx512vnni;
thm_matmul_s8_f thm_matmul_s8_avxvnni, thm_matmul_s8_amx;
thm_matmul_s32_f thm_matmul_s8_s32_avxvnni, thm_matmul_s8_s32_amx;
/* thm_matmul_s4_x86.c */
thm_matmul_s4_f thm_matmul_s4_avx2, thm_matmul_s4_avx512vnni;
thm_matmul_s4_s32_f thm_matmul_s4_s32_avx2, thm_matmul_s4_s32_avx512vnni;
thm_matmul_s32_f thm_matmul_s8_s32_avx2, thm_matmul_s8_s32_avx512vnni;
/* thm_gemv_avx512.c: the one-row forms (M = 1, a decode step) through the
 * AVX-512 streaming gemv for K <= THM_GEMV_MAX_K, the tiled VNNI matmul otherwise. */
thm_matmul_s8_f thm_gemv_s8_avx512;
thm_matmul_s32_f thm_gemv_s8_s32_avx512;
/* thm_rows_avx512.c */
thm_requantize_f thm_requantize_s32_avx512;
thm_softmax_rows_f thm_softmax_q15_rows_avx512;
thm_rmsnorm_s8_f thm_rmsnorm_s8_avx512;
thm_rmsnorm_s16_f thm_rmsnorm_s16_avx512;
thm_rope_f thm_rope_s8_avx512;
thm_residual_f thm_residual_gated_s16_avx512;
thm_pv_combine_f thm_pv_combine_s8_avx512;
/* thm_rows_avx2.c */
thm_requantize_f thm_requantize_s32_avx2;
thm_softmax_rows_f thm_softmax_q15_rows_avx2;
thm_rmsnorm_s8_f thm_rmsnorm_s8_avx2;
thm_rmsnorm_s16_f thm_rmsnorm_s16_avx2;
thm_rope_f thm_rope_s8_avx2;
thm_residual_f thm_residual_gated_s16_avx2;
thm_pv_combine_f thm_pv_combine_s8_avx2;
thm_dot_s8_f thm_dot_s8_avx2;
thm_pv_s16s8_f thm_pv_s16s8_avx2;
thm_pv_rows_f thm_pv_rows_s8_avx2;
thm_matmul_cq_f thm_matmul_cq_avx2;     /* thm_matmul_cq_avx2.c: every x86 table (they all have AVX2) */
#endif

/* ARM board fast paths (kernels/arm/<feature>/), compiled in by feature macro;
 * each file is an empty translation unit without its feature. */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)
#define THM_HAVE_ARM_DSP 1
thm_matmul_s8_f thm_matmul_s8_dsp;
thm_matmul_s32_f thm_matmul_s8_s32_dsp;
thm_matmul_packed_f thm_matmul_s8_packed_dsp;   /* THM_LAYOUT_S16_R4K16 */
thm_matmul_s4_f thm_matmul_s4_dsp;
thm_matmul_s4_s32_f thm_matmul_s4_s32_dsp;
thm_dot_s8_f thm_dot_s8_dsp;
thm_matmul_cq_f thm_matmul_cq_dsp;
thm_softmax_rows_f thm_softmax_q15_rows_dsp;
thm_rmsnorm_s8_f thm_rmsnorm_s8_dsp;
thm_rmsnorm_s16_f thm_rmsnorm_s16_dsp;
#endif
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)
#define THM_HAVE_ARM_MVE 1
thm_matmul_s8_f thm_matmul_s8_mve;
thm_matmul_s32_f thm_matmul_s8_s32_mve;
thm_matmul_packed_f thm_matmul_s8_packed_mve;   /* THM_LAYOUT_S8_R8K64 */
thm_matmul_s4_f thm_matmul_s4_mve;
thm_matmul_s4_s32_f thm_matmul_s4_s32_mve;
thm_dot_s8_f thm_dot_s8_mve;
thm_softmax_rows_f thm_softmax_q15_rows_mve;
thm_rmsnorm_s8_f thm_rmsnorm_s8_mve;
thm_rmsnorm_s16_f thm_rmsnorm_s16_mve;
thm_pv_rows_f thm_pv_rows_s8_mve;
thm_pv_s16s8_f thm_pv_s16s8_mve;
thm_requantize_f thm_requantize_s32_mve;
thm_rope_f thm_rope_s8_mve;
thm_residual_f thm_residual_gated_s16_mve;
thm_matmul_cq_f thm_matmul_cq_mve;
thm_cq_rotate_s8_f thm_cq_rotate_s8_mve;
thm_fwht_s8_s32_f thm_fwht_s8_s32_mve;
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#define THM_HAVE_ARM_NEON_DOT 1
thm_matmul_s8_f thm_matmul_s8_neon;
thm_matmul_s32_f thm_matmul_s8_s32_neon;
thm_matmul_packed_f thm_matmul_s8_packed_neon;   /* THM_LAYOUT_S8_R8K64 */
thm_matmul_s4_f thm_matmul_s4_neon;
thm_matmul_s4_s32_f thm_matmul_s4_s32_neon;
thm_dot_s8_f thm_dot_s8_neon;
thm_pv_rows_f thm_pv_rows_s8_neon;
thm_pv_s16s8_f thm_pv_s16s8_neon;
thm_requantize_f thm_requantize_s32_neon;
thm_softmax_rows_f thm_softmax_q15_rows_neon;
thm_rmsnorm_s8_f thm_rmsnorm_s8_neon;
thm_rmsnorm_s16_f thm_rmsnorm_s16_neon;
thm_matmul_cq_f thm_matmul_cq_neon;
thm_cq_rotate_s8_f thm_cq_rotate_s8_neon;
thm_fwht_s8_s32_f thm_fwht_s8_s32_neon;
#endif

/* Shared argument checks. */
static inline int thm_shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }
/* thm_shift_ok for shift[0 .. N - 1], without a branch per column
 * (thm_matmul_s8_packed.c): the matmul entries' check. */
int thm_shifts_ok(const int32_t *shift, int32_t N);

#endif /* THM_IMPL_H */
