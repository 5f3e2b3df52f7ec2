/* Integer softmax of one row: table-driven exp of the distance to the row
 * maximum, one 64-bit reciprocal of the sum, Q15 probabilities. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

size_t thm_softmax_q15_scratch_size(int32_t n)
{
    return n > 0 ? (size_t)n * sizeof(uint32_t) : 0;
}

int thm_softmax_q15(const int32_t *scores, const uint8_t *mask, int16_t *p, int32_t n,
                    int32_t mult, int32_t shift, int32_t diff_max, void *scratch)
{
    if (n < 0 || mult < 0 || !thm_softmax_range_ok(shift, diff_max)) return THM_E_ARG;
    if (n == 0) return THM_OK;
    if (!scores || !p || !scratch) return THM_E_ARG;
    uint32_t *e = (uint32_t *)scratch;   /* [n] exp terms, Q15 */
    if (!mask && n <= THM_SOFTMAX_ROW_MAX_N && thm_impl_softmax_row) {   /* a board's vector row (thm_impl.h) */
        thm_impl_softmax_row(scores, p, n, mult, shift, diff_max, e);
        return THM_OK;
    }

    int any = 0;
    int32_t top = INT32_MIN;
    for (int32_t j = 0; j < n; j++) {
        if (mask && !mask[j]) continue;
        any = 1;
        if (scores[j] > top) top = scores[j];
    }
    if (!any) {
        for (int32_t j = 0; j < n; j++) p[j] = 0;
        return THM_OK;
    }

    uint64_t total = 0;   /* >= 2^15: the maximum contributes exp(0) */
    for (int32_t j = 0; j < n; j++) {
        uint32_t ej = 0;
        if (!mask || mask[j]) {
            const int64_t diff = (int64_t)top - scores[j];
            if (diff <= diff_max) ej = thm_exp_q15(thm_requantize((int32_t)diff, mult, shift));
        }
        e[j] = ej;
        total += ej;
    }
    const uint64_t inv = ((uint64_t)1 << 46) / total;   /* <= 2^31 */
    for (int32_t j = 0; j < n; j++) {
        const uint64_t pj = ((uint64_t)e[j] * inv + ((uint64_t)1 << 30)) >> 31;
        p[j] = (int16_t)(pj > 32767 ? 32767 : pj);
    }
    return THM_OK;
}
