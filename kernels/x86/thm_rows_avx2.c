/* AVX2 forms of the per-row kernels around the matmul: softmax_q15 rows (no
 * mask), rmsnorm (int8 and int16 rows), the gated residual, RoPE, requantize
 * and the P.V digit recombination. Host build only: the AVX2 ops table's
 * entries (thm_isa.c), so with THIMBLE_ISA=avx2 prefill no longer spends
 * most of its time in portable C around the AVX2 matmul (issue 16). Each
 * entry gives the same bits as its portable kernel (kernels/src) for every
 * input; the arguments are already checked. AVX2 has no masked loads of
 * bytes or words, so each loop runs whole vectors and leaves the last
 * (n mod width) elements to the scalar formula of thm_fixedpoint.h, which is
 * the portable kernel's own arithmetic.
 *
 * Why each vector form is exact:
 *  - requantize is thm_avx2_rq_apply (thm_x86_simd.h, exact for all inputs);
 *  - softmax: top - s is formed in uint32 lanes (exact: both are int32 and
 *    top >= s). z = thm_requantize_pos with its two roundings as one exact
 *    64-bit floor (vpmuludq; see exp_terms8); a lane past diff_max is sent
 *    to z = 4095, whose exp is 0 like the portable row's. exp: one gather
 *    from a table of thm_exp_q15 over all 4096 z it covers, filled from
 *    thm_exp_q15 itself when the library loads (so it cannot differ from the
 *    portable exp). Rows longer than THM_SOFTMAX_ROW_MAX_N go to the portable
 *    kernel (their sum needs 64 bits); shorter rows' uint32 lane sums cannot
 *    wrap (n * 2^15 < 2^31). p = (e * inv + 2^30) >> 31 with e <= 2^15,
 *    inv <= 2^31 is computed in 16-bit lanes from inv's two halves (see
 *    softmax_row_avx2), exactly;
 *  - rmsnorm: the sum of squares is exact (int8: 16-bit pair sums <= 2^15 in
 *    int32 lanes; int16: a pair sum of squares can be 2^31, so each madd lane
 *    is read as uint32 and widened to 64 bits). Rows whose 2^46 / rms exceeds
 *    INT32_MAX go to the scalar formula, like the portable kernel; otherwise
 *    |x * inv| < 2^15 * 2^31, so n = (x * inv + 2^14) >> 15 lies in int32,
 *    and it is formed from inv's two 15-bit parts in int32 lanes (see
 *    rms_scale8);
 *  - residual: g clamped to [-2^16, 2^16] like the portable kernel, so the
 *    int32 sum r + g saturates to int16 (vpackssdw) exactly as the exact sum;
 *  - rope: x1 c - x2 s is vpmaddwd of (x1, -x2) with (c, s): -x2 <= 128 fits
 *    int16 (negating s instead would overflow at s = -32768), and each pair
 *    sum is below 2^24, so the int32 lanes are exact;
 *  - pv_combine: the digit sums in wrapping 32-bit lanes, as the scalar
 *    uint32 form. */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define T2 THM_TARGET_AVX2

static inline T2 __m256i load8_s32(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

static inline T2 void store8_s32(int32_t *p, __m256i v) { _mm256_storeu_si256((__m256i *)(void *)p, v); }

/* 8 int8 -> 8 int32 lanes. */
static inline T2 __m256i load8_s8(const int8_t *p)
{
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

/* 8 int16 -> 8 int32 lanes. */
static inline T2 __m256i load8_s16(const int16_t *p)
{
    return _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* sat16 of 8 int32 lanes, stored to 8 int16. */
static inline T2 void store8_sat16(int16_t *p, __m256i v)
{
    const __m128i s = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storeu_si128((__m128i *)(void *)p, s);
}

/* Horizontal helpers. */
static inline T2 int32_t hmax8(__m256i v)
{
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return _mm_cvtsi128_si32(m);
}

static inline T2 int32_t hmin8(__m256i v)
{
    __m128i m = _mm_min_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_min_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_min_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return _mm_cvtsi128_si32(m);
}

static inline T2 uint64_t hsum4_u64(__m256i v)
{
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

/* ---- requantize ---------------------------------------------------------- */

T2 void thm_requantize_s32_avx2(const int32_t *in, const int32_t *mult, const int32_t *shift, int32_t *out,
                                int32_t n)
{
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        store8_s32(out + i, thm_avx2_requantize(load8_s32(in + i), load8_s32(mult + i), load8_s32(shift + i)));
    for (; i < n; i++) out[i] = thm_requantize(in[i], mult[i], shift[i]);
}

/* ---- softmax rows -------------------------------------------------------- */

/* thm_exp_q15(z) for every z the tables cover (16 KiB), filled once when the
 * library loads (before any caller can run): one gather a vector of terms
 * instead of two table lookups, a 32-bit multiply and its rounding. */
static uint32_t exp_q15_all[THM_EXP_HI_LEN << THM_EXP_FRAC_BITS];

__attribute__((constructor)) static void exp_q15_all_fill(void)
{
    for (int32_t z = 0; z < (THM_EXP_HI_LEN << THM_EXP_FRAC_BITS); z++) exp_q15_all[z] = thm_exp_q15(z);
}

/* The exp terms of 8 distances d = top - s: thm_requantize_pos, then
 * thm_exp_q15 (lanes past diff_max give 0). With x = d << left, the two
 * roundings of thm_requantize_pos are one: (floor((x m + 2^30) / 2^31) +
 * half) >> right = floor((x m + C) / 2^(31 + right)), C = 2^30 + half 2^31
 * (floor(floor(a / b) / c) = floor(a / (b c)); x m < 2^62 and C < 2^62, so
 * the 64-bit sum is exact). Even lanes take it with one shift (z < 2^31: the
 * high dword is 0); odd lanes need z in their high dword, which one shift by
 * right - 1 gives (the low dword's garbage is dropped by the blend). A lane
 * past diff_max, where (d << left) may have wrapped, is forced to z = 4095,
 * whose term is 0 (thm_exp_hi is 0 from 12: the table ends in zeros), so the
 * gather needs no mask. */
static inline __attribute__((always_inline)) T2 __m256i exp_terms8(__m256i d, __m256i dmax1, __m128i left,
                                                                 __m128i zsh, __m128i osh, const int right0,
                                                                 const int check, __m256i vmult, __m256i vc)
{
    const __m256i zlast = _mm256_set1_epi32((THM_EXP_HI_LEN << THM_EXP_FRAC_BITS) - 1);
    const __m256i x = right0 ? _mm256_sll_epi32(d, left) : d;   /* a right shift leaves no left one */
    const __m256i even = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epu32(x, vmult), vc), zsh);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x, 32), vmult), vc);
    odd = right0 ? _mm256_slli_epi64(odd, 1) : _mm256_srl_epi64(odd, osh);
    __m256i z = _mm256_blend_epi32(even, odd, 0xAA);
    if (check) z = _mm256_or_si256(z, _mm256_cmpeq_epi32(_mm256_max_epu32(d, dmax1), d));   /* d > diff_max */
    return _mm256_i32gather_epi32((const int *)(const void *)exp_q15_all, _mm256_min_epu32(z, zlast), 4);
}

/* e[j] for the row's whole vectors -> their lane sums; right0 (no right
 * shift) and check (some distance may pass diff_max) are constants where
 * this is inlined, so each of the four loops carries only its own steps. */
static inline __attribute__((always_inline)) T2 __m256i exp_pass(const int32_t *s, uint32_t *e, int32_t nv,
                                                              __m256i vtop, __m256i dmax1, __m128i left,
                                                              __m128i zsh, __m128i osh, const int right0,
                                                              const int check, __m256i vmult, __m256i vc)
{
    __m256i acc = _mm256_setzero_si256();
    for (int32_t j = 0; j < nv; j += 8) {
        const __m256i ev = exp_terms8(_mm256_sub_epi32(vtop, load8_s32(s + j)), dmax1, left, zsh, osh, right0,
                                      check, vmult, vc);
        store8_s32((int32_t *)e + j, ev);
        acc = _mm256_add_epi32(acc, ev);
    }
    return acc;
}

static T2 void softmax_row_avx2(const int32_t *s, int16_t *p, int32_t n, int32_t mult, int32_t shift,
                                int32_t diff_max, uint32_t *e)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const uint32_t half = right ? (uint32_t)1 << (right - 1) : 0;
    const __m128i vleft = _mm_cvtsi32_si128(left), zsh = _mm_cvtsi32_si128(31 + right);
    const __m128i osh = _mm_cvtsi32_si128(right > 0 ? right - 1 : 0);
    const __m256i vmult = _mm256_set1_epi32(mult);
    const __m256i vc = _mm256_set1_epi64x((int64_t)(((uint64_t)1 << 30) + ((uint64_t)half << 31)));
    const __m256i dmax1 = _mm256_set1_epi32((int32_t)((uint32_t)diff_max + 1));   /* <= 2^31 */
    const int32_t nv = n & ~7;

    int32_t top = s[0], low = s[0];
    if (nv) {
        __m256i vmax = load8_s32(s), vmin = vmax;
        for (int32_t j = 8; j < nv; j += 8) {
            const __m256i v = load8_s32(s + j);
            vmax = _mm256_max_epi32(vmax, v);
            vmin = _mm256_min_epi32(vmin, v);
        }
        top = hmax8(vmax);
        low = hmin8(vmin);
    }
    for (int32_t j = nv; j < n; j++) top = s[j] > top ? s[j] : top;
    /* the whole vectors' largest distance (exact in uint32: top >= low);
     * within diff_max, no lane needs the check */
    const int check = (uint32_t)top - (uint32_t)low > (uint32_t)diff_max;

    const __m256i vtop = _mm256_set1_epi32(top);
    __m256i acc;
    if (right == 0)
        acc = check ? exp_pass(s, e, nv, vtop, dmax1, vleft, zsh, osh, 1, 1, vmult, vc)
                    : exp_pass(s, e, nv, vtop, dmax1, vleft, zsh, osh, 1, 0, vmult, vc);
    else
        acc = check ? exp_pass(s, e, nv, vtop, dmax1, vleft, zsh, osh, 0, 1, vmult, vc)
                    : exp_pass(s, e, nv, vtop, dmax1, vleft, zsh, osh, 0, 0, vmult, vc);
    /* lane sums < 2^31 (n <= THM_SOFTMAX_ROW_MAX_N): the row's total as uint32 */
    const __m256i wide = _mm256_add_epi64(_mm256_and_si256(acc, _mm256_set1_epi64x(0xFFFFFFFF)),
                                          _mm256_srli_epi64(acc, 32));
    uint32_t total = (uint32_t)hsum4_u64(wide);
    const uint32_t zmax = (uint32_t)THM_EXP_HI_LEN << THM_EXP_FRAC_BITS;
    for (int32_t j = nv; j < n; j++) {
        const uint32_t diff = (uint32_t)top - (uint32_t)s[j];
        uint32_t ej = 0;
        if (diff <= (uint32_t)diff_max) {
            const uint32_t z = thm_requantize_pos(diff, (uint32_t)mult, left, right, half);
            if (z < zmax) ej = thm_exp_q15((int32_t)z);
        }
        e[j] = ej;
        total += ej;
    }

    const uint32_t inv = (uint32_t)(((uint64_t)1 << 46) / total);   /* total >= 2^15: inv <= 2^31 */
    /* p = (e inv + 2^30) >> 31 in 16-bit lanes, 16 at a time (e <= 2^15 and
     * p <= 2^15 fit uint16): with inv = ih 2^16 + il, the nested-floor
     * identity gives p = (e ih + B) >> 15, B = ((e il) >> 16) + 2^14 < 2^16;
     * e ih = Ah 2^16 + Al (vpmulhuw, vpmullw), so p = 2 Ah + ((Al + B) >> 15)
     * and (Al + B) >> 15 = floor((Al + B) / 2) >> 14, the halving sum being
     * vpavgw's rounded-up one less the odd bit. */
    const __m256i vih = _mm256_set1_epi16((int16_t)(uint16_t)(inv >> 16));
    const __m256i vil = _mm256_set1_epi16((int16_t)(uint16_t)(inv & 0xFFFF));
    const __m256i b14 = _mm256_set1_epi16(1 << 14), one = _mm256_set1_epi16(1), pmax = _mm256_set1_epi16(32767);
    const int32_t nv16 = n & ~15;
    for (int32_t j = 0; j < nv16; j += 16) {
        const __m256i e16 = _mm256_permute4x64_epi64(
            _mm256_packus_epi32(load8_s32((const int32_t *)e + j), load8_s32((const int32_t *)e + j + 8)), 0xD8);
        const __m256i ah = _mm256_mulhi_epu16(e16, vih), al = _mm256_mullo_epi16(e16, vih);
        const __m256i bb = _mm256_add_epi16(_mm256_mulhi_epu16(e16, vil), b14);
        const __m256i half_sum = _mm256_sub_epi16(_mm256_avg_epu16(al, bb), _mm256_and_si256(_mm256_xor_si256(al, bb), one));
        const __m256i pv = _mm256_add_epi16(_mm256_add_epi16(ah, ah), _mm256_srli_epi16(half_sum, 14));
        _mm256_storeu_si256((__m256i *)(void *)(p + j), _mm256_min_epu16(pv, pmax));
    }
    for (int32_t j = nv16; j < n; j++) {
        const uint32_t pj = (uint32_t)(((uint64_t)e[j] * inv + ((uint64_t)1 << 30)) >> 31);
        p[j] = (int16_t)(pj > 32767 ? 32767 : pj);
    }
}

T2 void thm_softmax_q15_rows_avx2(const int32_t *s, int16_t *p, int32_t rows, int32_t n, int32_t mult,
                                  int32_t shift, int32_t diff_max, uint32_t *e)
{
    if (n > THM_SOFTMAX_ROW_MAX_N) {
        thm_softmax_q15_rows_portable(s, p, rows, n, mult, shift, diff_max, e);
        return;
    }
    for (int32_t r = 0; r < rows; r++)
        softmax_row_avx2(s + (size_t)r * n, p + (size_t)r * n, n, mult, shift, diff_max, e);
}

/* ---- rmsnorm ------------------------------------------------------------- */

/* floor(sqrt(v)) like thm_isqrt_u64, from the FPU's square root and an exact
 * integer correction: the host has an FPU, and the digit-by-digit root is
 * the bulk of a short row's cost (the QK-norm: 64-element rows). The double
 * estimate is within a few units; the loops end with r^2 <= v < (r + 1)^2
 * whatever it was, and r <= 2^32 - 1 keeps every product inside uint64. */
static inline uint64_t isqrt_host(uint64_t v)
{
    const uint64_t rmax = 0xFFFFFFFFu;
    const double f = _mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd((double)v)));   /* no errno path */
    uint64_t r = f >= (double)rmax ? rmax : (uint64_t)f;
    while (r * r > v) r--;
    while (r < rmax && (r + 1) * (r + 1) <= v) r++;
    return r;
}

/* thm_rms_inv (thm_fixedpoint.h) with isqrt_host. */
static inline int64_t rms_inv_host(int64_t ss, int32_t D, int64_t eps_q16)
{
    const uint64_t ms = ((uint64_t)ss << 16) / (uint64_t)D + (uint64_t)eps_q16; /* Q16 */
    uint64_t rms = isqrt_host(ms << 16);                                          /* Q16 */
    if (rms == 0) rms = 1;
    return (int64_t)(((uint64_t)1 << 46) / rms);
}

/* 16 elements of a row as int16 lanes. */
static inline T2 __m256i load16_s16(const void *x, int wide, int32_t i)
{
    if (wide) return _mm256_loadu_si256((const __m256i *)(const void *)((const int16_t *)x + i));
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)((const int8_t *)x + i)));
}

/* Exact sum of squares of one row (<= 4096 * 2^30 < 2^42). */
static inline T2 int64_t sum_squares(const void *x, int wide, int32_t D)
{
    const int32_t nv = D & ~15;
    int64_t ss = 0;
    if (wide) {
        /* a madd lane is up to 2 * 2^30 = 2^31: read it as uint32, sum in 64 bits */
        const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFF);
        __m256i acc = _mm256_setzero_si256();
        for (int32_t i = 0; i < nv; i += 16) {
            const __m256i v = load16_s16(x, 1, i);
            const __m256i sq = _mm256_madd_epi16(v, v);
            acc = _mm256_add_epi64(acc, _mm256_add_epi64(_mm256_and_si256(sq, lo32), _mm256_srli_epi64(sq, 32)));
        }
        ss = (int64_t)hsum4_u64(acc);
        for (int32_t i = nv; i < D; i++) ss += (int32_t)((const int16_t *)x)[i] * ((const int16_t *)x)[i];
    } else {
        /* int8: lanes reach (4096 / 16) * 2^15 = 2^23 */
        __m256i acc = _mm256_setzero_si256();
        for (int32_t i = 0; i < nv; i += 16) {
            const __m256i v = load16_s16(x, 0, i);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, v));
        }
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        ss = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
        for (int32_t i = nv; i < D; i++) ss += (int32_t)((const int8_t *)x)[i] * ((const int8_t *)x)[i];
    }
    return ss;
}

/* n = (x * inv + 2^14) >> 15 for 8 int32 lanes, |x| <= 2^15, inv <= INT32_MAX,
 * in 32-bit lanes: with inv = ih 2^15 + il (il < 2^15, ih < 2^16), the
 * nested-floor identity gives n = x ih + ((x il + 2^14) >> 15). x il is one
 * vpmaddwd (x sign-extended: its high half meets il's zero high half),
 * |x il| < 2^30; so is x ih when ih < 2^15, else x (ih - 2^15) + (x << 15);
 * |x ih| < 2^31, and n itself lies in int32 (see the top). The 64-bit form
 * took 8 instructions, this 5 (7 for ih >= 2^15). */
typedef struct {
    int32_t il, ih, big;   /* il; ih, less 2^15 when big */
} rms_inv_parts;

static inline rms_inv_parts rms_split(int64_t inv)
{
    const int32_t ih = (int32_t)(inv >> 15);
    return (rms_inv_parts){(int32_t)(inv & 0x7FFF), ih >= 0x8000 ? ih - 0x8000 : ih, ih >= 0x8000};
}

static inline T2 __m256i rms_scale8(__m256i v, const rms_inv_parts *k)
{
    const __m256i lo = _mm256_srai_epi32(
        _mm256_add_epi32(_mm256_madd_epi16(v, _mm256_set1_epi32(k->il)), _mm256_set1_epi32(1 << 14)), 15);
    __m256i hi = _mm256_madd_epi16(v, _mm256_set1_epi32(k->ih));
    if (k->big) hi = _mm256_add_epi32(hi, _mm256_slli_epi32(v, 15));
    return _mm256_add_epi32(hi, lo);
}

#define ROW_BLOCK 32

/* Channels i .. i + 7 of rows r0 .. r0 + nr - 1 (plain: thm_avx2_rq_apply_k). */
static inline __attribute__((always_inline)) T2 void rms_rows8(const void *x, int wide, const int64_t *inv,
                                                             const rms_inv_parts *parts, int32_t r0, int32_t nr,
                                                             int32_t D, int32_t i, const thm_avx2_rq *q,
                                                             const int plain, int8_t *y)
{
    for (int32_t r = 0; r < nr; r++) {
        if (inv[r] > INT32_MAX) continue;            /* done by the caller, scalar */
        const size_t row = (size_t)(r0 + r) * D;
        const __m256i v = wide ? load8_s16((const int16_t *)x + row + i) : load8_s8((const int8_t *)x + row + i);
        thm_avx2_store_sat8(y + row + i, thm_avx2_rq_apply_k(rms_scale8(v, &parts[r]), q, plain));
    }
}

static T2 void rmsnorm_avx2(const void *x, int wide, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                            int8_t *y, int32_t rows, int32_t D)
{
    const size_t esz = wide ? 2 : 1;
    const int32_t nv = D & ~7;
    int64_t inv[ROW_BLOCK];
    rms_inv_parts parts[ROW_BLOCK];
    for (int32_t r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const int32_t nr = rows - r0 < ROW_BLOCK ? rows - r0 : ROW_BLOCK;
        for (int32_t r = 0; r < nr; r++) {
            const void *xr = (const uint8_t *)x + (size_t)(r0 + r) * D * esz;
            inv[r] = rms_inv_host(sum_squares(xr, wide, D), D, eps_q16);
            if (inv[r] <= INT32_MAX) parts[r] = rms_split(inv[r]);   /* else the scalar formula */
        }
        /* channel block outside, rows inside: one requantize set-up per 8 channels */
        for (int32_t i = 0; i < nv; i += 8) {
            thm_avx2_rq q;
            thm_avx2_rq_prep(&q, load8_s32(gm + i), load8_s32(gs + i));
            if (q.plain)
                rms_rows8(x, wide, inv, parts, r0, nr, D, i, &q, 1, y);
            else
                rms_rows8(x, wide, inv, parts, r0, nr, D, i, &q, 0, y);
        }
        for (int32_t r = 0; r < nr; r++) {
            const size_t row = (size_t)(r0 + r) * D;
            for (int32_t i = inv[r] > INT32_MAX ? 0 : nv; i < D; i++) {
                const int32_t xi = wide ? ((const int16_t *)x)[row + i] : ((const int8_t *)x)[row + i];
                y[row + i] = thm_rms_apply(xi, inv[r], gm[i], gs[i]);
            }
        }
    }
}

T2 void thm_rmsnorm_s8_avx2(const int8_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16, int8_t *y,
                            int32_t rows, int32_t D)
{
    rmsnorm_avx2(x, 0, gm, gs, eps_q16, y, rows, D);
}

T2 void thm_rmsnorm_s16_avx2(const int16_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16, int8_t *y,
                             int32_t rows, int32_t D)
{
    rmsnorm_avx2(x, 1, gm, gs, eps_q16, y, rows, D);
}

/* ---- gated residual ------------------------------------------------------ */

T2 void thm_residual_gated_s16_avx2(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
    thm_avx2_rq q;
    thm_avx2_rq_prep(&q, _mm256_set1_epi32(mult), _mm256_set1_epi32(shift));
    const __m256i gmin = _mm256_set1_epi32(-65536), gmax = _mm256_set1_epi32(65536);
    int32_t i = 0;
    if (q.plain)
        for (; i + 8 <= n; i += 8) {
            __m256i g = thm_avx2_rq_apply_k(load8_s8(y + i), &q, 1);
            g = _mm256_min_epi32(_mm256_max_epi32(g, gmin), gmax);
            store8_sat16(r + i, _mm256_add_epi32(load8_s16(r + i), g));
        }
    for (; i + 8 <= n; i += 8) {
        __m256i g = thm_avx2_rq_apply(load8_s8(y + i), &q);
        g = _mm256_min_epi32(_mm256_max_epi32(g, gmin), gmax);
        store8_sat16(r + i, _mm256_add_epi32(load8_s16(r + i), g));
    }
    for (; i < n; i++) {
        int32_t g = thm_requantize(y[i], mult, shift);
        g = g < -65536 ? -65536 : (g > 65536 ? 65536 : g);
        r[i] = thm_sat16((int32_t)r[i] + g);
    }
}

/* ---- P.V digit recombination --------------------------------------------- */

T2 void thm_pv_combine_s8_avx2(const int32_t *s0, const int32_t *s1, const int32_t *s2, int32_t n, int32_t mult,
                               int32_t shift, int8_t *out)
{
    thm_avx2_rq q;
    thm_avx2_rq_prep(&q, _mm256_set1_epi32(mult), _mm256_set1_epi32(shift));
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v1 = load8_s32(s1 + i);
        const __m256i hi = s2 ? _mm256_add_epi32(_mm256_slli_epi32(load8_s32(s2 + i), 14), _mm256_slli_epi32(v1, 7))
                              : _mm256_slli_epi32(v1, 8);
        thm_avx2_store_sat8(out + i, thm_avx2_rq_apply(_mm256_add_epi32(hi, load8_s32(s0 + i)), &q));
    }
    for (; i < n; i++) {
        const uint32_t hi = s2 ? ((uint32_t)s2[i] << 14) + ((uint32_t)s1[i] << 7) : (uint32_t)s1[i] << 8;
        out[i] = thm_sat8(thm_requantize((int32_t)(hi + (uint32_t)s0[i]), mult, shift));
    }
}

/* ---- RoPE ---------------------------------------------------------------- */

/* 16 int8 -> 16 int16 lanes. */
static inline T2 __m256i load16_s8(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* (sum + 2^13) >> 14 of two vpmaddwd results (element order: a = the
 * unpacklo half, b = the unpackhi half of each 128-bit lane), saturated to
 * 16 int8 in element order. */
static inline T2 void rope_store16(int8_t *y, __m256i a, __m256i b)
{
    const __m256i round = _mm256_set1_epi32(1 << 13);
    a = _mm256_srai_epi32(_mm256_add_epi32(a, round), 14);
    b = _mm256_srai_epi32(_mm256_add_epi32(b, round), 14);
    const __m256i w = _mm256_packs_epi32(a, b);           /* lane 0: 0..7, lane 1: 8..15 */
    _mm_storeu_si128((__m128i *)(void *)y,
                     _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
}

T2 void thm_rope_s8_avx2(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14, int8_t *y, int32_t T,
                         int32_t n_heads, int32_t D, int32_t pos0)
{
    const int32_t half = D / 2, nv = half & ~15;
    const __m256i zero = _mm256_setzero_si256();
    for (int32_t t = 0; t < T; t++) {
        const int16_t *c = cos_q14 + (size_t)(pos0 + t) * half;
        const int16_t *sn = sin_q14 + (size_t)(pos0 + t) * half;
        for (int32_t i = 0; i < nv; i += 16) {
            const __m256i cv = _mm256_loadu_si256((const __m256i *)(const void *)(c + i));
            const __m256i sv = _mm256_loadu_si256((const __m256i *)(const void *)(sn + i));
            const __m256i cs_lo = _mm256_unpacklo_epi16(cv, sv), cs_hi = _mm256_unpackhi_epi16(cv, sv);
            for (int32_t h = 0; h < n_heads; h++) {
                const size_t base = ((size_t)t * n_heads + h) * D + i;
                /* both halves read before either is written: y may alias x */
                const __m256i x1 = load16_s8(x + base), x2 = load16_s8(x + base + half);
                const __m256i nx2 = _mm256_sub_epi16(zero, x2);
                /* o1 = x1 c + (-x2) s, o2 = x2 c + x1 s */
                const __m256i o1a = _mm256_madd_epi16(_mm256_unpacklo_epi16(x1, nx2), cs_lo);
                const __m256i o1b = _mm256_madd_epi16(_mm256_unpackhi_epi16(x1, nx2), cs_hi);
                const __m256i o2a = _mm256_madd_epi16(_mm256_unpacklo_epi16(x2, x1), cs_lo);
                const __m256i o2b = _mm256_madd_epi16(_mm256_unpackhi_epi16(x2, x1), cs_hi);
                rope_store16(y + base, o1a, o1b);
                rope_store16(y + base + half, o2a, o2b);
            }
        }
        if (nv == half) continue;
        for (int32_t h = 0; h < n_heads; h++) {
            const size_t base = ((size_t)t * n_heads + h) * D;
            for (int32_t i = nv; i < half; i++) {
                const int32_t x1 = x[base + i], x2 = x[base + half + i];
                y[base + i] = thm_sat8((x1 * c[i] - x2 * sn[i] + (1 << 13)) >> 14);
                y[base + half + i] = thm_sat8((x2 * c[i] + x1 * sn[i] + (1 << 13)) >> 14);
            }
        }
    }
}

/* ---- thm_attention_s8's products (the streamed, causal attention) -------- */

/* sum_k a[k] b[k]: int8 widened to int16, vpmaddwd pair sums (<= 2^15) in
 * int32 lanes; the same integer sum as the portable loop in any order. */
T2 int32_t thm_dot_s8_avx2(const int8_t *a, const int8_t *b, int32_t K)
{
    __m256i acc = _mm256_setzero_si256();
    int32_t k = 0;
    for (; k + 16 <= K; k += 16) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(load16_s8(a + k), load16_s8(b + k)));
    const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    int32_t s = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
    for (; k < K; k++) s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

/* acc[d] += sum_j p[j] v[j ldv + d] for nb blocks of 16 d from d0: keys two
 * at a time, (v[j][d], v[j+1][d]) word pairs against (p[j], p[j+1]) in one
 * vpmaddwd (|p v| <= 2^22, a pair sum <= 2^23). The accumulators hold the
 * unpacklo/unpackhi element order and are put back in order at the end. */
static inline T2 void pv_blocks(const int16_t *p, const int8_t *v, size_t ldv, int32_t n, int32_t d0, int nb,
                                int32_t *acc)
{
    __m256i lo[4], hi[4];
    for (int b = 0; b < 4; b++) lo[b] = hi[b] = _mm256_setzero_si256();
    int32_t j = 0;
    for (; j + 2 <= n; j += 2) {
        const __m256i pp = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)p[j] | (uint32_t)(uint16_t)p[j + 1] << 16));
        const int8_t *v0 = v + (size_t)j * ldv + d0, *v1 = v0 + ldv;
        for (int b = 0; b < nb; b++) {
            const __m256i va = load16_s8(v0 + 16 * b), vb = load16_s8(v1 + 16 * b);
            lo[b] = _mm256_add_epi32(lo[b], _mm256_madd_epi16(_mm256_unpacklo_epi16(va, vb), pp));
            hi[b] = _mm256_add_epi32(hi[b], _mm256_madd_epi16(_mm256_unpackhi_epi16(va, vb), pp));
        }
    }
    if (j < n) {                                          /* an odd last key, paired with 0 */
        const __m256i pp = _mm256_set1_epi32((int32_t)(uint32_t)(uint16_t)p[j]);
        const int8_t *v0 = v + (size_t)j * ldv + d0;
        const __m256i zero = _mm256_setzero_si256();
        for (int b = 0; b < nb; b++) {
            const __m256i va = load16_s8(v0 + 16 * b);
            lo[b] = _mm256_add_epi32(lo[b], _mm256_madd_epi16(_mm256_unpacklo_epi16(va, zero), pp));
            hi[b] = _mm256_add_epi32(hi[b], _mm256_madd_epi16(_mm256_unpackhi_epi16(va, zero), pp));
        }
    }
    for (int b = 0; b < nb; b++) {
        int32_t *a = acc + d0 + 16 * b;
        /* lo: d 0..3 | 8..11, hi: d 4..7 | 12..15 */
        store8_s32(a, _mm256_add_epi32(load8_s32(a), _mm256_permute2x128_si256(lo[b], hi[b], 0x20)));
        store8_s32(a + 8, _mm256_add_epi32(load8_s32(a + 8), _mm256_permute2x128_si256(lo[b], hi[b], 0x31)));
    }
}

T2 void thm_pv_s16s8_avx2(const int16_t *p, const int8_t *v, size_t ldv, int32_t n, int32_t D, int32_t *acc)
{
    int32_t d = 0;
    for (; d + 64 <= D; d += 64) pv_blocks(p, v, ldv, n, d, 4, acc);    /* 8 accumulators a pass over the keys */
    if (d + 16 <= D) {
        const int nb = (D - d) / 16;
        pv_blocks(p, v, ldv, n, d, nb, acc);
        d += 16 * nb;
    }
    if (d == D) return;
    for (int32_t j = 0; j < n; j++) {
        const int32_t pj = p[j];
        const int8_t *vj = v + (size_t)j * ldv;
        for (int32_t e = d; e < D; e++) acc[e] += pj * (int32_t)vj[e];
    }
}

/* ---- P.V of a block of query rows ---------------------------------------- */

/* out[r][d] = sat8(requantize(sum_t p[r][t] vt[d][t])) for rows r0, r0 + 1
 * (nr of them) and channels d0 .. d0 + 3 (nd of them; a missing row or
 * channel repeats a real one, its result unused). The portable form splits
 * p into int8 digits for the int8 matmul and adds the digits' sums back in
 * wrapping uint32 arithmetic, which is the exact sum mod 2^32; here p (int16)
 * and vt (int8 widened to int16) meet in vpmaddwd, whose pair sums
 * (<= 2 * 2^15 * 2^7 = 2^23) are exact, accumulated in wrapping int32 lanes:
 * the same sum mod 2^32, in one pass instead of two or three. */
static inline __attribute__((always_inline)) T2 void pv_tile(const int16_t *p, int32_t Tk, const int8_t *vt,
                                                           int32_t r0, int nr, int32_t d0, int nd, int32_t D,
                                                           const thm_avx2_rq *q, int32_t mult, int32_t shift,
                                                           int8_t *out, size_t out_stride)
{
    const int32_t t16 = Tk & ~15;
    const int16_t *pr0 = p + (size_t)r0 * Tk, *pr1 = p + (size_t)(r0 + (nr > 1)) * Tk;
    const int8_t *vd[4];
    for (int c = 0; c < 4; c++) vd[c] = vt + (size_t)(d0 + (c < nd ? c : 0)) * Tk;
    __m256i acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_si256();
    for (int32_t t = 0; t < t16; t += 16) {
        const __m256i p0 = _mm256_loadu_si256((const __m256i *)(const void *)(pr0 + t));
        const __m256i p1 = _mm256_loadu_si256((const __m256i *)(const void *)(pr1 + t));
        for (int c = 0; c < 4; c++) {
            const __m256i v = load16_s8(vd[c] + t);
            acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(p0, v));
            if (nr > 1) acc[4 + c] = _mm256_add_epi32(acc[4 + c], _mm256_madd_epi16(p1, v));
        }
    }
    __m256i s = thm_avx2_reduce8(acc);                     /* r0: d0..d0+3, then r0 + 1 */
    if (t16 < Tk) {
        int32_t tail[8];
        for (int i = 0; i < 8; i++) {
            const int16_t *pr = i < 4 ? pr0 : pr1;
            const int8_t *v = vd[i & 3];
            uint32_t sum = 0;                              /* wraps like the vector lanes */
            for (int32_t t = t16; t < Tk; t++) sum += (uint32_t)((int32_t)pr[t] * (int32_t)v[t]);
            tail[i] = (int32_t)sum;
        }
        s = _mm256_add_epi32(s, load8_s32(tail));
    }
    if (nr == 2 && nd == 4) {
        const __m256i o = thm_avx2_rq_apply(s, q);
        const __m128i b16 = _mm_packs_epi32(_mm256_castsi256_si128(o), _mm256_extracti128_si256(o, 1));
        const __m128i b8 = _mm_packs_epi16(b16, b16);
        const int32_t w0 = _mm_cvtsi128_si32(b8), w1 = _mm_extract_epi32(b8, 1);
        __builtin_memcpy(out + (size_t)r0 * out_stride + d0, &w0, 4);
        __builtin_memcpy(out + (size_t)(r0 + 1) * out_stride + d0, &w1, 4);
        return;
    }
    int32_t sums[8];
    store8_s32(sums, s);
    for (int i = 0; i < nr; i++)
        for (int c = 0; c < nd; c++)
            out[(size_t)(r0 + i) * out_stride + d0 + c] = thm_sat8(thm_requantize(sums[4 * i + c], mult, shift));
    (void)D;
}

T2 void thm_pv_rows_s8_avx2(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D, int32_t mult,
                            int32_t shift, int8_t *out, size_t out_stride, void *scratch)
{
    (void)scratch;                                          /* no digits, no digit sums */
    if (Tk <= THM_AVX2_PACK_KMAX && bq >= 2) {            /* vt packed like a matmul's weights */
        thm_avx2_matmul_s16s8_packed(p, (size_t)Tk, vt, bq, Tk, D, mult, shift, out, out_stride);
        return;
    }
    thm_avx2_rq q;
    thm_avx2_rq_prep(&q, _mm256_set1_epi32(mult), _mm256_set1_epi32(shift));
    const int32_t d4 = D & ~3;
    int32_t r = 0;
    for (; r + 2 <= bq; r += 2) {
        for (int32_t d = 0; d < d4; d += 4) pv_tile(p, Tk, vt, r, 2, d, 4, D, &q, mult, shift, out, out_stride);
        if (d4 < D) pv_tile(p, Tk, vt, r, 2, d4, D - d4, D, &q, mult, shift, out, out_stride);
    }
    if (r < bq) {
        for (int32_t d = 0; d < d4; d += 4) pv_tile(p, Tk, vt, r, 1, d, 4, D, &q, mult, shift, out, out_stride);
        if (d4 < D) pv_tile(p, Tk, vt, r, 1, d4, D - d4, D, &q, mult, shift, out, out_stride);
    }
}
