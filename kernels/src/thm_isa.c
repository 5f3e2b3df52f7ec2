/* Where a fast path is chosen. x86 hosts: at run time from CPUID (and
 * thm_isa_set, for tests and benchmarks). Boards: at build time from the
 * compiler's feature macros, which the board file sets. */
#include "thimble_kernels.h"
#include "thm_impl.h"

#if defined(__x86_64__) && defined(THM_HOST_X86)
#include "thm_x86.h"

thm_matmul_s8_fn thm_impl_matmul_s8 = thm_matmul_s8_portable;
thm_matmul_s32_fn thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_portable;
static int32_t thm_isa_current = -1;

int thm_isa_available(int32_t isa)
{
    switch (isa) {
    case THM_ISA_PORTABLE: return 1;
    case THM_ISA_AVX2: return thm_x86_has_avx2();
    case THM_ISA_AVX512VNNI: return thm_x86_has_avx512vnni();
    default: return 0;
    }
}

int thm_isa_set(int32_t isa)
{
    if (!thm_isa_available(isa)) return THM_E_ISA;
    switch (isa) {
    case THM_ISA_AVX2:
        thm_impl_matmul_s8 = thm_matmul_s8_avx2;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_avx2;
        break;
    case THM_ISA_AVX512VNNI:
        thm_impl_matmul_s8 = thm_matmul_s8_avx512vnni;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_avx512vnni;
        break;
    default:
        thm_impl_matmul_s8 = thm_matmul_s8_portable;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_portable;
        break;
    }
    thm_isa_current = isa;
    return THM_OK;
}

int32_t thm_isa_get(void)
{
    return thm_isa_current < 0 ? THM_ISA_PORTABLE : thm_isa_current;
}

#else /* a board, or a host without an x86 fast path: fixed at build time */

thm_matmul_s8_fn thm_impl_matmul_s8 = thm_matmul_s8_portable;
thm_matmul_s32_fn thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_portable;

int thm_isa_available(int32_t isa) { return isa == THM_ISA_PORTABLE; }
int thm_isa_set(int32_t isa) { return isa == THM_ISA_PORTABLE ? THM_OK : THM_E_ISA; }
int32_t thm_isa_get(void) { return THM_ISA_PORTABLE; }

#endif
