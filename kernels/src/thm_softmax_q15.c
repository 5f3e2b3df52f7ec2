/* Integer softmax: table-driven exp of the distance to the row maximum, one
 * 64-bit reciprocal of the sum, Q15 probabilities. A masked row takes the
 * general form; unmasked rows (thm_softmax_q15_rows, and thm_softmax_q15
 * without a mask) the selected ISA's rows entry, whose portable C is the row
 * form below. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

size_t thm_softmax_q15_scratch_size(int32_t n)
{
    return n > 0 ? (size_t)n * sizeof(uint32_t) : 0;
}

/* The general form: any mask, any n, 64-bit sums. */
static void thm_softmax_general(const int32_t *scores, const uint8_t *mask, int16_t *p, int32_t n,
                                int32_t mult, int32_t shift, int32_t diff_max, uint32_t *e)
{
    int any = 0;
    int32_t top = INT32_MIN;
    for (int32_t j = 0; j < n; j++) {
        if (mask && !mask[j]) continue;
        any = 1;
        if (scores[j] > top) top = scores[j];
    }
    if (!any) {
        for (int32_t j = 0; j < n; j++) p[j] = 0;
        return;
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
}

/* One unmasked row, specialised to what such a row allows and bit-exact with
 * the general form. Why: softmax was the largest share of the boards' prefill
 * (docs/runtime.md, "Needle 26M on the boards": 76 instructions an element
 * on the M55) because the general requantize handles negative inputs and both
 * rounding cases through 64-bit arithmetic. Here every input is a distance to
 * the row's maximum (thm_requantize_pos), and the row's exp terms are at most
 * 2^15 each, so for n <= THM_SOFTMAX_ROW_MAX_N their sum fits 32 bits. */
static void thm_softmax_row(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                            int32_t diff_max, uint32_t *e)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const uint32_t half = right ? (uint32_t)1 << (right - 1) : 0;
    const uint32_t zmax = (uint32_t)THM_EXP_HI_LEN << THM_EXP_FRAC_BITS;   /* exp is 0 from here */
    int32_t top = s[0];
    for (int32_t j = 1; j < n; j++) top = s[j] > top ? s[j] : top;
    uint32_t total = 0;
    for (int32_t j = 0; j < n; j++) {
        const uint32_t diff = (uint32_t)top - (uint32_t)s[j];   /* top >= s[j]: exact */
        uint32_t ej = 0;
        if (diff <= (uint32_t)diff_max) {
            const uint32_t z = thm_requantize_pos(diff, (uint32_t)mult, left, right, half);
            if (z < zmax)
                ej = (thm_exp_hi[z >> THM_EXP_FRAC_BITS] * thm_exp_lo[z & (THM_EXP_LO_LEN - 1)] + (1u << 14)) >> 15;
        }
        e[j] = ej;
        total += ej;
    }
    const uint32_t inv = (uint32_t)(((uint64_t)1 << 46) / total);   /* total >= 2^15: inv <= 2^31 */
    for (int32_t j = 0; j < n; j++) {
        const uint32_t pj = (uint32_t)(((uint64_t)e[j] * inv + ((uint64_t)1 << 30)) >> 31);
        p[j] = (int16_t)(pj > 32767 ? 32767 : pj);
    }
}

void thm_softmax_q15_rows_portable(const int32_t *s, int16_t *p, int32_t rows, int32_t n, int32_t mult,
                                   int32_t shift, int32_t diff_max, uint32_t *e)
{
    for (int32_t r = 0; r < rows; r++) {
        const int32_t *sr = s + (size_t)r * n;
        int16_t *pr = p + (size_t)r * n;
        if (n > THM_SOFTMAX_ROW_MAX_N)
            thm_softmax_general(sr, 0, pr, n, mult, shift, diff_max, e);
        else
            thm_softmax_row(sr, pr, n, mult, shift, diff_max, e);
    }
}

int thm_softmax_q15(const int32_t *scores, const uint8_t *mask, int16_t *p, int32_t n,
                    int32_t mult, int32_t shift, int32_t diff_max, void *scratch)
{
    if (n < 0 || mult < 0 || !thm_softmax_range_ok(shift, diff_max)) return THM_E_ARG;
    if (n == 0) return THM_OK;
    if (!scores || !p || !scratch) return THM_E_ARG;
    if (mask)
        thm_softmax_general(scores, mask, p, n, mult, shift, diff_max, (uint32_t *)scratch);
    else
        THM_OP(softmax_q15_rows)(scores, p, 1, n, mult, shift, diff_max, (uint32_t *)scratch);
    return THM_OK;
}

int thm_softmax_q15_rows(const int32_t *scores, int16_t *p, int32_t rows, int32_t n, int32_t mult,
                         int32_t shift, int32_t diff_max, void *scratch)
{
    if (rows < 0 || n < 0 || mult < 0 || !thm_softmax_range_ok(shift, diff_max)) return THM_E_ARG;
    if (rows == 0 || n == 0) return THM_OK;
    if (!scores || !p || !scratch) return THM_E_ARG;
    THM_OP(softmax_q15_rows)(scores, p, rows, n, mult, shift, diff_max, (uint32_t *)scratch);
    return THM_OK;
}
