/* The gated residual x + sigmoid(s) * y: sigmoid(s) is a per-sublayer constant,
 * folded with the scale ratio into (mult, shift) on the host. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

/* Rows at least this long build the table below first. */
#define THM_RESIDUAL_TABLE_MIN 512

void thm_residual_gated_s16_portable(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
    /* the sum is the reference's exact (int64) one: clamping g to
     * [-2^16, 2^16] keeps it inside int32 and, as |r| <= 2^15, cannot
     * change which way it saturates */
    if (n < THM_RESIDUAL_TABLE_MIN) {
        for (int32_t i = 0; i < n; i++) {
            int32_t g = thm_requantize(y[i], mult, shift);
            g = g < -65536 ? -65536 : (g > 65536 ? 65536 : g);
            r[i] = thm_sat16((int32_t)r[i] + g);
        }
        return;
    }
    /* g depends on the int8 y alone: a 256-entry table of the clamped g
     * replaces a requantize per element once rows are long enough to pay for
     * it (watch_m55: 54 instructions an element before, 15 after) */
    int32_t g[256];
    for (int32_t v = -128; v < 128; v++) {
        const int32_t q = thm_requantize(v, mult, shift);
        g[v + 128] = q < -65536 ? -65536 : (q > 65536 ? 65536 : q);
    }
    for (int32_t i = 0; i < n; i++) r[i] = thm_sat16((int32_t)r[i] + g[y[i] + 128]);
}

int thm_residual_gated_s16(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
    if (n < 0 || !thm_shift_ok(shift)) return THM_E_ARG;
    if (n > 0 && (!r || !y)) return THM_E_ARG;
    if (n > 0) THM_OP(residual_gated_s16)(r, y, n, mult, shift);
    return THM_OK;
}
