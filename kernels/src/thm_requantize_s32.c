/* Elementwise requantization of int32 values (per-element multiplier and shift). */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

void thm_requantize_s32_portable(const int32_t *in, const int32_t *mult, const int32_t *shift,
                                 int32_t *out, int32_t n)
{
    for (int32_t i = 0; i < n; i++) out[i] = thm_requantize(in[i], mult[i], shift[i]);
}

int thm_requantize_s32(const int32_t *in, const int32_t *mult, const int32_t *shift,
                       int32_t *out, int32_t n)
{
    if (n < 0) return THM_E_ARG;
    if (n > 0 && (!in || !mult || !shift || !out)) return THM_E_ARG;
    for (int32_t i = 0; i < n; i++) {
        if (!thm_shift_ok(shift[i])) return THM_E_ARG;
    }
    if (n > 0) THM_OP(requantize_s32)(in, mult, shift, out, n);
    return THM_OK;
}
