/* Where a fast path is chosen. x86 hosts: at run time from CPUID (and
 * thm_isa_set, for tests and benchmarks). Boards: at build time from the
 * compiler's feature macros, which the board file sets. */
#include "thimble_kernels.h"
#include "thm_impl.h"

#if defined(__x86_64__) && defined(THM_HOST_X86)
#include "thm_x86.h"

thm_matmul_s8_fn thm_impl_matmul_s8 = thm_matmul_s8_portable;
thm_matmul_s32_fn thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_portable;
thm_dot_s8_fn thm_impl_dot_s8 = thm_dot_s8_portable;          /* attention: no x86 path yet */
thm_pv_s16s8_fn thm_impl_pv_s16s8 = thm_pv_s16s8_portable;
thm_softmax_row_fn thm_impl_softmax_row = 0;                   /* the model has its own AVX-512 rows */
thm_rmsnorm_row_fn thm_impl_rmsnorm_row = 0;
thm_pv_rows_fn thm_impl_pv_rows = 0;
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

/* Every path compiled in (by the board's feature macros) can be selected; the
 * default is the best one, fastest first: NEON SDOT, MVE, DSP, portable. */
#if defined(THM_HAVE_ARM_NEON_DOT)
#define THM_ISA_BEST THM_ISA_ARM_NEON_DOT
#define THM_BEST(name) name##_neon
#elif defined(THM_HAVE_ARM_MVE)
#define THM_ISA_BEST THM_ISA_ARM_MVE
#define THM_BEST(name) name##_mve
#elif defined(THM_HAVE_ARM_DSP)
#define THM_ISA_BEST THM_ISA_ARM_DSP
#define THM_BEST(name) name##_dsp
#else
#define THM_ISA_BEST THM_ISA_PORTABLE
#define THM_BEST(name) name##_portable
#endif

thm_matmul_s8_fn thm_impl_matmul_s8 = THM_BEST(thm_matmul_s8);
thm_matmul_s32_fn thm_impl_matmul_s8_s32 = THM_BEST(thm_matmul_s8_s32);
thm_dot_s8_fn thm_impl_dot_s8 = THM_BEST(thm_dot_s8);
thm_pv_s16s8_fn thm_impl_pv_s16s8 = thm_pv_s16s8_portable;   /* no ARM P.V path yet */
#if defined(THM_HAVE_ARM_NEON_DOT)                            /* the A55 */
thm_softmax_row_fn thm_impl_softmax_row = thm_softmax_row_q15_neon;
thm_rmsnorm_row_fn thm_impl_rmsnorm_row = thm_rmsnorm_row_neon;
thm_pv_rows_fn thm_impl_pv_rows = 0;
#elif defined(THM_HAVE_ARM_MVE)                               /* Helium rows (the M55) */
thm_softmax_row_fn thm_impl_softmax_row = thm_softmax_row_q15_mve;
thm_rmsnorm_row_fn thm_impl_rmsnorm_row = thm_rmsnorm_row_mve;
thm_pv_rows_fn thm_impl_pv_rows = thm_pv_rows_mve;
#elif defined(THM_HAVE_ARM_DSP)                               /* DSP rows (the M4) */
thm_softmax_row_fn thm_impl_softmax_row = thm_softmax_row_q15_dsp;
thm_rmsnorm_row_fn thm_impl_rmsnorm_row = thm_rmsnorm_row_dsp;
thm_pv_rows_fn thm_impl_pv_rows = 0;
#else
thm_softmax_row_fn thm_impl_softmax_row = 0;
thm_rmsnorm_row_fn thm_impl_rmsnorm_row = 0;
thm_pv_rows_fn thm_impl_pv_rows = 0;
#endif
static int32_t thm_isa_current = THM_ISA_BEST;

int thm_isa_available(int32_t isa)
{
    switch (isa) {
    case THM_ISA_PORTABLE: return 1;
#if defined(THM_HAVE_ARM_DSP)
    case THM_ISA_ARM_DSP: return 1;
#endif
#if defined(THM_HAVE_ARM_MVE)
    case THM_ISA_ARM_MVE: return 1;
#endif
#if defined(THM_HAVE_ARM_NEON_DOT)
    case THM_ISA_ARM_NEON_DOT: return 1;
#endif
    default: return 0;
    }
}

int thm_isa_set(int32_t isa)
{
    if (!thm_isa_available(isa)) return THM_E_ISA;
    switch (isa) {
#if defined(THM_HAVE_ARM_DSP)
    case THM_ISA_ARM_DSP:
        thm_impl_matmul_s8 = thm_matmul_s8_dsp;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_dsp;
        thm_impl_dot_s8 = thm_dot_s8_dsp;
        thm_impl_softmax_row = thm_softmax_row_q15_dsp;
        thm_impl_rmsnorm_row = thm_rmsnorm_row_dsp;
        thm_impl_pv_rows = 0;
        break;
#endif
#if defined(THM_HAVE_ARM_MVE)
    case THM_ISA_ARM_MVE:
        thm_impl_matmul_s8 = thm_matmul_s8_mve;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_mve;
        thm_impl_dot_s8 = thm_dot_s8_mve;
        thm_impl_softmax_row = thm_softmax_row_q15_mve;
        thm_impl_rmsnorm_row = thm_rmsnorm_row_mve;
        thm_impl_pv_rows = thm_pv_rows_mve;
        break;
#endif
#if defined(THM_HAVE_ARM_NEON_DOT)
    case THM_ISA_ARM_NEON_DOT:
        thm_impl_matmul_s8 = thm_matmul_s8_neon;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_neon;
        thm_impl_dot_s8 = thm_dot_s8_neon;
        thm_impl_softmax_row = thm_softmax_row_q15_neon;
        thm_impl_rmsnorm_row = thm_rmsnorm_row_neon;
        thm_impl_pv_rows = 0;
        break;
#endif
    default:
        thm_impl_matmul_s8 = thm_matmul_s8_portable;
        thm_impl_matmul_s8_s32 = thm_matmul_s8_s32_portable;
        thm_impl_dot_s8 = thm_dot_s8_portable;
        thm_impl_softmax_row = 0;
        thm_impl_rmsnorm_row = 0;
        thm_impl_pv_rows = 0;
        break;
    }
    thm_isa_current = isa;
    return THM_OK;
}

int32_t thm_isa_get(void) { return thm_isa_current; }

#endif
