/* CQ weights computed in place (Needle 2's codebook code): the group
 * rotation of the activations and the codebook product, portable C, the
 * bits of reference.py's "CQ weights" section. Each row of w is one
 * LSB-first bitstream of `bits`-wide fields; a field indexes lut. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_fwht.h"
#include "thm_impl.h"

void thm_cq_rotate_s8_portable(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K)
{
    const int32_t G = (K + THM_CQ_GROUP - 1) / THM_CQ_GROUP;
    int32_t v[THM_CQ_GROUP];
    for (int32_t m = 0; m < M; m++)
        for (int32_t g = 0; g < G; g++) {
            const int8_t *xg = x + (size_t)m * K + (size_t)g * THM_CQ_GROUP;
            const int32_t n = K - g * THM_CQ_GROUP < THM_CQ_GROUP ? K - g * THM_CQ_GROUP : THM_CQ_GROUP;
            int32_t top = 0, low = 0;
            for (int32_t j = 0; j < THM_CQ_GROUP; j++) v[j] = j < n ? xg[j] : 0;
            thm_fwht_i32(v, THM_CQ_GROUP);
            for (int32_t j = 0; j < THM_CQ_GROUP; j++) {
                if (v[j] > top) top = v[j];
                if (v[j] < low) low = v[j];
            }
            /* the least s with round(top) <= 127 and round(low) >= -128; rounding
             * is monotonic, so the extremes decide for the whole group */
            int32_t s = 0;
            while (s < THM_CQ_SHIFT_MAX &&
                   ((top + ((1 << s) >> 1)) >> s > 127 || (low + ((1 << s) >> 1)) >> s < -128))
                s++;
            int8_t *out = xr + ((size_t)m * G + (size_t)g) * THM_CQ_GROUP;
            for (int32_t j = 0; j < THM_CQ_GROUP; j++) out[j] = (int8_t)((v[j] + ((1 << s) >> 1)) >> s);
            sh[(size_t)m * G + (size_t)g] = (uint8_t)s;
        }
}

int thm_cq_rotate_s8(const int8_t *x, int8_t *xr, uint8_t *sh, int32_t M, int32_t K)
{
    if (M < 0 || K < 1 || K > THM_MAX_K) return THM_E_ARG;
    if (M > 0 && (!x || !xr || !sh)) return THM_E_ARG;
    if (M > 0) THM_OP(cq_rotate_s8)(x, xr, sh, M, K);
    return THM_OK;
}

/* The 128 levels of group g of a row, as int8, from its fields. 2- and 4-bit
 * rows go a byte at a time through a byte -> levels table the call builds
 * once (t2: 4 levels a byte, t4: 2); 3-bit rows 8 fields (3 bytes) a step,
 * two fields (6 bits) a lookup (t3). */
typedef struct {
    uint32_t t2[256];        /* byte -> 4 int8 levels (2-bit fields, LSB first) */
    uint16_t t4[256];        /* byte -> 2 int8 levels (4-bit) */
    uint16_t t3[64];         /* 6 bits -> 2 int8 levels (3-bit) */
} cq_tables;

static void cq_tables_build(cq_tables *t, int32_t bits, const int8_t *lut)
{
    for (uint32_t b = 0; b < 256; b++) {
        if (bits == 2)
            t->t2[b] = (uint32_t)(uint8_t)lut[b & 3] | (uint32_t)(uint8_t)lut[(b >> 2) & 3] << 8 |
                       (uint32_t)(uint8_t)lut[(b >> 4) & 3] << 16 | (uint32_t)(uint8_t)lut[b >> 6] << 24;
        else if (bits == 4)
            t->t4[b] = (uint16_t)((uint32_t)(uint8_t)lut[b & 15] | (uint32_t)(uint8_t)lut[b >> 4] << 8);
        else if (b < 64)
            t->t3[b] = (uint16_t)((uint32_t)(uint8_t)lut[b & 7] | (uint32_t)(uint8_t)lut[b >> 3] << 8);
    }
}

static void cq_levels(const uint8_t *row, int32_t g, int32_t bits, const cq_tables *t,
                      int8_t *lev)
{
    const uint8_t *src = row + (size_t)g * (THM_CQ_GROUP * (size_t)bits / 8u);
    if (bits == 2) {
        for (int32_t i = 0; i < THM_CQ_GROUP / 4; i++) {
            const uint32_t v = t->t2[src[i]];
            __builtin_memcpy(lev + 4 * i, &v, 4);     /* little endian: level 0 first */
        }
    } else if (bits == 4) {
        for (int32_t i = 0; i < THM_CQ_GROUP / 2; i++) {
            const uint16_t v = t->t4[src[i]];
            __builtin_memcpy(lev + 2 * i, &v, 2);
        }
    } else {                                          /* 3 bits: 8 fields in 3 bytes */
        for (int32_t i = 0; i < THM_CQ_GROUP / 8; i++) {
            const uint32_t w = (uint32_t)src[3 * i] | (uint32_t)src[3 * i + 1] << 8 | (uint32_t)src[3 * i + 2] << 16;
            for (int32_t j = 0; j < 4; j++) {
                const uint16_t v = t->t3[(w >> (6 * j)) & 63u];
                __builtin_memcpy(lev + 8 * i + 2 * j, &v, 2);
            }
        }
    }
}

void thm_matmul_cq_portable(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                            const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                            const int32_t *rshift, int8_t *y8, int32_t *y32, int32_t M, int32_t Kp,
                            int32_t N)
{
    const int32_t G = Kp / THM_CQ_GROUP;
    const size_t row_bytes = (size_t)Kp * (size_t)bits / 8u;
    thm_dot_s8_fn dot_s8 = THM_OP(dot_s8);           /* each ISA's int8 dot product */
    cq_tables t;
    int8_t lev[THM_CQ_GROUP];
    cq_tables_build(&t, bits, lut);
    /* rows of x in blocks of 4: a group's levels are expanded once a block */
    for (int32_t m0 = 0; m0 < M; m0 += 4) {
        const int32_t mb = M - m0 < 4 ? M - m0 : 4;
        for (int32_t n = 0; n < N; n++) {
            const uint8_t *row = w + (size_t)n * row_bytes;
            int64_t acc[4] = {0, 0, 0, 0};
            for (int32_t g = 0; g < G; g++) {
                cq_levels(row, g, bits, &t, lev);
                const int64_t nq = norm_q[(size_t)n * G + (size_t)g];
                for (int32_t i = 0; i < mb; i++) {
                    const size_t mg = (size_t)(m0 + i) * (size_t)G + (size_t)g;
                    const int32_t dot = dot_s8(lev, xr + mg * THM_CQ_GROUP, THM_CQ_GROUP);  /* |dot| <= 2^21 */
                    acc[i] += (int64_t)(int32_t)((uint32_t)dot << sh[mg]) * nq;          /* <= 2^28 * 2^16 */
                }
            }
            for (int32_t i = 0; i < mb; i++) {
                thm_cq_store(acc[i], mult, rshift, n, y8, y32, (size_t)(m0 + i) * (size_t)N + (size_t)n);
            }
        }
    }
}

static int cq_args(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits, const int8_t *lut,
                   const uint16_t *norm_q, const int32_t *mult, const int32_t *rshift, const void *y,
                   int32_t M, int32_t Kp, int32_t N)
{
    if (M < 0 || N < 0 || Kp < THM_CQ_GROUP || Kp > THM_MAX_K || Kp % THM_CQ_GROUP) return 0;
    if (bits < 2 || bits > 4) return 0;
    if (M == 0 || N == 0) return 1;
    if (!xr || !sh || !w || !lut || !norm_q || !mult || !rshift || !y) return 0;
    for (int32_t n = 0; n < N; n++)
        if (mult[n] < 0 || rshift[n] < 33 || rshift[n] > 94) return 0;
    const int32_t G = Kp / THM_CQ_GROUP;
    for (size_t i = 0; i < (size_t)M * (size_t)G; i++)
        if (sh[i] > THM_CQ_SHIFT_MAX) return 0;
    return 1;
}

int thm_matmul_cq_s8(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                     const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                     const int32_t *rshift, int8_t *y, int32_t M, int32_t Kp, int32_t N)
{
    if (!cq_args(xr, sh, w, bits, lut, norm_q, mult, rshift, y, M, Kp, N)) return THM_E_ARG;
    if (M > 0 && N > 0) THM_OP(matmul_cq)(xr, sh, w, bits, lut, norm_q, mult, rshift, y, 0, M, Kp, N);
    return THM_OK;
}

int thm_matmul_cq_s32(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                      const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                      const int32_t *rshift, int32_t *y, int32_t M, int32_t Kp, int32_t N)
{
    if (!cq_args(xr, sh, w, bits, lut, norm_q, mult, rshift, y, M, Kp, N)) return THM_E_ARG;
    if (M > 0 && N > 0) THM_OP(matmul_cq)(xr, sh, w, bits, lut, norm_q, mult, rshift, 0, y, M, Kp, N);
    return THM_OK;
}
