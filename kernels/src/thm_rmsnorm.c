/* ZCRMSNorm to int8, integer only: exact sum of squares, exact integer square
 * root, one 64-bit reciprocal per row, per-channel requantization of x / rms. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

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
    if (thm_impl_rmsnorm_row) {   /* a board's vector row (thm_impl.h) */
        for (int32_t r = 0; r < rows; r++)
            thm_impl_rmsnorm_row(x + (size_t)r * D, 1, gain_mult, gain_shift, eps_q16, y + (size_t)r * D, D);
        return THM_OK;
    }
    for (int32_t r = 0; r < rows; r++) {
        const int16_t *xr = x + (size_t)r * D;
        int64_t ss = 0;
        for (int32_t i = 0; i < D; i++) ss += (int32_t)xr[i] * (int32_t)xr[i];
        const int64_t inv = thm_rms_inv(ss, D, eps_q16);
        for (int32_t i = 0; i < D; i++)
            y[(size_t)r * D + i] = thm_rms_apply(xr[i], inv, gain_mult[i], gain_shift[i]);
    }
    return THM_OK;
}

int thm_rmsnorm_s8(const int8_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                   int64_t eps_q16, int8_t *y, int32_t rows, int32_t D)
{
    if (!thm_rmsnorm_args_ok(x, gain_mult, gain_shift, eps_q16, y, rows, D)) return THM_E_ARG;
    if (thm_impl_rmsnorm_row) {
        for (int32_t r = 0; r < rows; r++)
            thm_impl_rmsnorm_row(x + (size_t)r * D, 0, gain_mult, gain_shift, eps_q16, y + (size_t)r * D, D);
        return THM_OK;
    }
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *xr = x + (size_t)r * D;
        int32_t ss = 0;   /* D * 2^14 < 2^31 */
        for (int32_t i = 0; i < D; i++) ss += (int32_t)xr[i] * (int32_t)xr[i];
        const int64_t inv = thm_rms_inv(ss, D, eps_q16);
        for (int32_t i = 0; i < D; i++)
            y[(size_t)r * D + i] = thm_rms_apply(xr[i], inv, gain_mult[i], gain_shift[i]);
    }
    return THM_OK;
}
