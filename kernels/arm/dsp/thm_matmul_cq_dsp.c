/* Cortex-M DSP CQ product (Needle 2's codebook weights, computed in place):
 * the bits of thm_matmul_cq_portable for 2- and 4-bit fields (3-bit rows,
 * and rows longer than THM_CQ_DSP_MAX_KP, go to the portable C).
 *
 * SMLAD multiplies two int16 pairs. The call builds a table from the int8
 * codebook that turns one byte of packed fields straight into int16 pairs
 * (2-bit: 4 fields -> two words, levels (0, 1) and (2, 3), in two tables;
 * 4-bit: 2 fields -> one word), and each row of activations is widened to int16 once, in
 * natural order, so a word of it meets a word of levels: per 4 weights of a
 * 2-bit row one byte load, one table load pair, one activation load pair and
 * two SMLADs, no unpacking (the portable C expands a group's levels into a
 * buffer, then runs SXTB16 on both operands). Per output and group the
 * int32 sum (|dot| <= 2^21) is shifted by the group's shift and multiplied by
 * the norm into an int64 sum (SMLAL), as the reference does. */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include <string.h>

#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_arm_dsp.h"

#define THM_CQ_DSP_MAX_KP 2048   /* a row of activations as int16 on the stack: 4 KiB */

static inline uint32_t pair(int8_t lo, int8_t hi)
{
    return (uint32_t)(uint16_t)(int16_t)lo | (uint32_t)(uint16_t)(int16_t)hi << 16;
}

/* one group's int32 dot product: 128 fields of a packed row against 128 int16
 * activations; four field bytes a load (unaligned LDR), two SMLADs a byte */
__attribute__((noipa)) static int32_t dot2(const uint8_t *src, const uint32_t *lo, const uint32_t *hi,
                                              const uint32_t *x)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < THM_CQ_GROUP / 4; i += 4, x += 8) {
        uint32_t b4;
        __builtin_memcpy(&b4, src + i, 4);
        const uint32_t a = b4 & 255u, b = (b4 >> 8) & 255u, c = (b4 >> 16) & 255u, d = b4 >> 24;
        acc = thm_smlad(lo[a], x[0], acc);
        acc = thm_smlad(hi[a], x[1], acc);
        acc = thm_smlad(lo[b], x[2], acc);
        acc = thm_smlad(hi[b], x[3], acc);
        acc = thm_smlad(lo[c], x[4], acc);
        acc = thm_smlad(hi[c], x[5], acc);
        acc = thm_smlad(lo[d], x[6], acc);
        acc = thm_smlad(hi[d], x[7], acc);
    }
    return acc;
}

__attribute__((noipa)) static int32_t dot4(const uint8_t *src, const uint32_t *t4, const uint32_t *x)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < THM_CQ_GROUP / 2; i += 4, x += 4) {
        uint32_t b4;
        __builtin_memcpy(&b4, src + i, 4);
        acc = thm_smlad(t4[b4 & 255u], x[0], acc);
        acc = thm_smlad(t4[(b4 >> 8) & 255u], x[1], acc);
        acc = thm_smlad(t4[(b4 >> 16) & 255u], x[2], acc);
        acc = thm_smlad(t4[b4 >> 24], x[3], acc);
    }
    return acc;
}

void thm_matmul_cq_dsp(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                       const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                       const int32_t *rshift, int8_t *y8, int32_t *y32, int32_t M, int32_t Kp, int32_t N)
{
    if (bits == 3 || Kp > THM_CQ_DSP_MAX_KP) {
        thm_matmul_cq_portable(xr, sh, w, bits, lut, norm_q, mult, rshift, y8, y32, M, Kp, N);
        return;
    }
    /* static: 3 KiB; the kernels run on one thread. Two word tables, not one of
     * pairs: each load is then one LDR with a scaled index */
    static uint32_t t2lo[256], t2hi[256], t4[256];
    for (uint32_t b = 0; b < 256; b++) {
        if (bits == 2) {
            t2lo[b] = pair(lut[b & 3], lut[(b >> 2) & 3]);
            t2hi[b] = pair(lut[(b >> 4) & 3], lut[b >> 6]);
        } else {
            t4[b] = pair(lut[b & 15], lut[b >> 4]);
        }
    }
    const int32_t G = Kp / THM_CQ_GROUP;
    const size_t row_bytes = (size_t)Kp * (size_t)bits / 8u, group_bytes = THM_CQ_GROUP * (size_t)bits / 8u;
    uint32_t x16[THM_CQ_DSP_MAX_KP / 2];   /* a row of activations as int16 pairs */
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xm = xr + (size_t)m * (size_t)Kp;
        for (int32_t k = 0; k < Kp; k += 2) x16[k / 2] = pair(xm[k], xm[k + 1]);
        const uint8_t *shm = sh + (size_t)m * (size_t)G;
        for (int32_t n = 0; n < N; n++) {
            const uint8_t *row = w + (size_t)n * row_bytes;
            const uint16_t *nq = norm_q + (size_t)n * (size_t)G;
            int64_t acc = 0;
            for (int32_t g = 0; g < G; g++) {
                const uint32_t *xg = x16 + (size_t)g * (THM_CQ_GROUP / 2);
                const int32_t dot = bits == 2 ? dot2(row + (size_t)g * group_bytes, t2lo, t2hi, xg)
                                              : dot4(row + (size_t)g * group_bytes, t4, xg);
                acc += (int64_t)(int32_t)((uint32_t)dot << shm[g]) * nq[g];
            }
            thm_cq_store(acc, mult, rshift, n, y8, y32, (size_t)m * (size_t)N + (size_t)n);
        }
    }
}

#endif /* __ARM_FEATURE_DSP */
