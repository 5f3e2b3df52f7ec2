/* x86 int4-weight matmul (W4A8), AVX2 and AVX-512 VNNI: the bits of
 * thm_matmul_s4_portable (and of thm_matmul_s8 on the unpacked weights).
 *
 * Every path puts the nibbles on the unsigned side of the ISA's u8 x s8
 * multiply as u = w + 8 (w ^ 8 per nibble, in [0, 15]) against x as it is,
 * and takes 8 sum x (once per row of x) off each sum: x . w = sum (w + 8) x -
 * 8 sum x, exact integer arithmetic (wrapping uint32, like the reference), so
 * no nibble is ever sign-extended. Three paths:
 *  - AVX-512 prefill (M >= THM_S4_UNPACK_MIN_M, any K): the nibbles are packed
 *    straight into the int8 kernel's VNNI panels (thm_vnni_matmul_packed_with
 *    in thm_matmul_s8_avx512vnni.c, with this file's packer), so int4 costs
 *    what int8 does: its packing pass reads half the bytes and does the same
 *    transpose.
 *  - AVX2 prefill (M >= THM_S4_UNPACK_MIN_M, K <= THM_S4_WBUF): a chunk of
 *    weight rows is unpacked to int8 on the stack once and multiplied by
 *    blocks of rows of x through the AVX2 int8 matmul: one pass over the
 *    chunk, shared by every row of x.
 *  - decode (smaller M, K <= THM_S4_XK): nibbles used where they lie. A byte
 *    holds weight 2j (low nibble) and 2j + 1 (high nibble), so each row of x
 *    is split once into its even and odd elements; tiles of up to 4 rows of x
 *    by 4 or 8 weight rows keep one vector of partial sums per output, reduced
 *    once at the end of K into a strip of 64 columns, whose epilogue (- 8 sum
 *    x, bias, requantize) is vector code, as in the int8 kernels. Decoding
 *    128 weights costs 3 instructions on AVX-512 (vpternlogd does the xor
 *    and the mask), 4 per 64 on AVX2.
 * K past a path's limit takes the portable C.
 *
 * Stack: AVX2 prefill 32 KiB of weights + 64 KiB of outputs; AVX-512 prefill
 * the int8 kernel's (32 KiB panel + 16 KiB partial sums); decode x split
 * [4][2][THM_S4_XK / 2] (16 KiB) + a [4][72] int32 strip.
 */
#include <immintrin.h>
#include <string.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"
#include "thm_x86_simd.h"

#define THM_S4_UNPACK_MIN_M 16   /* prefill from this M (the int8 kernels' crossover too) */
#define THM_S4_WBUF 32768       /* bytes of unpacked weights per chunk */
#define THM_S4_MB 256           /* AVX2 prefill: rows of x per call of the int8 matmul */
#define THM_S4_NB_MAX 64        /* weight rows per chunk, at most */
#define THM_S4_XK 4096          /* the nibble path's largest K */
#define THM_S4_MR 4             /* rows of x per pass over a weight row */


/* Rows [n0, n0 + nb) of w4 as int8 [nb, K]: 32 bytes at a time in AVX2
 * (mask, shift, sign by (n ^ 8) - 8, interleave within 128-bit lanes, then
 * the lanes' halves in k order), then 16 in SSE2, the row's rest in C. */
static THM_TARGET_AVX2 void thm_s4_unpack(const uint8_t *w4, size_t row, int32_t K, int32_t nb, int8_t *w8)
{
    const __m128i m0f = _mm_set1_epi8(0x0F), m8 = _mm_set1_epi8(8);
    const __m256i m0f2 = _mm256_set1_epi8(0x0F), m82 = _mm256_set1_epi8(8);
    for (int32_t n = 0; n < nb; n++) {
        const uint8_t *b = w4 + (size_t)n * row;
        int8_t *o = w8 + (size_t)n * K;
        int32_t j = 0;
        for (; 2 * (j + 32) <= K; j += 32) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(b + j));
            const __m256i lo = _mm256_sub_epi8(_mm256_xor_si256(_mm256_and_si256(v, m0f2), m82), m82);
            const __m256i hi =
                _mm256_sub_epi8(_mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m0f2), m82), m82);
            const __m256i a = _mm256_unpacklo_epi8(lo, hi), c = _mm256_unpackhi_epi8(lo, hi);
            _mm256_storeu_si256((__m256i *)(void *)(o + 2 * j), _mm256_permute2x128_si256(a, c, 0x20));
            _mm256_storeu_si256((__m256i *)(void *)(o + 2 * j + 32), _mm256_permute2x128_si256(a, c, 0x31));
        }
        for (; 2 * (j + 16) <= K; j += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + j));
            const __m128i lo = _mm_sub_epi8(_mm_xor_si128(_mm_and_si128(v, m0f), m8), m8);
            const __m128i hi = _mm_sub_epi8(_mm_xor_si128(_mm_and_si128(_mm_srli_epi16(v, 4), m0f), m8), m8);
            _mm_storeu_si128((__m128i *)(void *)(o + 2 * j), _mm_unpacklo_epi8(lo, hi));
            _mm_storeu_si128((__m128i *)(void *)(o + 2 * j + 16), _mm_unpackhi_epi8(lo, hi));
        }
        for (; 2 * j + 1 < K; j++) {
            o[2 * j] = (int8_t)thm_s4_lo(b[j]);
            o[2 * j + 1] = (int8_t)thm_s4_hi(b[j]);
        }
        if (K & 1) o[K - 1] = (int8_t)thm_s4_lo(b[j]);
    }
}

/* The prefill path over the ISA's int8 matmul entries (s8 for int8 out, s32
 * for y32, the int32 out). */
static void thm_s4_by_unpacking(thm_matmul_s8_fn s8, thm_matmul_s32_fn s32, const int8_t *x,
                                const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K,
                                int32_t N)
{
    int8_t w8[THM_S4_WBUF] __attribute__((aligned(64)));
    int32_t yt[THM_S4_MB * THM_S4_NB_MAX] __attribute__((aligned(64)));     /* int8 or int32 outputs */
    const size_t row = (size_t)(K + 1) / 2;
    int32_t nb = THM_S4_WBUF / K;
    if (nb > THM_S4_NB_MAX) nb = THM_S4_NB_MAX;
    for (int32_t n0 = 0; n0 < N; n0 += nb) {
        const int32_t nc = N - n0 < nb ? N - n0 : nb;
        thm_s4_unpack(w4 + (size_t)n0 * row, row, K, nc, w8);
        for (int32_t m0 = 0; m0 < M; m0 += THM_S4_MB) {
            const int32_t mc = M - m0 < THM_S4_MB ? M - m0 : THM_S4_MB;
            const int32_t *b = bias ? bias + n0 : 0;
            if (y32) {
                s32(x + (size_t)m0 * K, w8, b, yt, mc, K, nc);
                for (int32_t m = 0; m < mc; m++)
                    memcpy(y32 + (size_t)(m0 + m) * N + n0, yt + (size_t)m * nc, 4 * (size_t)nc);
            } else {
                s8(x + (size_t)m0 * K, w8, b, mult + n0, shift + n0, (int8_t *)yt, mc, K, nc);
                for (int32_t m = 0; m < mc; m++)
                    memcpy(y + (size_t)(m0 + m) * N + n0, (int8_t *)yt + (size_t)m * nc, (size_t)nc);
            }
        }
    }
}

/* The epilogue of output (m, n): + bias, then int32 out (y32) or requantized int8. */
static inline void thm_s4_store(uint32_t acc, int32_t m, int32_t n, int32_t N, const int32_t *bias,
                                const int32_t *mult, const int32_t *shift, int8_t *y, int32_t *y32)
{
    if (bias) acc += (uint32_t)bias[n];
    if (y32) y32[(size_t)m * N + n] = (int32_t)acc;
    else y[(size_t)m * N + n] = thm_sat8(thm_requantize((int32_t)acc, mult[n], shift[n]));
}

/* --- decode paths (M < THM_S4_UNPACK_MIN_M) -------------------------------
 *
 * Shared by both ISAs: rows of x are split once into their even and odd
 * elements (xs[i][0] and xs[i][1], zero up to a multiple of 64 bytes), with
 * their sum, so that byte j of a weight row meets x[2j] with its low nibble
 * and x[2j + 1] with its high nibble. Tiles of MR rows of x by NR weight rows
 * leave raw sums of (w + 8) x in a strip of up to THM_S4_NB columns, and the
 * strip's epilogue (- 8 sum x, + bias, requantize) works on whole vectors of
 * columns, as the int8 kernels' do. */

#define THM_S4_NB 64            /* decode strip: columns per epilogue */
#define THM_S4_LDT (THM_S4_NB + 8)  /* strip row stride: tiles store 4 or 8 lanes */
#define THM_S4_PF 8             /* M < 4: weight rows prefetched ahead (streams a large w) */

/* Row r of x [K] -> xe [Jp], xo [Jp] (even and odd elements, zero past K);
 * returns sum x. 32 x per step: a byte shuffle within each 128-bit lane puts
 * the even bytes first, a qword permute gathers the halves. */
static THM_TARGET_AVX2 int32_t thm_s4_split_x(const int8_t *xr, int32_t K, int8_t *xe, int8_t *xo,
                                              int32_t Jp)
{
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                           0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256i s64 = _mm256_setzero_si256();
    int32_t k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(xr + k));
        const __m256i t = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, split), 0xD8);
        _mm_storeu_si128((__m128i *)(void *)(xe + k / 2), _mm256_castsi256_si128(t));
        _mm_storeu_si128((__m128i *)(void *)(xo + k / 2), _mm256_extracti128_si256(t, 1));
        /* vpsadbw of x ^ 0x80 sums x + 128 */
        s64 = _mm256_add_epi64(s64, _mm256_sad_epu8(_mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)),
                                                    _mm256_setzero_si256()));
    }
    int64_t s = _mm256_extract_epi64(s64, 0) + _mm256_extract_epi64(s64, 1) + _mm256_extract_epi64(s64, 2)
                + _mm256_extract_epi64(s64, 3) - 128 * (int64_t)k;
    /* zero from the vector part's end: with an odd K, xo[K / 2] meets the
     * padding nibble of the row's last byte */
    memset(xe + k / 2, 0, (size_t)(Jp - k / 2));
    memset(xo + k / 2, 0, (size_t)(Jp - k / 2));
    for (; k < K; k++) {
        ((k & 1) ? xo : xe)[k >> 1] = xr[k];
        s += xr[k];
    }
    return (int32_t)s;
}

/* strip [mr][nb] of raw sums of (w + 8) x -> y: - 8 sum x (corr), + bias, then
 * int32 out (y32) or requantized int8 (y8); uint32 adds wrap like the
 * reference's. Columns outer: the per-channel requantize setup is done once
 * for all rows. */
static THM_TARGET_AVX2 void thm_s4_epilogue_avx2(const int32_t *tmp, const int32_t *corr, int32_t mr,
                                                 int32_t nb, const int32_t *bias, const int32_t *mult,
                                                 const int32_t *shift, int8_t *y8, int32_t *y32, size_t ldy)
{
    int32_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        const __m256i b = bias ? _mm256_loadu_si256((const __m256i *)(const void *)(bias + j))
                               : _mm256_setzero_si256();
        thm_avx2_rq q;
        if (!y32)
            thm_avx2_rq_prep(&q, _mm256_loadu_si256((const __m256i *)(const void *)(mult + j)),
                             _mm256_loadu_si256((const __m256i *)(const void *)(shift + j)));
        for (int32_t i = 0; i < mr; i++) {
            const __m256i v = _mm256_add_epi32(
                _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(tmp + i * THM_S4_LDT + j)),
                                 _mm256_set1_epi32(corr[i])), b);
            if (y32) _mm256_storeu_si256((__m256i *)(void *)(y32 + i * ldy + j), v);
            else thm_avx2_store_sat8(y8 + i * ldy + j, thm_avx2_rq_apply(v, &q));
        }
    }
    for (; j < nb; j++)
        for (int32_t i = 0; i < mr; i++)
            thm_s4_store((uint32_t)tmp[i * THM_S4_LDT + j] - (uint32_t)corr[i], i, j, (int32_t)ldy, bias,
                         mult, shift, y8, y32);
}

static THM_TARGET_AVX512VNNI void thm_s4_epilogue_vnni(const int32_t *tmp, const int32_t *corr, int32_t mr,
                                                       int32_t nb, const int32_t *bias, const int32_t *mult,
                                                       const int32_t *shift, int8_t *y8, int32_t *y32,
                                                       size_t ldy)
{
    for (int32_t j = 0; j < nb; j += 16) {
        const __mmask16 m = nb - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nb - j)) - 1u);
        const __m512i b = bias ? _mm512_maskz_loadu_epi32(m, bias + j) : _mm512_setzero_si512();
        thm_avx512_rq q;
        if (!y32)
            thm_avx512_rq_prep(&q, _mm512_maskz_loadu_epi32(m, mult + j), _mm512_maskz_loadu_epi32(m, shift + j));
        for (int32_t i = 0; i < mr; i++) {
            const __m512i v = _mm512_add_epi32(
                _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, tmp + i * THM_S4_LDT + j), _mm512_set1_epi32(corr[i])),
                b);
            if (y32) _mm512_mask_storeu_epi32(y32 + i * ldy + j, m, v);
            else _mm512_mask_cvtsepi32_storeu_epi8(y8 + i * ldy + j, m, thm_avx512_rq_apply(v, &q));
        }
    }
}

/* AVX2 tile: out[i][j] = sum_k (w[j][k] + 8) x[i][k], i < MR, j < NR (4 or 8
 * lanes stored per out row). 32 bytes of a weight row (64 k) a step: u = b ^
 * 0x88 holds both nibbles + 8; its low nibbles (and) and high ones (shift,
 * and) are the unsigned side of vpmaddubsw against x's even and odd halves.
 * Pair sums are within [-3840, 3810], so the two products of a step add in
 * int16 (|sum| <= 7680) before vpmaddwd widens them: 9 instructions per 64 k
 * and row, against 12 for the int8 kernel's 64 k. The row's last partial
 * step reads a zero-padded copy (nothing past a row is read). */
THM_INLINE THM_TARGET_AVX2 void thm_s4_tile_avx2(const int8_t *xs, const uint8_t *w, size_t row, int32_t J,
                                                 const int MR, const int NR, int32_t *out)
{
    const __m256i m0f = _mm256_set1_epi8(0x0F), m88 = _mm256_set1_epi8((char)0x88);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[THM_S4_MR][8];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_si256();
    const int32_t J32 = J & ~31;
#define THM_S4_AVX2_STEP(u, jb)                                                                   \
    do {                                                                                          \
        const __m256i lo = _mm256_and_si256(u, m0f);                                              \
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(u, 4), m0f);                        \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                    \
            const int8_t *xi = xs + (size_t)i * THM_S4_XK + (jb);                                 \
            const __m256i p = _mm256_add_epi16(                                                   \
                _mm256_maddubs_epi16(lo, _mm256_load_si256((const __m256i *)(const void *)xi)),   \
                _mm256_maddubs_epi16(hi, _mm256_load_si256((const __m256i *)(const void *)(xi + THM_S4_XK / 2)))); \
            acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(p, ones));                 \
        }                                                                                         \
    } while (0)
    for (int32_t jb = 0; jb < J32; jb += 32) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            if (MR == 1 && (jb & 63) == 0)   /* GEMV: the same line THM_S4_PF rows on (a hint) */
                _mm_prefetch((const char *)((uintptr_t)(w + j * row + jb) + THM_S4_PF * row), _MM_HINT_T0);
            const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(w + j * row + jb)), m88);
            THM_S4_AVX2_STEP(u, jb);
        }
    }
    if (J32 < J) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            uint8_t t[32] __attribute__((aligned(32)));
            memset(t, 0, sizeof t);
            memcpy(t, w + j * row + J32, (size_t)(J - J32));
            const __m256i u = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(const void *)t), m88);
            THM_S4_AVX2_STEP(u, J32);
        }
    }
#undef THM_S4_AVX2_STEP
    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (NR <= 4) {
            _mm_storeu_si128((__m128i *)(void *)(out + i * THM_S4_LDT),
                             thm_avx2_reduce4(acc[i][0], NR > 1 ? acc[i][1] : z, NR > 2 ? acc[i][2] : z,
                                              NR > 3 ? acc[i][3] : z));
        } else {
#pragma GCC unroll 8
            for (int j = NR; j < 8; j++) acc[i][j] = z;
            _mm256_storeu_si256((__m256i *)(void *)(out + i * THM_S4_LDT), thm_avx2_reduce8(acc[i]));
        }
    }
}

/* AVX-512 tile: as the AVX2 one with 64 bytes (128 k) a step, and vpternlogd
 * doing xor-then-and in one instruction ((b ^ 8) & 15 per nibble; imm 0x28 is
 * (A ^ B) & C): 3 instructions decode 128 weights, two vpdpbusd use them per
 * row of x (no int16 step: vpdpbusd adds into int32 exactly). The last
 * partial step is a masked load: zero bytes, nibbles 8, against x's zero
 * padding. */
THM_INLINE THM_TARGET_AVX512VNNI void thm_s4_tile_vnni(const int8_t *xs, const uint8_t *w, size_t row,
                                                       int32_t J, const int MR, const int NR, int32_t *out)
{
    const __m512i m0f = _mm512_set1_epi8(0x0F), m08 = _mm512_set1_epi8(0x08);
    __m512i acc[THM_S4_MR][8];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_si512();
#define THM_S4_VNNI_STEP(b, jb)                                                                   \
    do {                                                                                          \
        const __m512i lo = _mm512_ternarylogic_epi32(b, m08, m0f, 0x28);                          \
        const __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(b, 4), m08, m0f, 0x28);    \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                    \
            const int8_t *xi = xs + (size_t)i * THM_S4_XK + (jb);                                 \
            acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], lo, _mm512_load_si512((const void *)xi));  \
            acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], hi, _mm512_load_si512((const void *)(xi + THM_S4_XK / 2))); \
        }                                                                                         \
    } while (0)
    const int32_t J64 = J & ~63;
    for (int32_t jb = 0; jb < J64; jb += 64) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            if (MR < 3)   /* GEMV: the same line THM_S4_PF rows on (a hint) */
                _mm_prefetch((const char *)((uintptr_t)(w + j * row + jb) + THM_S4_PF * row), _MM_HINT_T0);
            const __m512i b = _mm512_loadu_si512((const void *)(w + j * row + jb));
            THM_S4_VNNI_STEP(b, jb);
        }
    }
    if (J64 < J) {
        const __mmask64 km = (__mmask64)(~0ULL >> (64 - (J - J64)));
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            const __m512i b = _mm512_maskz_loadu_epi8(km, w + j * row + J64);
            THM_S4_VNNI_STEP(b, J64);
        }
    }
#undef THM_S4_VNNI_STEP
    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        __m256i h[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            h[j] = j < NR ? _mm256_add_epi32(_mm512_castsi512_si256(acc[i][j]), _mm512_extracti64x4_epi64(acc[i][j], 1))
                          : z;
        if (NR <= 4)
            _mm_storeu_si128((__m128i *)(void *)(out + i * THM_S4_LDT), thm_avx2_reduce4(h[0], h[1], h[2], h[3]));
        else
            _mm256_storeu_si256((__m256i *)(void *)(out + i * THM_S4_LDT), thm_avx2_reduce8(h));
    }
}

/* A strip: nb weight rows NR at a time, then one at a time. */
#define THM_S4_STRIP(isa, TARGET, MR_, NR_)                                                        \
    static TARGET void thm_s4_strip_##isa##_##MR_(const int8_t *xs, const uint8_t *w, size_t row,  \
                                                  int32_t J, int32_t nb, int32_t *tmp)             \
    {                                                                                              \
        int32_t n = 0;                                                                             \
        for (; n + NR_ <= nb; n += NR_) thm_s4_tile_##isa(xs, w + n * row, row, J, MR_, NR_, tmp + n); \
        for (; n < nb; n++) thm_s4_tile_##isa(xs, w + n * row, row, J, MR_, 1, tmp + n);          \
    }
/* registers: AVX2 MR * NR accumulators + 3 constants + 4 temporaries of 16;
 * AVX-512 MR * NR + 2 + 3 of 32 */
THM_S4_STRIP(avx2, THM_TARGET_AVX2, 1, 4)
THM_S4_STRIP(avx2, THM_TARGET_AVX2, 2, 4)
THM_S4_STRIP(avx2, THM_TARGET_AVX2, 3, 2)
THM_S4_STRIP(avx2, THM_TARGET_AVX2, 4, 2)
THM_S4_STRIP(vnni, THM_TARGET_AVX512VNNI, 1, 8)
THM_S4_STRIP(vnni, THM_TARGET_AVX512VNNI, 2, 8)
THM_S4_STRIP(vnni, THM_TARGET_AVX512VNNI, 3, 4)
THM_S4_STRIP(vnni, THM_TARGET_AVX512VNNI, 4, 4)

typedef void (*thm_s4_strip_fn)(const int8_t *xs, const uint8_t *w, size_t row, int32_t J, int32_t nb,
                                int32_t *tmp);
typedef void (*thm_s4_epilogue_fn)(const int32_t *tmp, const int32_t *corr, int32_t mr, int32_t nb,
                                   const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                   int8_t *y8, int32_t *y32, size_t ldy);
static const thm_s4_strip_fn thm_s4_strips_avx2[THM_S4_MR + 1] = {
    0, thm_s4_strip_avx2_1, thm_s4_strip_avx2_2, thm_s4_strip_avx2_3, thm_s4_strip_avx2_4};
static const thm_s4_strip_fn thm_s4_strips_vnni[THM_S4_MR + 1] = {
    0, thm_s4_strip_vnni_1, thm_s4_strip_vnni_2, thm_s4_strip_vnni_3, thm_s4_strip_vnni_4};

/* The decode path over one ISA's strips and epilogue (K <= THM_S4_XK). */
static void thm_s4_decode(const thm_s4_strip_fn *strips, thm_s4_epilogue_fn epilogue, const int8_t *x,
                          const uint8_t *w4, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                          int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    int8_t xs[THM_S4_MR][2][THM_S4_XK / 2] __attribute__((aligned(64)));
    int32_t tmp[THM_S4_MR * THM_S4_LDT] __attribute__((aligned(64)));
    int32_t corr[THM_S4_MR];
    const size_t row = (size_t)(K + 1) / 2;
    const int32_t J = (int32_t)row, Jp = (J + 63) & ~63;
    for (int32_t m0 = 0; m0 < M; m0 += THM_S4_MR) {
        const int32_t mr = M - m0 < THM_S4_MR ? M - m0 : THM_S4_MR;
        for (int32_t i = 0; i < mr; i++)   /* 8 sum x, the +8 on the nibbles (wraps as uint32) */
            corr[i] = (int32_t)(8u * (uint32_t)thm_s4_split_x(x + (size_t)(m0 + i) * K, K, xs[i][0], xs[i][1], Jp));
        for (int32_t n = 0; n < N; n += THM_S4_NB) {
            const int32_t nb = N - n < THM_S4_NB ? N - n : THM_S4_NB;
            strips[mr](&xs[0][0][0], w4 + (size_t)n * row, row, J, nb, tmp);
            const size_t off = (size_t)m0 * N + n;
            epilogue(tmp, corr, mr, nb, bias ? bias + n : 0, mult ? mult + n : 0, shift ? shift + n : 0,
                     y ? y + off : 0, y32 ? y32 + off : 0, (size_t)N);
        }
    }
}

static void thm_s4_nibbles_avx2(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    thm_s4_decode(thm_s4_strips_avx2, thm_s4_epilogue_avx2, x, w4, bias, mult, shift, y, y32, M, K, N);
}

static void thm_s4_nibbles_vnni(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    thm_s4_decode(thm_s4_strips_vnni, thm_s4_epilogue_vnni, x, w4, bias, mult, shift, y, y32, M, K, N);
}

/* The AVX-512 prefill path: int4 weights packed straight into the int8
 * kernel's VNNI panels (thm_vnni_matmul_packed_with, woff 8: the panel holds
 * w + 8 in [0, 15], and 8 sum x comes off every sum), so unpacking costs no
 * pass of its own. 32 bytes of a row (64 k) become 64 panel bytes in three
 * instructions: b ^ 0x88 (both nibbles + 8), zero-extended to words 0x00hl,
 * then (v | v << 4) & 0x0F0F = 0x0h0l, low nibble first, as k runs (vpternlogd
 * imm 0xA8 is (A | B) & C). The 16 x 16 dword transpose is the int8 packer's.
 * Bytes past the chunk load as 0 (nibbles 8): those k meet x = 0. */
static THM_TARGET_AVX512VNNI void thm_s4_pack_vnni(const uint8_t *w, size_t ldw, int32_t ncols, int32_t k0,
                                                   int32_t kc, uint8_t *P, const uint8_t *pf, int32_t pk,
                                                   int32_t pf_rows, int32_t pf_kc)
{
    const __m256i m88 = _mm256_set1_epi8((char)0x88);
    const __m512i m0f = _mm512_set1_epi8(0x0F);
    const int32_t nk4 = (kc + 3) / 4;
    for (int32_t v = 0; v < 4; v++) {
        for (int32_t kb = 0; kb < kc; kb += 64) {
            const int32_t nbytes = kc - kb >= 64 ? 32 : (kc - kb + 1) / 2;
            const __mmask32 km = (__mmask32)(~0u >> (32 - nbytes));
            __m512i r[16];
#pragma GCC unroll 16
            for (int c = 0; c < 16; c++) {
                const int32_t n = v * 16 + c;
                if (n < ncols) {
                    const __m512i a = _mm512_cvtepu8_epi16(
                        _mm256_xor_si256(_mm256_maskz_loadu_epi8(km, w + (size_t)n * ldw + (size_t)(k0 + kb) / 2), m88));
                    r[c] = _mm512_ternarylogic_epi32(a, _mm512_slli_epi16(a, 4), m0f, 0xA8);
                } else {
                    r[c] = _mm512_setzero_si512();
                }
                if (n < pf_rows && kb < pf_kc && (kb & 127) == 0)   /* a line is 128 k */
                    _mm_prefetch((const char *)(pf + (size_t)n * ldw + (size_t)(pk + kb) / 2), _MM_HINT_T1);
            }
            thm_vnni_transpose16(r);
            const int32_t ng = nk4 - kb / 4 < 16 ? nk4 - kb / 4 : 16;
            uint8_t *dst = P + ((size_t)(kb / 4) * 4 + (size_t)v) * 64;
            for (int32_t d = 0; d < ng; d++) _mm512_store_si512((void *)(dst + (size_t)d * 256), r[d]);
        }
    }
}

static void thm_s4_packed_vnni(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    thm_vnni_matmul_packed_with(thm_s4_pack_vnni, 8, x, w4, (size_t)(K + 1) / 2, bias, mult, shift, y, y32, M,
                                K, N);
}

/* AVX2: prefill through the int8 matmul on unpacked chunks, decode on
 * nibbles; K past both limits takes the portable C. */
static void thm_s4_avx2(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (M >= THM_S4_UNPACK_MIN_M && K <= THM_S4_WBUF)
        thm_s4_by_unpacking(thm_matmul_s8_avx2, thm_matmul_s8_s32_avx2, x, w4, bias, mult, shift, y, y32, M, K, N);
    else if (K <= THM_S4_XK)
        thm_s4_nibbles_avx2(x, w4, bias, mult, shift, y, y32, M, K, N);
    else if (y32)
        thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
    else
        thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
}

/* AVX-512: prefill on packed panels (any K), decode on nibbles */
static void thm_s4_avx512vnni(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (M >= THM_S4_UNPACK_MIN_M)
        thm_s4_packed_vnni(x, w4, bias, mult, shift, y, y32, M, K, N);
    else if (K <= THM_S4_XK)
        thm_s4_nibbles_vnni(x, w4, bias, mult, shift, y, y32, M, K, N);
    else if (y32)
        thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
    else
        thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
}

THM_MATMUL_S4_ENTRIES(avx2, thm_s4_avx2)
THM_MATMUL_S4_ENTRIES(avx512vnni, thm_s4_avx512vnni)
