/* sigmoid in Q15 of Q12 inputs (Needle 2's gates: the mHC's read and write
 * weights, the attention's output gate, SiLU, the engram's alpha), the bits of
 * reference.py sigmoid_q15: 2^30 / (2^15 + exp(-|z| / 4096)) rounded, mirrored
 * for z < 0, from the softmax's exp tables (exp_q12). */
#include "thimble_kernels.h"
#include "thm_tables.h"

static uint32_t exp_q12(uint32_t z)        /* exp(-z / 4096) in Q15, z <= 65535 */
{
    const uint32_t c = z >> 4;
    const uint32_t e = (thm_exp_hi[c >> THM_EXP_FRAC_BITS] * thm_exp_lo[c & (THM_EXP_LO_LEN - 1)] + (1u << 14)) >> 15;
    return (e * thm_exp_fine[z & 15u] + (1u << 14)) >> 15;
}

int thm_sigmoid_q15(const int32_t *z, int32_t n, int32_t *out)
{
    if (n < 0 || (n > 0 && (!z || !out))) return THM_E_ARG;
    for (int32_t i = 0; i < n; i++) {
        const uint32_t a = z[i] < 0 ? (z[i] < -65535 ? 65535u : (uint32_t)-z[i]) : (z[i] > 65535 ? 65535u : (uint32_t)z[i]);
        const uint32_t d = 32768u + exp_q12(a);                      /* 2^15 .. 2^16 */
        const uint32_t pos = ((1u << 30) + (d >> 1)) / d;            /* 2^14 .. 2^15 */
        out[i] = (int32_t)(z[i] >= 0 ? pos : 32768u - pos);
    }
    return THM_OK;
}
