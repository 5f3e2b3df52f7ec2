/* Needle 2's lane mixing matrix: Sinkhorn in fixed point, the bits of
 * reference.py sinkhorn_q12 (Q12 logits, Q15 out). A handful of 4 x 4
 * matrices a token: portable C on every target, no fast path. */
#include "thimble_kernels.h"
#include "thm_tables.h"

/* exp(-z / 4096) in Q15 for z >= 0 (reference exp_q12). */
static uint32_t exp_q12(int64_t z)
{
    if (z >= (int64_t)THM_EXP_HI_LEN << (THM_EXP_FRAC_BITS + 4)) return 0;
    const uint32_t c = (uint32_t)z >> 4;
    const uint32_t e = (thm_exp_hi[c >> THM_EXP_FRAC_BITS] * thm_exp_lo[c & (THM_EXP_LO_LEN - 1)] + (1u << 14)) >> 15;
    return (e * thm_exp_fine[(uint32_t)z & 15u] + (1u << 14)) >> 15;
}

/* round(ln(s / 2^15) * 4096) for s >= 2^15 (reference ln_q12). */
static int64_t ln_q12(uint32_t s)
{
    uint32_t k = 0;
    while ((s >> k) >= (1u << 16)) k++;
    const uint32_t f = (s >> k) - (1u << 15), i = f >> 7, frac = f & 127u;
    const uint32_t hi = i + 1 < THM_LN_LEN ? thm_ln_q16[i + 1] : thm_ln_q16[THM_LN_LEN - 1];
    const int64_t t = (int64_t)thm_ln_q16[i] + ((((int64_t)hi - thm_ln_q16[i]) * frac + 64) >> 7);
    return ((int64_t)k * THM_LN2_Q16 + t + 8) >> 4;
}

int thm_sinkhorn_q12(const int32_t *logits, int32_t count, int32_t n, int32_t iters, int16_t *p)
{
    if (count < 0 || n < 1 || n > THM_SINKHORN_MAX_N || iters < 0 || iters > 1000) return THM_E_ARG;
    if (count > 0 && (!logits || !p)) return THM_E_ARG;
    for (size_t i = 0; i < (size_t)count * (size_t)(n * n); i++)
        if (logits[i] > THM_SINKHORN_MAX_LOGIT || logits[i] < -THM_SINKHORN_MAX_LOGIT) return THM_E_ARG;
    int64_t L[THM_SINKHORN_MAX_N * THM_SINKHORN_MAX_N];
    for (int32_t c = 0; c < count; c++) {
        const int32_t *in = logits + (size_t)c * (size_t)(n * n);
        for (int32_t i = 0; i < n * n; i++) L[i] = in[i];
        for (int32_t it = 0; it < iters; it++)
            for (int32_t pass = 0; pass < 2; pass++) {
                /* pass 0: rows (stride 1 along, n between); pass 1: columns */
                const int32_t along = pass ? n : 1, across = pass ? 1 : n;
                for (int32_t a = 0; a < n; a++) {
                    int64_t *v = L + (size_t)a * (size_t)across;
                    int64_t m = v[0];
                    for (int32_t j = 1; j < n; j++) if (v[j * along] > m) m = v[j * along];
                    uint32_t s = 0;                       /* <= n 2^15 <= 2^19 */
                    for (int32_t j = 0; j < n; j++) s += exp_q12(m - v[j * along]);
                    const int64_t lse = m + ln_q12(s);
                    for (int32_t j = 0; j < n; j++) v[j * along] -= lse;
                }
            }
        int16_t *out = p + (size_t)c * (size_t)(n * n);
        for (int32_t i = 0; i < n * n; i++) {
            const uint32_t e = exp_q12(L[i] < 0 ? -L[i] : 0);
            out[i] = (int16_t)(e > 32767u ? 32767u : e);
        }
    }
    return THM_OK;
}
