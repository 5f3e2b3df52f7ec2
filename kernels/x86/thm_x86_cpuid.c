/* CPUID and XGETBV: a feature counts only if the CPU has it and the OS saves
 * the registers it needs. */
#include "thm_impl.h"
#include <cpuid.h>

static uint64_t thm_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int thm_os_saves(uint64_t mask)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE)) return 0;
    return (thm_xgetbv0() & mask) == mask;
}

int thm_x86_has_avx2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX2) && thm_os_saves(0x6);          /* XMM | YMM state */
}

int thm_x86_has_avx512vnni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int f = (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL);
    return f && (c & bit_AVX512VNNI) && thm_os_saves(0xE6); /* + opmask, ZMM */
}
