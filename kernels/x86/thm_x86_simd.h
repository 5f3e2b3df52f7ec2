/* SIMD helpers shared by the x86 fast paths: target attributes, horizontal
 * sums, and exact vector forms of thm_requantize (thm_fixedpoint.h) for 8
 * lanes (AVX2) and 16 lanes (AVX-512), per-lane mult and shift.
 *
 * Why they equal the scalar definition, for every int32 acc, mult and every
 * shift in [-31, 30]:
 *  - the left shift wraps like the scalar uint32 shift (vpsllvd);
 *  - the reference's "add a nudge of 2^30 or 1 - 2^30, then divide by 2^31
 *    truncating toward zero" is floor((x * mult + 2^30) / 2^31) in both sign
 *    cases (for a negative numerator n, trunc(n / d) = floor((n + d - 1) / d));
 *    that floor is an arithmetic shift of the exact 64-bit product, and its low
 *    32 bits are bits 31..62 of the sum, which a logical shift gives as well;
 *  - the only product whose result leaves int32 is INT32_MIN * INT32_MIN,
 *    which gives 0x80000000 here and is flipped to INT32_MAX;
 *  - the rounding divide by 2^right is the scalar formula lane by lane.
 */
#ifndef THM_X86_SIMD_H
#define THM_X86_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#include "thm_fixedpoint.h"

#define THM_TARGET_AVX2 __attribute__((target("avx2")))
#define THM_TARGET_AVX512VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))
#define THM_INLINE static inline __attribute__((always_inline))
#define THM_V256(p) ((const __m256i *)(const void *)(p))

/* Sums of four 8-lane vectors -> 4 int32. */
THM_INLINE THM_TARGET_AVX2 __m128i thm_avx2_reduce4(__m256i a0, __m256i a1, __m256i a2,
                                                    __m256i a3)
{
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* Sums of eight 8-lane vectors -> 8 int32. */
THM_INLINE THM_TARGET_AVX2 __m256i thm_avx2_reduce8(const __m256i *a)
{
    const __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]),
                                         _mm256_hadd_epi32(a[2], a[3]));
    const __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]),
                                         _mm256_hadd_epi32(a[6], a[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* The per-channel half of the AVX2 form, computed once per 8 channels and
 * applied to every row. */
typedef struct {
    __m256i mult, mult_odd, left, right, mask, half, mult_min;
    int plain;   /* no left shift and no mult of INT32_MIN in any lane: see thm_avx2_rq_apply_k */
} thm_avx2_rq;

THM_INLINE THM_TARGET_AVX2 void thm_avx2_rq_prep(thm_avx2_rq *q, __m256i mult, __m256i shift)
{
    const __m256i zero = _mm256_setzero_si256();
    q->mult = mult;
    q->mult_odd = _mm256_srli_epi64(mult, 32);
    q->left = _mm256_max_epi32(shift, zero);
    q->right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    q->mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), q->right),
                               _mm256_set1_epi32(1));
    q->half = _mm256_srai_epi32(q->mask, 1);
    q->mult_min = _mm256_cmpeq_epi32(mult, _mm256_set1_epi32(INT32_MIN));
    const __m256i special = _mm256_or_si256(q->left, q->mult_min);
    q->plain = _mm256_testz_si256(special, special);
}

/* plain (a constant where it is inlined) may be 1 only where q->plain is:
 * then the left shift is by 0 and the INT32_MIN x INT32_MIN case cannot
 * occur, so both steps are left out (4 of 18 instructions; the epilogues and
 * rows test q->plain once per 8 channels and run the matching loop). */
THM_INLINE THM_TARGET_AVX2 __m256i thm_avx2_rq_apply_k(__m256i acc, const thm_avx2_rq *q, const int plain)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i x = plain ? acc : _mm256_sllv_epi32(acc, q->left);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, q->mult), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult_odd), nudge);
    even = _mm256_srli_epi64(even, 31);                   /* low dword: bits 31..62 */
    odd = _mm256_slli_epi64(odd, 1);                      /* high dword: bits 31..62 */
    __m256i high = _mm256_blend_epi32(even, odd, 0xAA);
    if (!plain) {
        const __m256i both_min = _mm256_and_si256(
            _mm256_cmpeq_epi32(x, _mm256_set1_epi32(INT32_MIN)), q->mult_min);
        high = _mm256_xor_si256(high, both_min);          /* INT32_MIN -> INT32_MAX */
    }
    const __m256i rem = _mm256_and_si256(high, q->mask);
    const __m256i thr = _mm256_sub_epi32(q->half, _mm256_cmpgt_epi32(zero, high));
    return _mm256_sub_epi32(_mm256_srav_epi32(high, q->right), _mm256_cmpgt_epi32(rem, thr));
}

THM_INLINE THM_TARGET_AVX2 __m256i thm_avx2_rq_apply(__m256i acc, const thm_avx2_rq *q)
{
    return thm_avx2_rq_apply_k(acc, q, 0);
}

static inline THM_TARGET_AVX2 __m256i thm_avx2_requantize(__m256i acc, __m256i mult,
                                                          __m256i shift)
{
    thm_avx2_rq q;
    thm_avx2_rq_prep(&q, mult, shift);
    return thm_avx2_rq_apply(acc, &q);
}

/* sat8 of 8 int32 lanes, stored to 8 bytes. */
static inline THM_TARGET_AVX2 void thm_avx2_store_sat8(int8_t *y, __m256i v)
{
    const __m128i s16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)(void *)y, _mm_packs_epi16(s16, s16));
}

/* The AVX2 epilogue, shared by the AVX2 and AVX-VNNI matmuls: strip
 * [mr][nb] (row stride ldt) of raw sums + bias -> y: int32 (y32) or requantized int8 (y8).
 * Columns outer, so that the per-channel work is done once for all rows. */
static inline THM_TARGET_AVX2 void thm_avx2_epilogue(const int32_t *tmp, int32_t ldt, int32_t mr, int32_t nb,
                                              const int32_t *bias, const int32_t *mult,
                                              const int32_t *shift, int8_t *y8, int32_t *y32,
                                              size_t ldy)
{
    int32_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        const __m256i b = bias ? _mm256_loadu_si256(THM_V256(bias + j)) : _mm256_setzero_si256();
        if (y32) {
            for (int32_t i = 0; i < mr; i++)
                _mm256_storeu_si256((__m256i *)(void *)(y32 + i * ldy + j),
                                    _mm256_add_epi32(_mm256_loadu_si256(THM_V256(tmp + i * ldt + j)), b));
        } else {
            thm_avx2_rq q;
            thm_avx2_rq_prep(&q, _mm256_loadu_si256(THM_V256(mult + j)),
                             _mm256_loadu_si256(THM_V256(shift + j)));
            if (q.plain)
                for (int32_t i = 0; i < mr; i++) {
                    const __m256i v = _mm256_add_epi32(_mm256_loadu_si256(THM_V256(tmp + i * ldt + j)), b);
                    thm_avx2_store_sat8(y8 + i * ldy + j, thm_avx2_rq_apply_k(v, &q, 1));
                }
            else
                for (int32_t i = 0; i < mr; i++) {
                    const __m256i v = _mm256_add_epi32(_mm256_loadu_si256(THM_V256(tmp + i * ldt + j)), b);
                    thm_avx2_store_sat8(y8 + i * ldy + j, thm_avx2_rq_apply(v, &q));
                }
        }
    }
    for (; j < nb; j++) {
        for (int32_t i = 0; i < mr; i++) {
            const int32_t t = tmp[i * ldt + j];
            const int32_t acc = bias ? (int32_t)((uint32_t)t + (uint32_t)bias[j]) : t;
            if (y32) y32[i * ldy + j] = acc;
            else y8[i * ldy + j] = thm_sat8(thm_requantize(acc, mult[j], shift[j]));
        }
    }
}

/* The per-channel half of the AVX-512 form, computed once per 16 channels
 * and applied to every row. */
typedef struct {
    __m512i mult, mult_odd, left, right, mask, half;
    __mmask16 mult_min;         /* lanes whose mult is INT32_MIN */
} thm_avx512_rq;

THM_INLINE THM_TARGET_AVX512VNNI void thm_avx512_rq_prep(thm_avx512_rq *q, __m512i mult,
                                                          __m512i shift)
{
    const __m512i zero = _mm512_setzero_si512();
    q->mult = mult;
    q->mult_odd = _mm512_srli_epi64(mult, 32);
    q->left = _mm512_max_epi32(shift, zero);
    q->right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    q->mask = _mm512_sub_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), q->right),
                               _mm512_set1_epi32(1));
    q->half = _mm512_srai_epi32(q->mask, 1);
    q->mult_min = _mm512_cmpeq_epi32_mask(mult, _mm512_set1_epi32(INT32_MIN));
}

THM_INLINE THM_TARGET_AVX512VNNI __m512i thm_avx512_rq_apply(__m512i acc, const thm_avx512_rq *q)
{
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i x = _mm512_sllv_epi32(acc, q->left);
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, q->mult), nudge);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->mult_odd), nudge);
    even = _mm512_srli_epi64(even, 31);                   /* low dword: bits 31..62 */
    odd = _mm512_slli_epi64(odd, 1);                      /* high dword: bits 31..62 */
    __m512i high = _mm512_mask_blend_epi32((__mmask16)0xAAAA, even, odd);
    if (q->mult_min) {                                    /* INT32_MIN * INT32_MIN -> INT32_MAX */
        const __mmask16 both = q->mult_min & _mm512_cmpeq_epi32_mask(x, _mm512_set1_epi32(INT32_MIN));
        high = _mm512_mask_xor_epi32(high, both, high, _mm512_set1_epi32(-1));
    }
    const __m512i rem = _mm512_and_si512(high, q->mask);
    const __m512i thr = _mm512_mask_add_epi32(q->half, _mm512_cmplt_epi32_mask(high, _mm512_setzero_si512()),
                                              q->half, one);
    const __m512i r = _mm512_srav_epi32(high, q->right);
    return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, one);
}

static inline THM_TARGET_AVX512VNNI __m512i thm_avx512_requantize(__m512i acc, __m512i mult,
                                                                  __m512i shift)
{
    thm_avx512_rq q;
    thm_avx512_rq_prep(&q, mult, shift);
    return thm_avx512_rq_apply(acc, &q);
}

/* 16 x 16 dword transpose, out[d][c] = in[c][d]: on entry r[c] is 64 bytes
 * (16 groups of 4 k) of channel c; on exit r[d] is k group d of the 16
 * channels, one per lane. */
THM_INLINE THM_TARGET_AVX512VNNI void thm_vnni_transpose16(__m512i *r)
{
    __m512i b[16];
    /* 4 x 4 transposes inside each 128-bit lane, per group of four rows */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        const __m512i a0 = _mm512_unpacklo_epi32(r[4 * g + 0], r[4 * g + 1]);
        const __m512i a1 = _mm512_unpackhi_epi32(r[4 * g + 0], r[4 * g + 1]);
        const __m512i a2 = _mm512_unpacklo_epi32(r[4 * g + 2], r[4 * g + 3]);
        const __m512i a3 = _mm512_unpackhi_epi32(r[4 * g + 2], r[4 * g + 3]);
        b[4 * 0 + g] = _mm512_unpacklo_epi64(a0, a2);   /* dword 4L + 0 of rows 4g .. 4g+3 */
        b[4 * 1 + g] = _mm512_unpackhi_epi64(a0, a2);   /* dword 4L + 1 */
        b[4 * 2 + g] = _mm512_unpacklo_epi64(a1, a3);   /* dword 4L + 2 */
        b[4 * 3 + g] = _mm512_unpackhi_epi64(a1, a3);   /* dword 4L + 3 */
    }
    /* then a 4 x 4 transpose of 128-bit lanes, for each j */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512i *q = b + 4 * j;
        const __m512i s0 = _mm512_shuffle_i32x4(q[0], q[1], 0x44);
        const __m512i s1 = _mm512_shuffle_i32x4(q[0], q[1], 0xEE);
        const __m512i s2 = _mm512_shuffle_i32x4(q[2], q[3], 0x44);
        const __m512i s3 = _mm512_shuffle_i32x4(q[2], q[3], 0xEE);
        r[0 + j] = _mm512_shuffle_i32x4(s0, s2, 0x88);   /* lane 0: dword j */
        r[4 + j] = _mm512_shuffle_i32x4(s0, s2, 0xDD);   /* lane 1: dword 4 + j */
        r[8 + j] = _mm512_shuffle_i32x4(s1, s3, 0x88);   /* lane 2: dword 8 + j */
        r[12 + j] = _mm512_shuffle_i32x4(s1, s3, 0xDD);  /* lane 3: dword 12 + j */
    }
}

/* The VNNI epilogue, shared by the AVX-512 VNNI and AMX matmuls: where the
 * results of a tile go. */
typedef struct {
    const int32_t *bias, *mult, *shift;     /* [ncols] at the first column, bias may be 0 */
    int8_t *y8;                             /* requantized out, or 0 */
    int32_t *y32;                           /* int32 out, or 0 */
    size_t ldy;                             /* row stride of y (N) */
    int32_t ncols;                          /* valid columns from the first */
} thm_vnni_out;

/* The first n (<= 16) lanes. */
THM_INLINE THM_TARGET_AVX512VNNI __mmask16 thm_vnni_lanes(int32_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1u);
}

/* Rows 0 .. MR of 16 channels from column j of o: subtract each row's
 * correction, add the bias, store int32 or requantized int8 (vpmovsdb
 * saturates). The per-channel work is done once for all rows. */
THM_INLINE THM_TARGET_AVX512VNNI void thm_vnni_finish(const __m512i *acc, const int32_t *corr, const int MR,
                                         const thm_vnni_out *o, int32_t j)
{
    const __mmask16 m = thm_vnni_lanes(o->ncols - j);
    const __m512i b = o->bias ? _mm512_maskz_loadu_epi32(m, o->bias + j) : _mm512_setzero_si512();
    if (o->y32) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512i v = _mm512_add_epi32(_mm512_sub_epi32(acc[i], _mm512_set1_epi32(corr[i])), b);
            _mm512_mask_storeu_epi32(o->y32 + (size_t)i * o->ldy + j, m, v);
        }
    } else {
        thm_avx512_rq q;
        thm_avx512_rq_prep(&q, _mm512_maskz_loadu_epi32(m, o->mult + j),
                           _mm512_maskz_loadu_epi32(m, o->shift + j));
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512i v = _mm512_add_epi32(_mm512_sub_epi32(acc[i], _mm512_set1_epi32(corr[i])), b);
            _mm512_mask_cvtsepi32_storeu_epi8(o->y8 + (size_t)i * o->ldy + j, m, thm_avx512_rq_apply(v, &q));
        }
    }
}

/* The AVX-512 VNNI int8 matmul's packed path (thm_matmul_s8_avx512vnni.c)
 * over a panel packer, which int4 weights share (thm_matmul_s4_x86.c). A
 * packer writes P[k4][v][16][4] (k4 < ceil(kc / 4), v < 4): u8 = w + woff of
 * channels [0, ncols) of w (ldw bytes a row) and k in [k0, k0 + kc), any value
 * where k >= kc (x is zero there), 0 for channels past ncols; it may prefetch
 * rows [0, pf_rows) of pf from k pk to pk + pf_kc. */
typedef void thm_vnni_pack_f(const uint8_t *w, size_t ldw, int32_t ncols, int32_t k0, int32_t kc,
                             uint8_t *P, const uint8_t *pf, int32_t pk, int32_t pf_rows, int32_t pf_kc);
THM_TARGET_AVX512VNNI void thm_vnni_matmul_packed_with(thm_vnni_pack_f *pack, int32_t woff, const int8_t *x,
                                                       const uint8_t *w, size_t ldw, const int32_t *bias,
                                                       const int32_t *mult, const int32_t *shift, int8_t *y8,
                                                       int32_t *y32, int32_t M, int32_t K, int32_t N);

/* thm_matmul_s8_avx2.c's packed path for int16 rows against int8 rows (sums
 * mod 2^32, one requantization for all): attention's P.V in thm_rows_avx2.c.
 * K <= THM_AVX2_PACK_KMAX (its panel's depth). */
#define THM_AVX2_PACK_KMAX 1024
THM_TARGET_AVX2 void thm_avx2_matmul_s16s8_packed(const int16_t *x16, size_t ldx, const int8_t *w, int32_t M,
                                                  int32_t K, int32_t N, int32_t mult, int32_t shift,
                                                  int8_t *y8, size_t ldy);

#endif /* THM_X86_SIMD_H */
