/* AVX2 CQ product (Needle 2's codebook weights, computed in place) for the
 * host: the bits of thm_matmul_cq_portable for 2- and 4-bit fields (3-bit
 * rows, and rows longer than THM_CQ_AVX2_MAX_KP, go to the portable C).
 *
 * A group's packed fields are unpacked 32 at a time with shifts and masks
 * and mapped to int8 levels with vpshufb (the codebook, up to 16 levels, in
 * both 128-bit lanes), so the levels come out interleaved: for 2-bit fields
 * vector k holds the k-th field of the group's 32 bytes (fields 4j + k), for
 * 4-bit the low or high nibbles of 32 bytes (fields 2j, 2j + 1). Each row of
 * activations is put in the same order once a call, widened to int16, so a
 * plain load meets each levels vector. The product is vpmaddwd on int16
 * (exact: vpmaddubsw would need one operand unsigned, and |level x| reaches
 * 2^14 with x = -128, where the sign trick breaks). Per output and group the
 * int32 sum (|dot| <= 2^21) is shifted by the group's shift and multiplied
 * by the norm into an int64 sum, as the reference does. */
#include <immintrin.h>
#include <string.h>

#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define T2 THM_TARGET_AVX2
#define THM_CQ_AVX2_MAX_KP 4096   /* a row of activations as int16 on the stack: 8 KiB */

/* 32 int8 -> int16 as two vectors: the low 16 bytes, then the high 16 (the levels' split too) */
static inline T2 void widen(__m256i v, __m256i *lo, __m256i *hi)
{
    *lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
    *hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1));
}

/* x [Kp] in the levels' order, widened: per group of 128, the 4 (2-bit) or
 * 2 x 2 (4-bit) vectors of 32 as two int16 halves each */
static T2 void order_row(const int8_t *x, int32_t Kp, int32_t bits, int16_t *out)
{
    int8_t tmp[128];
    for (int32_t g = 0; g < Kp; g += THM_CQ_GROUP) {
        const int8_t *xg = x + g;
        if (bits == 2) {
            for (int32_t k = 0; k < 4; k++)
                for (int32_t j = 0; j < 32; j++) tmp[32 * k + j] = xg[4 * j + k];
        } else {                       /* 4 bit: bytes 0..31 then 32..63, low nibbles then high */
            for (int32_t h = 0; h < 2; h++)
                for (int32_t k = 0; k < 2; k++)
                    for (int32_t j = 0; j < 32; j++) tmp[64 * h + 32 * k + j] = xg[64 * h + 2 * j + k];
        }
        for (int32_t v = 0; v < 4; v++) {
            __m256i lo, hi;
            widen(_mm256_loadu_si256((const __m256i *)(tmp + 32 * v)), &lo, &hi);
            _mm256_storeu_si256((__m256i *)(out + g + 32 * v), lo);
            _mm256_storeu_si256((__m256i *)(out + g + 32 * v + 16), hi);
        }
    }
}

/* the 4 levels vectors of one group (32 packed bytes of 2-bit fields, or 64 of 4-bit) */
static inline T2 void levels(const uint8_t *src, int32_t bits, __m256i table, __m256i lev[4])
{
    if (bits == 2) {
        const __m256i b = _mm256_loadu_si256((const __m256i *)src), m3 = _mm256_set1_epi8(3);
        lev[0] = _mm256_shuffle_epi8(table, _mm256_and_si256(b, m3));
        lev[1] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(b, 2), m3));
        lev[2] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(b, 4), m3));
        lev[3] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(b, 6), m3));
    } else {
        const __m256i m15 = _mm256_set1_epi8(15);
        for (int32_t h = 0; h < 2; h++) {
            const __m256i b = _mm256_loadu_si256((const __m256i *)(src + 32 * h));
            lev[2 * h] = _mm256_shuffle_epi8(table, _mm256_and_si256(b, m15));
            lev[2 * h + 1] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(b, 4), m15));
        }
    }
}

static inline T2 int32_t group_dot(const __m256i lev[4], const int16_t *a)
{
    __m256i acc = _mm256_setzero_si256();
    for (int32_t v = 0; v < 4; v++) {
        __m256i lo, hi;
        widen(lev[v], &lo, &hi);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)(a + 32 * v))));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(a + 32 * v + 16))));
    }
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
}

T2 void thm_matmul_cq_avx2(const int8_t *xr, const uint8_t *sh, const uint8_t *w, int32_t bits,
                           const int8_t *lut, const uint16_t *norm_q, const int32_t *mult,
                           const int32_t *rshift, int8_t *y8, int32_t *y32, int32_t M, int32_t Kp, int32_t N)
{
    if (bits == 3 || Kp > THM_CQ_AVX2_MAX_KP) {
        thm_matmul_cq_portable(xr, sh, w, bits, lut, norm_q, mult, rshift, y8, y32, M, Kp, N);
        return;
    }
    int8_t t16[16];
    memset(t16, 0, sizeof t16);
    memcpy(t16, lut, (size_t)1 << bits);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t16));
    const int32_t G = Kp / THM_CQ_GROUP;
    const size_t row_bytes = (size_t)Kp * (size_t)bits / 8u, group_bytes = THM_CQ_GROUP * (size_t)bits / 8u;
    int16_t a16[THM_CQ_AVX2_MAX_KP];
    for (int32_t m = 0; m < M; m++) {
        order_row(xr + (size_t)m * (size_t)Kp, Kp, bits, a16);
        const uint8_t *shm = sh + (size_t)m * (size_t)G;
        for (int32_t n = 0; n < N; n++) {
            const uint8_t *row = w + (size_t)n * row_bytes;
            const uint16_t *nq = norm_q + (size_t)n * (size_t)G;
            int64_t acc = 0;
            for (int32_t g = 0; g < G; g++) {
                __m256i lev[4];
                levels(row + (size_t)g * group_bytes, bits, table, lev);
                const int32_t dot = group_dot(lev, a16 + (size_t)g * THM_CQ_GROUP);
                acc += (int64_t)(int32_t)((uint32_t)dot << shm[g]) * nq[g];
            }
            thm_cq_store(acc, mult, rshift, n, y8, y32, (size_t)m * (size_t)N + (size_t)n);
        }
    }
}
