/* Cortex-M DSP extension helpers (ARMv7E-M). GCC 12's arm_acle.h has __sxtb16
 * and __smlad but not __ror, so the rotated SXTB16 is written here. */
#ifndef THM_ARM_DSP_H
#define THM_ARM_DSP_H

#include <stdint.h>

/* Bytes 0 and 2 of v, sign-extended to two int16 halves. */
static inline uint32_t thm_sxtb16(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(v));
    return r;
}

/* Bytes 1 and 3 of v, sign-extended to two int16 halves (one instruction). */
static inline uint32_t thm_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi (int16 halves); the add wraps like int32. */
static inline int32_t thm_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Four bytes from any address (rows need not be word aligned; the M4 and
 * M55 load unaligned words in one LDR). */
static inline uint32_t thm_ld32(const int8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

#endif /* THM_ARM_DSP_H */
