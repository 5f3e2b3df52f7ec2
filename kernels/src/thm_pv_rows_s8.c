/* Attention's P.V for a block of query rows of one head (thm_pv_rows_s8), and
 * the digit recombination it is built from (thm_pv_combine_s8).
 *
 * The portable form runs P.V through the selected ISA's matmul: the Q15
 * probabilities p (0..32767) are split into int8 digits, each digit block is
 * multiplied by V^T with thm_matmul_s8_s32's entry, and the digits' sums are
 * recombined in wrapping uint32 arithmetic, which gives exactly the int32 sum
 * (the sum is linear in p, and every digit's partial sum is exact): two
 * digits p = hi 2^8 + lo, lo in -128..127, when every p of the block is below
 * THM_PV_TWO_DIGIT_MAX (hi <= 127), else three, p = p2 2^14 + p1 2^7 + p0.
 * An ISA with an int16 x int8 form (Helium) uses p as it is. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"

#define THM_PV_TWO_DIGIT_MAX 32640   /* p below this: hi = (p + 128) >> 8 <= 127 */

static size_t thm_al64(size_t n) { return (n + 63u) & ~(size_t)63u; }

/* scratch: digit[3] [bq, Tk] int8, then s[3] [bq, D] int32, each 64-byte aligned */
size_t thm_pv_rows_s8_scratch_size(int32_t bq, int32_t Tk, int32_t D)
{
    if (bq < 0 || Tk < 1 || D < 1) return 0;
    return 3 * thm_al64((size_t)bq * (size_t)Tk) + 3 * thm_al64((size_t)bq * (size_t)D * 4);
}

void thm_pv_combine_s8_portable(const int32_t *s0, const int32_t *s1, const int32_t *s2, int32_t n,
                                int32_t mult, int32_t shift, int8_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        const uint32_t hi = s2 ? ((uint32_t)s2[i] << 14) + ((uint32_t)s1[i] << 7) : (uint32_t)s1[i] << 8;
        out[i] = thm_sat8(thm_requantize((int32_t)(hi + (uint32_t)s0[i]), mult, shift));
    }
}

void thm_pv_rows_s8_portable(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D,
                             int32_t mult, int32_t shift, int8_t *out, size_t out_stride, void *scratch)
{
    int8_t *digit[3];
    int32_t *s[3];
    uint8_t *at = (uint8_t *)scratch;
    const size_t np = (size_t)bq * (size_t)Tk;
    for (int i = 0; i < 3; i++, at += thm_al64(np)) digit[i] = (int8_t *)at;
    for (int i = 0; i < 3; i++, at += thm_al64((size_t)bq * (size_t)D * 4)) s[i] = (int32_t *)(void *)at;
    int32_t pmax = 0;
    for (size_t j = 0; j < np; j++) pmax = p[j] > pmax ? p[j] : pmax;
    const int nd = pmax < THM_PV_TWO_DIGIT_MAX ? 2 : 3;
    if (nd == 2) {
        for (size_t j = 0; j < np; j++) {
            const int32_t pj = p[j];
            const int32_t hi = (pj + 128) >> 8;   /* 0 .. 127 */
            digit[0][j] = (int8_t)(pj - hi * 256);
            digit[1][j] = (int8_t)hi;
        }
    } else {
        for (size_t j = 0; j < np; j++) {
            const int32_t pj = p[j];    /* 0 .. 32767 */
            digit[0][j] = (int8_t)(pj & 127);
            digit[1][j] = (int8_t)((pj >> 7) & 127);
            digit[2][j] = (int8_t)(pj >> 14);
        }
    }
    /* one query row (decode) is the one-row product, as thm_gemv_s8_s32 runs it */
    const thm_matmul_s32_fn mm = bq == 1 && thm_ops_now->gemv_s8_s32 ? thm_ops_now->gemv_s8_s32
                                                                     : THM_OP(matmul_s8_s32);
    for (int i = 0; i < nd; i++) mm(digit[i], vt, 0, s[i], bq, Tk, D);
    const thm_pv_combine_fn combine = THM_OP(pv_combine_s8);
    for (int32_t r = 0; r < bq; r++) {
        const size_t e = (size_t)r * D;
        combine(s[0] + e, s[1] + e, nd == 3 ? s[2] + e : 0, D, mult, shift, out + (size_t)r * out_stride);
    }
}

int thm_pv_rows_s8(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D, int32_t mult,
                   int32_t shift, int8_t *out, int32_t out_stride, void *scratch)
{
    if (bq < 0 || Tk < 1 || Tk > THM_MAX_K || D < 1 || D > THM_MAX_HEAD_DIM || out_stride < D
        || !thm_shift_ok(shift))
        return THM_E_ARG;
    if (bq == 0) return THM_OK;
    if (!p || !vt || !out || !scratch) return THM_E_ARG;
    THM_OP(pv_rows_s8)(p, bq, Tk, vt, D, mult, shift, out, (size_t)out_stride, scratch);
    return THM_OK;
}

int thm_pv_combine_s8(const int32_t *s0, const int32_t *s1, const int32_t *s2, int32_t n, int32_t mult,
                      int32_t shift, int8_t *out)
{
    if (n < 0 || !thm_shift_ok(shift)) return THM_E_ARG;
    if (n == 0) return THM_OK;
    if (!s0 || !s1 || !out) return THM_E_ARG;
    THM_OP(pv_combine_s8)(s0, s1, s2, n, mult, shift, out);
    return THM_OK;
}
