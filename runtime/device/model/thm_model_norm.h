/* thm_rmsnorm_s8 / _s16 rows as the model calls them, bit-exact with the
 * kernels (kernels/src/thm_rmsnorm.c) and cheaper per element on 32-bit cores.
 *
 * Why: the norms were a fifth of the boards' prefill (docs/runtime.md). Two
 * identities keep it exact: (1) requantize's nudge-and-truncate, (ab + nudge)
 * / 2^31 toward zero with nudge = 2^30 or 1 - 2^30 by the sign of ab, equals
 * the floor (ab + 2^30) >> 31 for either sign, so no select and no signed
 * division; (2) when the row's reciprocal inv fits 31 bits (the usual case:
 * rms >= 0.5) x * inv is one 32 x 32 multiply and (x inv + 2^14) >> 15 stays
 * inside int32 for |x| <= 2^15, so the clamp cannot act. Rows whose inv is
 * larger take the kernel's own per-element form. */
#ifndef THM_MODEL_NORM_H
#define THM_MODEL_NORM_H

#include <stdint.h>
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

/* thm_requantize, same result for every input. */
static inline int32_t thm_mn_requantize(int32_t acc, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)acc << left);
    const int32_t high = x == INT32_MIN && mult == INT32_MIN
                             ? INT32_MAX : (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    return (high >> right) + ((high & mask) > (mask >> 1) + (high < 0));
}

#define THM_MN_ROW(T, x, gm, gs, eps, y, rows, D, SS_T)                                                 \
    do {                                                                                                \
        for (int32_t r = 0; r < (rows); r++) {                                                          \
            const T *xr = (x) + (size_t)r * (D);                                                        \
            int8_t *yr = (y) + (size_t)r * (D);                                                         \
            SS_T ss = 0;                                                                                \
            for (int32_t i = 0; i < (D); i++) ss += (int32_t)xr[i] * (int32_t)xr[i];                    \
            const int64_t inv = thm_rms_inv(ss, (D), (eps));                                            \
            if (inv > INT32_MAX) {                                                                      \
                for (int32_t i = 0; i < (D); i++) yr[i] = thm_rms_apply(xr[i], inv, (gm)[i], (gs)[i]);  \
                continue;                                                                               \
            }                                                                                           \
            const int32_t inv32 = (int32_t)inv;                                                         \
            for (int32_t i = 0; i < (D); i++) {                                                         \
                const int32_t n = (int32_t)(((int64_t)xr[i] * inv32 + (1 << 14)) >> 15);               \
                yr[i] = thm_sat8(thm_mn_requantize(n, (gm)[i], (gs)[i]));                               \
            }                                                                                           \
        }                                                                                               \
    } while (0)

/* Argument checks are the kernel's: anything it would refuse goes to it, and so
 * does every row where the kernel has a board's vector form (thm_impl.h). */
static inline int thm_mn_args_ok(const void *x, const int32_t *gs, int64_t eps, const int8_t *y, int32_t rows,
                                 int32_t D)
{
    if (!x || !y || !gs || rows < 1 || D < 1 || D > THM_MAX_NORM_DIM || eps < 0 || eps > ((int64_t)1 << 40))
        return 0;
    for (int32_t i = 0; i < D; i++)
        if (gs[i] < -31 || gs[i] > 30) return 0;
    return 1;
}

static inline int thm_mn_rmsnorm_s8(const int8_t *x, const int32_t *gm, const int32_t *gs, int64_t eps, int8_t *y,
                                    int32_t rows, int32_t D)
{
    if (thm_impl_rmsnorm_row || !gm || !thm_mn_args_ok(x, gs, eps, y, rows, D)) return thm_rmsnorm_s8(x, gm, gs, eps, y, rows, D);
    THM_MN_ROW(int8_t, x, gm, gs, eps, y, rows, D, int32_t);
    return THM_OK;
}

static inline int thm_mn_rmsnorm_s16(const int16_t *x, const int32_t *gm, const int32_t *gs, int64_t eps, int8_t *y,
                                     int32_t rows, int32_t D)
{
    if (thm_impl_rmsnorm_row || !gm || !thm_mn_args_ok(x, gs, eps, y, rows, D)) return thm_rmsnorm_s16(x, gm, gs, eps, y, rows, D);
    THM_MN_ROW(int16_t, x, gm, gs, eps, y, rows, D, int64_t);
    return THM_OK;
}

#endif /* THM_MODEL_NORM_H */
