/* ZCRMSNorm to int8, integer only: exact sum of squares, exact integer square
 * root, one 64-bit reciprocal per row, per-channel requantization of x / rms.
 *
 * The portable rows are the cheapest scalar form on 32-bit cores (the norms
 * were a fifth of the boards' prefill, docs/runtime.md): when the row's
 * reciprocal inv fits 31 bits (the usual case: rms >= 0.5) x * inv is one
 * 32 x 32 multiply and (x inv + 2^14) >> 15 stays inside int32 for
 * |x| <= 2^15, so the clamp cannot act. Rows whose inv is larger take the
 * full per-element form (thm_rms_apply). */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

#define THM_RMS_ROWS(T, SS_T)                                                                        \
    for (int32_t r = 0; r < rows; r++) {                                                             \
        const T *xr = x + (size_t)r * D;                                                             \
        int8_t *yr = y + (size_t)r * D;                                                              \
        SS_T ss = 0;                                                                                 \
        for (int32_t i = 0; i < D; i++) ss += (int32_t)xr[i] * (int32_t)xr[i];                       \
        const int64_t inv = thm_rms_inv(ss, D, eps_q16);                                             \
        if (inv > INT32_MAX) {                                                                       \
            for (int32_t i = 0; i < D; i++) yr[i] = thm_rms_apply(xr[i], inv, gm[i], gs[i]);         \
            continue;                                                                                \
        }                                                                                            \
        const int32_t inv32 = (int32_t)inv;                                                          \
        for (int32_t i = 0; i < D; i++) {                                                            \
            const int32_t n = (int32_t)(((int64_t)xr[i] * inv32 + (1 << 14)) >> 15);                 \
            yr[i] = thm_sat8(thm_requantize(n, gm[i], gs[i]));                                       \
        }                                                                                            \
    }

void thm_rmsnorm_s16_portable(const int16_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                              int8_t *y, int32_t rows, int32_t D)
{
    THM_RMS_ROWS(int16_t, int64_t)
}

void thm_rmsnorm_s8_portable(const int8_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                             int8_t *y, int32_t rows, int32_t D)
{
    THM_RMS_ROWS(int8_t, int32_t)   /* int8 rows: D * 2^14 < 2^31 */
}

static int thm_rmsnorm_args_ok(const void *x, const int32_t *gm, const int32_t *gs,
                               int64_t eps_q16, const int8_t *y, int32_t rows, int32_t D)
{
    if (rows < 0 || D < 1 || D > THM_MAX_NORM_DIM) return 0;
    if (eps_q16 < 0 || eps_q16 > ((int64_t)1 << 40)) return 0;
    if (!gm || !gs || (rows > 0 && (!x || !y))) return 0;
    for (int32_t i = 0; i < D; i++) {
        if (!thm_shift_ok(gs[i])) return 0;
    }
    return 1;
}

int thm_rmsnorm_s16(const int16_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                    int64_t eps_q16, int8_t *y, int32_t rows, int32_t D)
{
    if (!thm_rmsnorm_args_ok(x, gain_mult, gain_shift, eps_q16, y, rows, D)) return THM_E_ARG;
    if (rows > 0) THM_OP(rmsnorm_s16)(x, gain_mult, gain_shift, eps_q16, y, rows, D);
    return THM_OK;
}

int thm_rmsnorm_s8(const int8_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                   int64_t eps_q16, int8_t *y, int32_t rows, int32_t D)
{
    if (!thm_rmsnorm_args_ok(x, gain_mult, gain_shift, eps_q16, y, rows, D)) return THM_E_ARG;
    if (rows > 0) THM_OP(rmsnorm_s8)(x, gain_mult, gain_shift, eps_q16, y, rows, D);
    return THM_OK;
}
