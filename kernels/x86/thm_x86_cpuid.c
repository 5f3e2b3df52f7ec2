#define _GNU_SOURCE 1   /* syscall() for the AMX permission request */
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

/* AVX-VNNI: the VEX (256-bit) vpdpbusd, CPUID.(7,1):EAX[4]; it needs the YMM
 * state and AVX2 (the epilogue and the rest of the table are AVX2). */
int thm_x86_has_avxvnni(void)
{
    unsigned a, b, c, d;
    if (!thm_x86_has_avx2()) return 0;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 4) & 1u;
}

/* AMX-INT8: the CPU bits (CPUID.(7,0):EDX[24] AMX-TILE, [25] AMX-INT8), a
 * tile palette 1 of at least 8 tiles of 16 rows x 64 bytes (CPUID leaf 0x1D),
 * the OS enabling XTILECFG and XTILEDATA in XCR0 (bits 17, 18), and on Linux
 * the process's permission to use XTILEDATA, which the kernel grants only on
 * request (arch_prctl ARCH_REQ_XCOMP_PERM): without it the first tile
 * instruction raises SIGILL, so it is asked once, here, before anything runs.
 * The AMX table keeps the AVX-512 VNNI table's other entries and epilogue,
 * so that is required too. A refusal leaves thm_isa_available(AMX) at 0: the
 * default then is avx512vnni, and thm_x86_amx_status says why. */
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#define THM_ARCH_GET_XCOMP_PERM 0x1022
#define THM_ARCH_REQ_XCOMP_PERM 0x1023
#define THM_XFEATURE_XTILEDATA 18

static int thm_amx_state;   /* 0: not asked yet, else a THM_AMX_* status + 1 */

static int thm_amx_probe(void)
{
    unsigned a, b, c, d;
    if (!thm_x86_has_avx512vnni()) return THM_AMX_NO_CPU;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return THM_AMX_NO_CPU;
    if (!((d >> 24) & 1u) || !((d >> 25) & 1u)) return THM_AMX_NO_CPU;
    if (__get_cpuid_max(0, 0) < 0x1D) return THM_AMX_NO_CPU;
    __cpuid_count(0x1D, 0, a, b, c, d);
    if (a < 1) return THM_AMX_NO_CPU;                 /* highest palette */
    __cpuid_count(0x1D, 1, a, b, c, d);
    if ((b & 0xFFFF) < 64 || (b >> 16) < 8 || (c & 0xFFFF) < 16) return THM_AMX_NO_CPU;
    if (!thm_os_saves(0x60000)) return THM_AMX_NO_OS;  /* XCR0 bits 17, 18 */
#if defined(__linux__)
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, THM_ARCH_GET_XCOMP_PERM, &perm) == 0 &&
        (perm >> THM_XFEATURE_XTILEDATA) & 1u)
        return THM_AMX_OK;
    if (syscall(SYS_arch_prctl, THM_ARCH_REQ_XCOMP_PERM, THM_XFEATURE_XTILEDATA) != 0)
        return THM_AMX_NO_PERMISSION;
    return THM_AMX_OK;
#else
    return THM_AMX_NO_PERMISSION;   /* no known way to ask this OS */
#endif
}

int thm_x86_amx_status(void)
{
    /* a race between threads asks twice, which the kernel answers the same */
    int s = __atomic_load_n(&thm_amx_state, __ATOMIC_ACQUIRE);
    if (!s) {
        s = thm_amx_probe() + 1;
        __atomic_store_n(&thm_amx_state, s, __ATOMIC_RELEASE);
    }
    return s - 1;
}

int thm_x86_has_amx(void) { return thm_x86_amx_status() == THM_AMX_OK; }
