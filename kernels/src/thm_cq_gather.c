/* Rows of a CQ matrix as integers (Needle 2's embedding and engram tables,
 * looked up rather than multiplied), the bits of reference.py cq_gather:
 * per group the levels lut[field] through the FWHT-128, times the group's
 * norm_q (|v| <= 2^14 * 2^16), then requantize_s64 with the row's own
 * (mult, rshift), saturated to int8 (bound 127) or int16 (32767). */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_fwht.h"

static uint32_t field(const uint8_t *row, int32_t k, int32_t bits)
{
    const uint32_t at = (uint32_t)k * (uint32_t)bits, b = at >> 3, o = at & 7u;
    uint32_t v = row[b] >> o;
    if (o + (uint32_t)bits > 8u) v |= (uint32_t)row[b + 1] << (8u - o);
    return v & ((1u << bits) - 1u);
}

int thm_cq_gather(const uint8_t *w, int32_t N, int32_t Kp, int32_t bits, const int8_t *lut,
                  const uint16_t *norm_q, const int32_t *rows, int32_t P, const int32_t *mult,
                  const int32_t *rshift, int32_t K, int32_t bound, void *out)
{
    if (N < 1 || Kp < THM_CQ_GROUP || Kp > THM_MAX_K || Kp % THM_CQ_GROUP || bits < 2 || bits > 4 || P < 0 ||
        K < 1 || K > Kp || (bound != 127 && bound != 32767))
        return THM_E_ARG;
    if (P > 0 && (!w || !lut || !norm_q || !rows || !mult || !rshift || !out)) return THM_E_ARG;
    for (int32_t i = 0; i < P; i++)
        if (rows[i] < 0 || rows[i] >= N || mult[i] < 0 || rshift[i] < 33 || rshift[i] > 94) return THM_E_ARG;
    const int32_t G = Kp / THM_CQ_GROUP;
    const size_t row_bytes = (size_t)Kp * (size_t)bits / 8u;
    int32_t v[THM_CQ_GROUP];
    for (int32_t i = 0; i < P; i++) {
        const uint8_t *row = w + (size_t)rows[i] * row_bytes;
        for (int32_t g = 0; g < G && g * THM_CQ_GROUP < K; g++) {
            for (int32_t j = 0; j < THM_CQ_GROUP; j++) v[j] = lut[field(row, g * THM_CQ_GROUP + j, bits)];
            thm_fwht_i32(v, THM_CQ_GROUP);
            const int64_t nq = norm_q[(size_t)rows[i] * (size_t)G + (size_t)g];
            for (int32_t j = 0; j < THM_CQ_GROUP && g * THM_CQ_GROUP + j < K; j++) {
                int64_t q = thm_requantize_s64((int64_t)v[j] * nq, mult[i], rshift[i]);
                q = q > bound ? bound : q < -bound - 1 ? -bound - 1 : q;
                const size_t at = (size_t)i * (size_t)K + (size_t)(g * THM_CQ_GROUP + j);
                if (bound == 127) ((int8_t *)out)[at] = (int8_t)q;
                else ((int16_t *)out)[at] = (int16_t)q;
            }
        }
    }
    return THM_OK;
}
