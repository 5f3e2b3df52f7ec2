/* thm_rms_inv with the boards' FPU estimates (THM_TEST_FPU_ESTIMATES) against
 * the exact integer form (64-bit division, digit-by-digit root) on edge and
 * random rows: sums of squares from 0 to D * 2^30, D from 1 to 4096 (powers
 * of two and not), eps from 0 to large; every root and quotient near the
 * edges of its range. Prints the first mismatch, or OK and the count. */
#include <stdint.h>
#include <stdio.h>
#include "thm_fixedpoint.h"

static int64_t exact(int64_t ss, int32_t D, int64_t eps_q16)
{
    const uint64_t ms = ((uint64_t)ss << 16) / (uint64_t)D + (uint64_t)eps_q16;
    uint64_t rms = thm_isqrt_u64(ms << 16);
    if (rms == 0) rms = 1;
    return (int64_t)(((uint64_t)1 << 46) / rms);
}

static uint64_t s = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    return s;
}

int main(void)
{
    static const int32_t Ds[] = {1, 2, 3, 7, 16, 31, 64, 100, 384, 512, 1000, 1024, 4096};
    static const int64_t eps[] = {0, 1, 7, 65, 655, 65536, 1 << 20};
    long n = 0;
    for (size_t i = 0; i < sizeof Ds / sizeof Ds[0]; i++)
        for (size_t j = 0; j < sizeof eps / sizeof eps[0]; j++)
            for (int k = 0; k < 20000; k++) {
                const int32_t D = Ds[i];
                const uint64_t top = (uint64_t)D << 30;          /* |x| <= 2^15 */
                uint64_t ss;
                switch (k % 4) {
                case 0: ss = rnd() % (top + 1); break;           /* anywhere */
                case 1: ss = rnd() % 4096; break;                /* tiny rows: rms < 0.5 */
                case 2: { uint64_t r = rnd() % 3037000499u; ss = (r * r) % (top + 1); break; }   /* squares */
                default: ss = top - rnd() % 4096; break;         /* the largest */
                }
                const int64_t want = exact((int64_t)ss, D, eps[j]);
                const int64_t got = thm_rms_inv((int64_t)ss, D, eps[j]);
                n++;
                if (got != want) {
                    printf("ss=%llu D=%d eps=%lld: %lld, want %lld\n", (unsigned long long)ss, D,
                           (long long)eps[j], (long long)got, (long long)want);
                    return 1;
                }
            }
    /* the root and the quotient alone, at and around every power of two and square */
    for (int b = 0; b < 64; b++)
        for (int64_t dlt = -3; dlt <= 3; dlt++) {
            const uint64_t v = ((uint64_t)1 << b) + (uint64_t)dlt;
            if (thm_isqrt_rms(v) != thm_isqrt_u64(v)) { printf("isqrt %llu\n", (unsigned long long)v); return 1; }
            const uint64_t r = (uint64_t)1 << (b / 2);
            const uint64_t sq = r * r + (uint64_t)dlt;
            if (thm_isqrt_rms(sq) != thm_isqrt_u64(sq)) { printf("isqrt %llu\n", (unsigned long long)sq); return 1; }
            if (b < 40) {
                const uint64_t q = ((uint64_t)1 << b) + (uint64_t)(dlt + 3);
                if (q >= 1 && thm_div_2p46(q) != ((uint64_t)1 << 46) / q) { printf("div %llu\n", (unsigned long long)q); return 1; }
            }
            n += 3;
        }
    for (int k = 0; k < 1000000; k++) {
        const uint64_t v = rnd() >> (rnd() % 64);
        if (thm_isqrt_rms(v) != thm_isqrt_u64(v)) { printf("isqrt %llu\n", (unsigned long long)v); return 1; }
        const uint64_t q = (rnd() >> (rnd() % 64)) | 1u;
        if (thm_div_2p46(q) != ((uint64_t)1 << 46) / q) { printf("div %llu\n", (unsigned long long)q); return 1; }
        n += 2;
    }
    printf("OK %ld\n", n);
    return 0;
}
