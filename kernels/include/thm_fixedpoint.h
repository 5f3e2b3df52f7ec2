/* Fixed-point helpers shared by every C kernel (portable and fast paths).
 * Scalar definitions of the reference's requantize, isqrt and exp. */
#ifndef THM_FIXEDPOINT_H
#define THM_FIXEDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "thm_tables.h"

/* TFLite MultiplyByQuantizedMultiplier. The left shift wraps (uint32), exactly
 * like the reference; the quantizer keeps it in range. Right shifts of
 * negative values are arithmetic on every compiler thimble supports.
 * The reference's nudge-and-truncate, (ab + nudge) / 2^31 toward zero with
 * nudge = 2^30 or 1 - 2^30 by the sign of ab, equals the floor
 * (ab + 2^30) >> 31 for either sign (for ab < 0: -floor((2^30 - 1 - ab) / 2^31)
 * = ceil((ab + 2^30 + 1) / 2^31) - 1), so there is no select and no signed
 * division: cheaper on every core, the same bits for every input. */
static inline int32_t thm_requantize(int32_t acc, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)((uint32_t)acc << left);
    const int32_t high = x == INT32_MIN && mult == INT32_MIN
                             ? INT32_MAX : (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    return (high >> right) + ((high & mask) > (mask >> 1) + (high < 0));
}

/* thm_requantize(diff, mult, shift) for a softmax distance: 0 <= diff,
 * mult >= 0 and diff << max(shift, 0) < 2^31 (thm_softmax_range_ok), so the
 * product is non-negative, its high word (ab + 2^30) >> 31 < 2^31 and the
 * rounding right shift is round-half-up, all in 32 bits after the product.
 * left, right and half = 2^(right-1) (0 without a right shift) from shift. */
static inline uint32_t thm_requantize_pos(uint32_t diff, uint32_t mult, int32_t left, int32_t right,
                                          uint32_t half)
{
    const uint64_t ab = (uint64_t)(diff << left) * mult;
    const uint32_t high = (uint32_t)((ab + ((uint64_t)1 << 30)) >> 31);
    return (high + half) >> right;
}

/* floor((acc * mult + 2^(rshift - 1)) / 2^rshift) for mult in [0, 2^31) and
 * rshift in [33, 94], in 64-bit pieces: with acc = hi 2^32 + lo (hi signed,
 * lo unsigned), acc * mult = (hi mult) 2^32 + lo mult, and flooring the low
 * part's 2^32 first changes nothing (floor(floor(a / b) / c) = floor(a / (b c))).
 * hi mult < 2^62 and lo mult < 2^63, so no piece overflows (reference.py
 * requantize_s64). */
static inline int64_t thm_requantize_s64(int64_t acc, int32_t mult, int32_t rshift)
{
    const int64_t hi = acc >> 32;     /* arithmetic: GCC and Clang on every target here */
    const uint64_t lo = (uint64_t)acc & 0xFFFFFFFFu;
    const int64_t lo_part = (int64_t)((lo * (uint64_t)mult) >> 32);
    return (hi * mult + ((int64_t)1 << (rshift - 33)) + lo_part) >> (rshift - 32);
}

static inline int8_t thm_sat8(int32_t v)
{
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

static inline int16_t thm_sat16(int32_t v)
{
    return (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
}

/* floor(sqrt(v)), digit by digit: exact, no floating point. */
static inline uint64_t thm_isqrt_u64(uint64_t v)
{
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > v) bit >>= 2;
    while (bit != 0) {
        /* branch-free (all ones when this digit is 1): the digits of a square
         * root are data-dependent coin flips that a predictor misses half the time */
        const uint64_t t = res + bit;
        const uint64_t take = (uint64_t)0 - (uint64_t)(v >= t);
        v -= t & take;
        res = (res >> 1) + (bit & take);
        bit >>= 2;
    }
    return res;
}

/* The boards' RMSNorm row setup without 64-bit division or a digit-by-digit
 * root (the watch cores have neither a 64-bit divide nor a double FPU, and a
 * 64-element QK-norm row cost as much to set up as to normalise): the
 * single-precision FPU gives an estimate, one Newton step on the exact
 * integer residual brings it within a unit or two, and integer loops end on
 * the exact floor, whatever the estimate was (the float only sets where they
 * start). Elsewhere (the host's portable C) the exact integer forms;
 * THM_TEST_FPU_ESTIMATES builds the boards' form on the host for its test
 * (tests/kernels/test_rms_inv.py, with -fno-math-errno). */
#if (defined(__GNUC__) && defined(__ARM_FP) && ((__ARM_FP & 4) || defined(__aarch64__))) \
    || defined(THM_TEST_FPU_ESTIMATES)
#define THM_FPU_ESTIMATES 1
static inline float thm_fsqrt(float x)   /* IEEE square root, no errno path (no libm here) */
{
#if defined(THM_TEST_FPU_ESTIMATES)
    return __builtin_sqrtf(x);
#else
    float r;
#if defined(__aarch64__)
    __asm__("fsqrt %s0, %s1" : "=w"(r) : "w"(x));
#else
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
#endif
    return r;
#endif
}

/* v as a float (about 2^-23 relative), from two 32-bit conversions: no libgcc call */
static inline float thm_u64_to_f(uint64_t v)
{
    return (float)(uint32_t)(v >> 32) * 4294967296.0f + (float)(uint32_t)v;
}

static inline float thm_s64_to_f(int64_t v)
{
    return (float)(int32_t)(v >> 32) * 4294967296.0f + (float)(uint32_t)v;
}

/* round(d) for |d| < 2^30 */
static inline int32_t thm_round_f(float d)
{
    return (int32_t)(d + (d < 0.0f ? -0.5f : 0.5f));
}
#endif

/* floor(sqrt(v)), as thm_isqrt_u64, for every v. */
static inline uint64_t thm_isqrt_rms(uint64_t v)
{
#ifdef THM_FPU_ESTIMATES
    const uint64_t rmax = 0xFFFFFFFFu;
    const float f = thm_fsqrt(thm_u64_to_f(v));
    uint64_t r = f >= 4294967040.0f ? rmax : (uint32_t)f;
    if (r && r < rmax) {   /* Newton on the residual: |v - r^2| < 2^41, |step| < 2^10 */
        const int64_t t = (int64_t)r + thm_round_f(thm_s64_to_f((int64_t)(v - r * r)) / (2.0f * (float)r));
        r = t < 0 ? 0 : (t > (int64_t)rmax ? rmax : (uint64_t)t);
    }
    while (r * r > v) r--;
    while (r < rmax && (r + 1) * (r + 1) <= v) r++;
    return r;
#else
    return thm_isqrt_u64(v);
#endif
}

/* floor(2^46 / r) for r >= 1. */
static inline uint64_t thm_div_2p46(uint64_t r)
{
    const uint64_t top = (uint64_t)1 << 46;
#ifdef THM_FPU_ESTIMATES
    if (r > 32768u && r <= 0xFFFFFFFFu) {   /* the quotient < 2^31: the usual row (rms >= 0.5) */
        const float fr = (float)(uint32_t)r;
        const float fq = 70368744177664.0f / fr;   /* 2^46 / r within 2^-22: off by < 2^9 */
        int64_t q = fq >= 2147483647.0f ? 2147483647 : (int64_t)(uint32_t)fq;
        q += thm_round_f(thm_s64_to_f((int64_t)(top - (uint64_t)q * r)) / fr);
        if (q < 0) q = 0;
        while ((uint64_t)q * r > top) q--;
        while ((uint64_t)(q + 1) * r <= top) q++;
        return (uint64_t)q;
    }
#endif
    return top / r;
}

/* RMSNorm's per-row reciprocal: 2^46 / rms (2^30 / rms in Q16), from the row's
 * exact sum of squares ss (<= 2^42), its length D and eps in Q16. A
 * power-of-two D (every Needle row: 512, 64) divides by a shift. */
static inline int64_t thm_rms_inv(int64_t ss, int32_t D, int64_t eps_q16)
{
    const uint64_t num = (uint64_t)ss << 16, d = (uint64_t)D;
    const uint64_t ms = ((d & (d - 1)) == 0 ? num >> __builtin_ctzll(d) : num / d) + (uint64_t)eps_q16; /* Q16 */
    uint64_t rms = thm_isqrt_rms(ms << 16);                                                            /* Q16 */
    if (rms == 0) rms = 1;
    return (int64_t)thm_div_2p46(rms);
}

/* One RMSNorm output: x / rms in Q15 (clamped to int32), then the channel's gain. */
static inline int8_t thm_rms_apply(int32_t xi, int64_t inv, int32_t gm, int32_t gs)
{
    int64_t n = ((int64_t)xi * inv + (1 << 14)) >> 15;
    if (n > INT32_MAX) n = INT32_MAX;
    if (n < INT32_MIN) n = INT32_MIN;
    return thm_sat8(thm_requantize((int32_t)n, gm, gs));
}

/* exp(-z / 256) in Q15 for z >= 0 (0 past the table). */
static inline uint32_t thm_exp_q15(int32_t z)
{
    if (z >= (THM_EXP_HI_LEN << THM_EXP_FRAC_BITS)) return 0;
    return (thm_exp_hi[z >> THM_EXP_FRAC_BITS] * thm_exp_lo[z & (THM_EXP_LO_LEN - 1)]
            + (1u << 14)) >> 15;
}

/* Softmax parameters: a shift in range, and score differences up to
 * diff_max that a left shift cannot wrap (so z = requantize(diff) >= 0). */
static inline int thm_softmax_range_ok(int32_t shift, int32_t diff_max)
{
    if (shift < -31 || shift > 30 || diff_max < 0) return 0;
    return shift <= 0 || diff_max <= (INT32_MAX >> shift);
}

#endif /* THM_FIXEDPOINT_H */
