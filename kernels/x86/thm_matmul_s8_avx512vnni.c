/* AVX-512 VNNI int8 matmul: y[M, N] = x[M, K] . w[N, K]^T (+ bias), int32 or
 * requantized int8 out. docs/kernels-x86.md has the design and the figures.
 *
 * Exact for every int8 input: vpdpbusd multiplies unsigned by signed bytes and
 * adds four products to an int32 lane without saturating (the non-"s" form).
 * Weights enter as u = w + 128 (w ^ 0x80, in [0, 255]), activations as they
 * are, so a lane sums (w + 128) * x and the result is
 *     x . w = sum_k (w_k + 128) x_k - 128 * sum_k x_k,
 * with the row sum of x computed once per row (vpsadbw). Every step is int32
 * arithmetic modulo 2^32 and the true result fits in int32 (|x . w| <= 2^30
 * for K <= 65536), so the wrapped sum is the exact one; a bias wraps like the
 * reference.
 *
 * Two paths:
 *  - packed (M >= THM_VNNI_PACK_MIN_M): a panel of 64 output channels by up to
 *    THM_VNNI_KC k is packed on the stack as [k/4][4 vectors][16 channels][4 k]
 *    bytes (one 16 x 16 dword transpose per 64 k of 16 rows, with the next
 *    panel prefetched into L2 meanwhile), then a 6 x 64 register tile (24
 *    accumulators + 4 weight vectors of the 32 zmm) multiplies it with four
 *    bytes of a row of x broadcast to every lane (vpdpbusd's embedded
 *    broadcast): one lane per output channel, so no horizontal sums, and the
 *    epilogue (correction, bias, requantization) works on whole vectors of
 *    channels. K past THM_VNNI_KC goes in chunks whose partial sums wait in
 *    a stack buffer.
 *  - dot (M < THM_VNNI_PACK_MIN_M, the decode GEMV included): no packing; MR
 *    rows of x against NR rows of w, 64 k per step, 16-lane partial sums
 *    reduced once at the end of K, weights prefetched a few rows ahead.
 *    Packing costs about as much as it saves below M = 16 (measured).
 *
 * Stack: packed path 32 KiB panel + 16 KiB partial sums + 1 KiB row sums;
 * dot path a [4][72] int32 strip. No other memory.
 */
#include <immintrin.h>
#include <string.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define THM_VNNI THM_TARGET_AVX512VNNI

#define THM_VNNI_PACK_MIN_M 16  /* smallest M for the packed path (measured crossover) */
#define THM_VNNI_MR 6           /* rows of x per packed tile: 24 accumulators + 4 */
#define THM_VNNI_NB 64          /* panel width: 4 vectors of 16 channels */
#define THM_VNNI_KC 512         /* panel depth (multiple of 64): 32 KiB panel */
#define THM_VNNI_MC_ONE 256     /* rows per row block when K fits one panel */
#define THM_VNNI_MC_PART 64     /* rows per row block with partial sums (16 KiB) */
#define THM_VNNI_DOT_MR 4       /* dot path tile: rows of x ... */
#define THM_VNNI_DOT_NB 64      /* ... strip width (a multiple of every NR) */
#define THM_VNNI_DOT_LDT (THM_VNNI_DOT_NB + 8)
#define THM_VNNI_DOT_PF 8       /* rows of w prefetched ahead: +10% on a 4 MiB GEMV */

#define THM_V512(p) ((const void *)(p))

/* off * sum_k x[k], the correction for the +off on the weights (128 for
 * int8 weights, 8 for the int4 ones of thm_matmul_s4_x86.c). */
static THM_VNNI int32_t thm_vnni_x_correction(const int8_t *r, int32_t K, int32_t off)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i s = _mm512_setzero_si512();
    int32_t k = 0;
    for (; k + 64 <= K; k += 64) {
        const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(THM_V512(r + k)), flip);
        s = _mm512_add_epi64(s, _mm512_sad_epu8(u, _mm512_setzero_si512()));
    }
    if (k < K) {   /* bytes past K read as 0x80, which the flip turns into 0 */
        const __mmask64 m = (__mmask64)(~0ULL >> (64 - (K - k)));
        const __m512i u = _mm512_xor_si512(_mm512_mask_loadu_epi8(flip, m, r + k), flip);
        s = _mm512_add_epi64(s, _mm512_sad_epu8(u, _mm512_setzero_si512()));
    }
    /* sum of (x + 128) over K, minus 128 K: |sum x| <= 2^23, so off * sum x fits */
    const int64_t sum = (int64_t)_mm512_reduce_add_epi64(s) - 128 * (int64_t)K;
    return (int32_t)(sum * off);
}

/* --- packed path --------------------------------------------------------- */

/* Panel P[k4][v][16][4] (k4 < ceil(kc / 4), v < 4) of u8 = w + 128 for the
 * channels w[0 .. ncols) and k in [k0, k0 + kc); 0 (a zero product) wherever
 * the channel or k is outside. Every byte read is inside w (masked loads).
 * (A thm_vnni_pack_f: pf is the first row to prefetch, from its k pk.) */
static THM_VNNI void thm_vnni_pack(const uint8_t *w8, size_t ldw, int32_t ncols, int32_t k0,
                                   int32_t kc, uint8_t *P, const uint8_t *pf8, int32_t pk,
                                   int32_t pf_rows, int32_t pf_kc)
{
    const int8_t *w = (const int8_t *)w8, *pf = (const int8_t *)pf8 + pk;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int32_t nk4 = (kc + 3) / 4;
    for (int32_t v = 0; v < 4; v++) {
        for (int32_t kb = 0; kb < kc; kb += 64) {
            const int32_t rem = kc - kb;
            const __mmask64 km = rem >= 64 ? ~(__mmask64)0 : (__mmask64)(~0ULL >> (64 - rem));
            __m512i r[16];
#pragma GCC unroll 16
            for (int c = 0; c < 16; c++) {
                const int32_t n = v * 16 + c;
                r[c] = n < ncols
                       ? _mm512_xor_si512(_mm512_mask_loadu_epi8(flip, km, w + (size_t)n * ldw + k0 + kb), flip)
                       : _mm512_setzero_si512();
                if (n < pf_rows && kb < pf_kc)
                    _mm_prefetch((const char *)(pf + (size_t)n * ldw + kb), _MM_HINT_T1);
            }
            thm_vnni_transpose16(r);
            const int32_t ng = nk4 - kb / 4 < 16 ? nk4 - kb / 4 : 16;
            uint8_t *dst = P + ((size_t)(kb / 4) * 4 + (size_t)v) * 64;
            for (int32_t d = 0; d < ng; d++) _mm512_store_si512((void *)(dst + (size_t)d * 256), r[d]);
        }
    }
}

/* Rows x[0 .. MR) (stride ldx) times the panel over [k0, k0 + kc). cin: partial
 * sums to start from ([MR][64], or 0); cout: where to leave them, or 0 to
 * finish (correction, bias, requantize) into o at rows 0 .. MR. */
THM_INLINE THM_VNNI void thm_vnni_panel_tile(const int8_t *x, size_t ldx, int32_t k0, int32_t kc,
                                             const uint8_t *P, const int MR, const int32_t *cin,
                                             int32_t *cout, const int32_t *corr,
                                             const thm_vnni_out *o)
{
    __m512i acc[THM_VNNI_MR][4];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc[i][v] = cin ? _mm512_loadu_si512(THM_V512(cin + i * THM_VNNI_NB + 16 * v))
                            : _mm512_setzero_si512();

    const int32_t full = kc / 4;
    const int8_t *xk = x + k0;
    for (int32_t k4 = 0; k4 < full; k4++) {
        const uint8_t *p = P + (size_t)k4 * 256;
        const __m512i w0 = _mm512_load_si512(THM_V512(p));
        const __m512i w1 = _mm512_load_si512(THM_V512(p + 64));
        const __m512i w2 = _mm512_load_si512(THM_V512(p + 128));
        const __m512i w3 = _mm512_load_si512(THM_V512(p + 192));
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            int32_t q;
            memcpy(&q, xk + i * ldx + 4 * k4, 4);
            const __m512i xb = _mm512_set1_epi32(q);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], w0, xb);
            acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], w1, xb);
            acc[i][2] = _mm512_dpbusd_epi32(acc[i][2], w2, xb);
            acc[i][3] = _mm512_dpbusd_epi32(acc[i][3], w3, xb);
        }
    }
    if (full * 4 < kc) {   /* last 1..3 k of K: copy them, nothing past a row is read */
        const uint8_t *p = P + (size_t)full * 256;
        const size_t rem = (size_t)(kc - full * 4);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            int32_t q = 0;
            memcpy(&q, xk + i * ldx + 4 * full, rem);
            const __m512i xb = _mm512_set1_epi32(q);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], _mm512_load_si512(THM_V512(p + 64 * v)), xb);
        }
    }

    if (cout) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                _mm512_storeu_si512((void *)(cout + i * THM_VNNI_NB + 16 * v), acc[i][v]);
        return;
    }
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        if (16 * v >= o->ncols) break;
        __m512i col[THM_VNNI_MR];
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) col[i] = acc[i][v];
        thm_vnni_finish(col, corr, MR, o, 16 * v);
    }
}

#define THM_VNNI_PANEL(MR_)                                                                  \
    static THM_VNNI void thm_vnni_panel_##MR_(const int8_t *x, size_t ldx, int32_t k0,       \
                                              int32_t kc, const uint8_t *P, const int32_t *cin, \
                                              int32_t *cout, const int32_t *corr,            \
                                              const thm_vnni_out *o)                         \
    {                                                                                        \
        thm_vnni_panel_tile(x, ldx, k0, kc, P, MR_, cin, cout, corr, o);                     \
    }
THM_VNNI_PANEL(1)
THM_VNNI_PANEL(2)
THM_VNNI_PANEL(3)
THM_VNNI_PANEL(4)
THM_VNNI_PANEL(5)
THM_VNNI_PANEL(6)

typedef void (*thm_vnni_panel_fn)(const int8_t *x, size_t ldx, int32_t k0, int32_t kc,
                                  const uint8_t *P, const int32_t *cin, int32_t *cout,
                                  const int32_t *corr, const thm_vnni_out *o);
static const thm_vnni_panel_fn thm_vnni_panels[THM_VNNI_MR + 1] = {
    0, thm_vnni_panel_1, thm_vnni_panel_2, thm_vnni_panel_3,
    thm_vnni_panel_4, thm_vnni_panel_5, thm_vnni_panel_6};

/* The packed path over a panel packer: pack (w's bytes, ld bytes a row)
 * brings u8 = w + woff, and woff * sum x is taken off every sum; int8 weights
 * are thm_vnni_pack with woff 128; thm_matmul_s4_x86.c packs int4 weights
 * (woff 8) into the same panels. */
THM_VNNI void thm_vnni_matmul_packed_with(thm_vnni_pack_f *pack, int32_t woff, const int8_t *x,
                                          const uint8_t *w, size_t ld, const int32_t *bias,
                                          const int32_t *mult, const int32_t *shift, int8_t *y8,
                                          int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    _Alignas(64) uint8_t P[THM_VNNI_KC * THM_VNNI_NB];   /* [KC/4][4][16][4] packed u8 panel */
    int32_t part[THM_VNNI_MC_PART * THM_VNNI_NB];        /* [MC][64] partial sums over K */
    int32_t corr[THM_VNNI_MC_ONE];                       /* [MC] woff * rowsum(x) */
    const int one_chunk = K <= THM_VNNI_KC;
    const int32_t Mc = one_chunk ? THM_VNNI_MC_ONE : THM_VNNI_MC_PART;

    for (int32_t m0 = 0; m0 < M; m0 += Mc) {
        const int32_t mc = M - m0 < Mc ? M - m0 : Mc;
        for (int32_t i = 0; i < mc; i++) corr[i] = thm_vnni_x_correction(x + (size_t)(m0 + i) * K, K, woff);
        for (int32_t n0 = 0; n0 < N; n0 += THM_VNNI_NB) {
            thm_vnni_out o;
            o.ncols = N - n0 < THM_VNNI_NB ? N - n0 : THM_VNNI_NB;
            o.bias = bias ? bias + n0 : 0;
            o.mult = mult ? mult + n0 : 0;
            o.shift = shift ? shift + n0 : 0;
            o.ldy = (size_t)N;
            for (int32_t k0 = 0; k0 < K; k0 += THM_VNNI_KC) {
                const int32_t kc = K - k0 < THM_VNNI_KC ? K - k0 : THM_VNNI_KC;
                const int first = k0 == 0, last = k0 + kc == K;
                /* the next panel's weights are fetched into L2 while this one
                 * is packed: they are used ~M * 64 * kc MACs later (+10 to 25%
                 * when w comes from L3, measured at N = 8192) */
                int32_t pn = n0, pk = k0 + kc;
                if (last) { pn = n0 + THM_VNNI_NB; pk = 0; }
                const int32_t pf_rows = pn < N ? (N - pn < THM_VNNI_NB ? N - pn : THM_VNNI_NB) : 0;
                const int32_t pf_kc = K - pk < THM_VNNI_KC ? K - pk : THM_VNNI_KC;
                pack(w + (size_t)n0 * ld, ld, o.ncols, k0, kc, P, pf_rows ? w + (size_t)pn * ld : w,
                     pf_rows ? pk : 0, pf_rows, pf_kc);
                for (int32_t m = 0; m < mc; m += THM_VNNI_MR) {
                    const int32_t mr = mc - m < THM_VNNI_MR ? mc - m : THM_VNNI_MR;
                    const size_t off = (size_t)(m0 + m) * N + n0;
                    o.y8 = y8 ? y8 + off : 0;
                    o.y32 = y32 ? y32 + off : 0;
                    int32_t *pm = part + (size_t)m * THM_VNNI_NB;
                    thm_vnni_panels[mr](x + (size_t)(m0 + m) * K, (size_t)K, k0, kc, P,
                                        first ? 0 : pm, last ? 0 : pm, corr + m, &o);
                }
            }
        }
    }
}

/* --- dot path ------------------------------------------------------------ */

/* out[i][j] = sum_k (w[j][k] + 128) x[i][k] for i < MR, j < NR (4 or 8 lanes
 * stored per out row). */
THM_INLINE THM_VNNI void thm_vnni_dot_tile(const int8_t *x, size_t ldx, const int8_t *w,
                                           size_t ldw, int32_t K, const int MR, const int NR,
                                           int32_t *out)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc[THM_VNNI_DOT_MR][8], wv[8];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_si512();

    const int32_t K64 = K & ~63;
    if (K64 < K) {   /* K tail first: masked loads, x is 0 past K */
        const __mmask64 m = (__mmask64)(~0ULL >> (64 - (K - K64)));
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++)
            wv[j] = _mm512_xor_si512(_mm512_mask_loadu_epi8(flip, m, w + j * ldw + K64), flip);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512i xv = _mm512_maskz_loadu_epi8(m, x + i * ldx + K64);
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], wv[j], xv);
        }
    }
    for (int32_t k = 0; k < K64; k += 64) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            /* the same line THM_VNNI_DOT_PF rows on (a hint: never faults, even past w) */
            _mm_prefetch((const char *)((uintptr_t)(w + j * ldw + k) + THM_VNNI_DOT_PF * ldw),
                         _MM_HINT_T0);
            wv[j] = _mm512_xor_si512(_mm512_loadu_si512(THM_V512(w + j * ldw + k)), flip);
        }
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512i xv = _mm512_loadu_si512(THM_V512(x + i * ldx + k));
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], wv[j], xv);
        }
    }

    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        __m256i h[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            h[j] = j < NR ? _mm256_add_epi32(_mm512_castsi512_si256(acc[i][j]),
                                             _mm512_extracti64x4_epi64(acc[i][j], 1))
                          : z;
        if (NR <= 4)
            _mm_storeu_si128((__m128i *)(void *)(out + i * THM_VNNI_DOT_LDT),
                             thm_avx2_reduce4(h[0], h[1], h[2], h[3]));
        else
            _mm256_storeu_si256((__m256i *)(void *)(out + i * THM_VNNI_DOT_LDT), thm_avx2_reduce8(h));
    }
}

#define THM_VNNI_DOT_STRIP(MR_, NR_)                                                         \
    static THM_VNNI void thm_vnni_dot_strip_##MR_(const int8_t *x, const int8_t *w,          \
                                                  int32_t K, int32_t nb, int32_t *tmp)       \
    {                                                                                        \
        const size_t ld = (size_t)K;                                                         \
        int32_t n = 0;                                                                       \
        for (; n + NR_ <= nb; n += NR_)                                                      \
            thm_vnni_dot_tile(x, ld, w + n * ld, ld, K, MR_, NR_, tmp + n);                  \
        for (; n < nb; n++) thm_vnni_dot_tile(x, ld, w + n * ld, ld, K, MR_, 1, tmp + n);    \
    }
/* registers: MR * NR accumulators + NR weights + one x, of 32 */
THM_VNNI_DOT_STRIP(1, 8)
THM_VNNI_DOT_STRIP(2, 8)
THM_VNNI_DOT_STRIP(3, 4)
THM_VNNI_DOT_STRIP(4, 4)

typedef void (*thm_vnni_dot_fn)(const int8_t *x, const int8_t *w, int32_t K, int32_t nb,
                                int32_t *tmp);
static const thm_vnni_dot_fn thm_vnni_dot_strips[THM_VNNI_DOT_MR + 1] = {
    0, thm_vnni_dot_strip_1, thm_vnni_dot_strip_2, thm_vnni_dot_strip_3, thm_vnni_dot_strip_4};

static THM_VNNI void thm_vnni_matmul_dot(const int8_t *x, const int8_t *w, const int32_t *bias,
                                         const int32_t *mult, const int32_t *shift,
                                         int8_t *y8, int32_t *y32,
                                         int32_t M, int32_t K, int32_t N)
{
    int32_t tmp[THM_VNNI_DOT_MR * THM_VNNI_DOT_LDT];   /* [MR][NB + 8] raw sums of a strip */
    int32_t corr[THM_VNNI_DOT_MR];
    for (int32_t m = 0; m < M; m += THM_VNNI_DOT_MR) {
        const int32_t mr = M - m < THM_VNNI_DOT_MR ? M - m : THM_VNNI_DOT_MR;
        const int8_t *xm = x + (size_t)m * K;
        for (int32_t i = 0; i < mr; i++) corr[i] = thm_vnni_x_correction(xm + (size_t)i * K, K, 128);
        for (int32_t n = 0; n < N; n += THM_VNNI_DOT_NB) {
            thm_vnni_out o;
            o.ncols = N - n < THM_VNNI_DOT_NB ? N - n : THM_VNNI_DOT_NB;
            o.bias = bias ? bias + n : 0;
            o.mult = mult ? mult + n : 0;
            o.shift = shift ? shift + n : 0;
            o.ldy = (size_t)N;
            o.y8 = y8 ? y8 + (size_t)m * N + n : 0;
            o.y32 = y32 ? y32 + (size_t)m * N + n : 0;
            thm_vnni_dot_strips[mr](xm, w + (size_t)n * K, K, o.ncols, tmp);
            for (int32_t j = 0; j < o.ncols; j += 16) {
                __m512i col[THM_VNNI_DOT_MR];
                for (int32_t i = 0; i < THM_VNNI_DOT_MR; i++)
                    col[i] = _mm512_loadu_si512(THM_V512(tmp + i * THM_VNNI_DOT_LDT + j));
                switch (mr) {
                case 1: thm_vnni_finish(col, corr, 1, &o, j); break;
                case 2: thm_vnni_finish(col, corr, 2, &o, j); break;
                case 3: thm_vnni_finish(col, corr, 3, &o, j); break;
                default: thm_vnni_finish(col, corr, 4, &o, j); break;
                }
            }
        }
    }
}

/* --- entry points -------------------------------------------------------- */

static THM_VNNI void thm_vnni_matmul(const int8_t *x, const int8_t *w, const int32_t *bias,
                                     const int32_t *mult, const int32_t *shift, int8_t *y8,
                                     int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    if (M >= THM_VNNI_PACK_MIN_M)
        thm_vnni_matmul_packed_with(thm_vnni_pack, 128, x, (const uint8_t *)w, (size_t)K, bias, mult, shift,
                                    y8, y32, M, K, N);
    else thm_vnni_matmul_dot(x, w, bias, mult, shift, y8, y32, M, K, N);
}

THM_MATMUL_ENTRIES(avx512vnni, thm_vnni_matmul)
