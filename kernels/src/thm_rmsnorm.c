/* ZCRMSNorm to int8, integer only: exact sum of squares, exact integer square
 * root, one 64-bit reciprocal per row, per-channel requantization of x / rms. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

/* 2^30 / rms of a row, from its sum of squares. */
static int64_t thm_inv_rms(int64_t ss, int32_t D, int64_t eps_q16)
{
    const uint64_t ms = ((uint64_t)ss << 16) / (uint64_t)D + (uint64_t)eps_q16; /* Q16 */
    uint64_t rms = thm_isqrt_u64(ms << 16);                                       /* Q16 */
    if (rms == 0) rms = 1;
    return (int64_t)(((uint64_t)1 << 46) / rms);
}

static int8_t thm_norm_one(int32_t xi, int64_t inv, int32_t gm, int32_t gs)
{
    int64_t n = ((int64_t)xi * inv + (1 << 14)) >> 15;   /* x / rms in Q15 */
    if (n > INT32_MAX) n = INT32_MAX;
    if (n < INT32_MIN) n = INT32_MIN;
    return thm_sat8(thm_requantize((int32_t)n, gm, gs));
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
    for (int32_t r = 0; r < rows; r++) {
        const int16_t *xr = x + (size_t)r * D;
        int64_t ss = 0;
        for (int32_t i = 0; i < D; i++) ss += (int32_t)xr[i] * (int32_t)xr[i];
        const int64_t inv = thm_inv_rms(ss, D, eps_q16);
        for (int32_t i = 0; i < D; i++)
            y[(size_t)r * D + i] = thm_norm_one(xr[i], inv, gain_mult[i], gain_shift[i]);
    }
    return THM_OK;
}

int thm_rmsnorm_s8(const int8_t *x, const int32_t *gain_mult, const int32_t *gain_shift,
                   int64_t eps_q16, int8_t *y, int32_t rows, int32_t D)
{
    if (!thm_rmsnorm_args_ok(x, gain_mult, gain_shift, eps_q16, y, rows, D)) return THM_E_ARG;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *xr = x + (size_t)r * D;
        int32_t ss = 0;   /* D * 2^14 < 2^31 */
        for (int32_t i = 0; i < D; i++) ss += (int32_t)xr[i] * (int32_t)xr[i];
        const int64_t inv = thm_inv_rms(ss, D, eps_q16);
        for (int32_t i = 0; i < D; i++)
            y[(size_t)r * D + i] = thm_norm_one(xr[i], inv, gain_mult[i], gain_shift[i]);
    }
    return THM_OK;
}
