/* The gated residual x + sigmoid(s) * y: sigmoid(s) is a per-sublayer constant,
 * folded with the scale ratio into (mult, shift) on the host. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

int thm_residual_gated_s16(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
    if (n < 0 || !thm_shift_ok(shift)) return THM_E_ARG;
    if (n > 0 && (!r || !y)) return THM_E_ARG;
    for (int32_t i = 0; i < n; i++) {
        /* the sum is the reference's exact (int64) one: clamping g to
         * [-2^16, 2^16] keeps it inside int32 and, as |r| <= 2^15, cannot
         * change which way it saturates */
        int32_t g = thm_requantize(y[i], mult, shift);
        g = g < -65536 ? -65536 : (g > 65536 ? 65536 : g);
        r[i] = thm_sat16((int32_t)r[i] + g);
    }
    return THM_OK;
}
