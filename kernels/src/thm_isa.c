/* The ops tables, one per ISA, and the switch between them (thm_impl.h).
 *
 * A table names only the ops its ISA has a fast path for; every other entry
 * is NULL and runs the portable C. Which tables exist is the whole difference
 * between builds: an x86 host compiles in AVX2, AVX-VNNI, AVX-512 VNNI and
 * AMX and asks CPUID (and, for AMX, the kernel)
 * whether it may run them; a board compiles in the ones its feature macros
 * (boards/<name>.toml) bring and runs any of them. The ids and the layouts each ISA
 * owns are also in runtime/thimble/kernels/isa.py (a test compares them). */
#include "thimble_kernels.h"
#include "thm_impl.h"

static const thm_ops thm_ops_portable = {.isa = THM_ISA_PORTABLE};

#if defined(THM_HAVE_X86)
/* thm_rows_avx2.c: the row kernels around the matmul (issue 16), in the AVX2
 * and AVX-VNNI tables alike */
#define THM_AVX2_ROWS                                        \
    .requantize_s32 = thm_requantize_s32_avx2,               \
    .softmax_q15_rows = thm_softmax_q15_rows_avx2,           \
    .rmsnorm_s8 = thm_rmsnorm_s8_avx2,                       \
    .rmsnorm_s16 = thm_rmsnorm_s16_avx2,                     \
    .rope_s8 = thm_rope_s8_avx2,                             \
    .residual_gated_s16 = thm_residual_gated_s16_avx2,       \
    .pv_rows_s8 = thm_pv_rows_s8_avx2,                       \
    .pv_combine_s8 = thm_pv_combine_s8_avx2,                 \
    .dot_s8 = thm_dot_s8_avx2,                               \
    .pv_s16s8 = thm_pv_s16s8_avx2,                           \
    .matmul_cq = thm_matmul_cq_avx2,

static const thm_ops thm_ops_avx2 = {
    .isa = THM_ISA_AVX2,
    .available = thm_x86_has_avx2,
    .matmul_s8 = thm_matmul_s8_avx2,
    .matmul_s8_s32 = thm_matmul_s8_s32_avx2,
    .matmul_s4 = thm_matmul_s4_avx2,
    .matmul_s4_s32 = thm_matmul_s4_s32_avx2,
    THM_AVX2_ROWS
};

/* AVX-VNNI CPUs without AVX-512: the AVX2 table with the VEX vpdpbusd matmul. */
static const thm_ops thm_ops_avxvnni = {
    .isa = THM_ISA_AVXVNNI,
    .available = thm_x86_has_avxvnni,
    .matmul_s8 = thm_matmul_s8_avxvnni,
    .matmul_s8_s32 = thm_matmul_s8_s32_avxvnni,
    .matmul_s4 = thm_matmul_s4_avx2,
    .matmul_s4_s32 = thm_matmul_s4_s32_avx2,
    THM_AVX2_ROWS
};

static const thm_ops thm_ops_avx512vnni = {
    .isa = THM_ISA_AVX512VNNI,
    .available = thm_x86_has_avx512vnni,
    .matmul_s8 = thm_matmul_s8_avx512vnni,
    .matmul_s8_s32 = thm_matmul_s8_s32_avx512vnni,
    .matmul_s4 = thm_matmul_s4_avx512vnni,
    .matmul_s4_s32 = thm_matmul_s4_s32_avx512vnni,
    .gemv_s8 = thm_gemv_s8_avx512,
    .gemv_s8_s32 = thm_gemv_s8_s32_avx512,
    .requantize_s32 = thm_requantize_s32_avx512,
    .softmax_q15_rows = thm_softmax_q15_rows_avx512,
    .rmsnorm_s8 = thm_rmsnorm_s8_avx512,
    .rmsnorm_s16 = thm_rmsnorm_s16_avx512,
    .rope_s8 = thm_rope_s8_avx512,
    .residual_gated_s16 = thm_residual_gated_s16_avx512,
    .pv_combine_s8 = thm_pv_combine_s8_avx512,
    .matmul_cq = thm_matmul_cq_avx2,
};

/* AMX: the AVX-512 VNNI table with the tile matmul for M >= THM_AMX_MIN_M
 * (the one-row gemv stays AVX-512: a decode step has one row). */
static const thm_ops thm_ops_amx = {
    .isa = THM_ISA_AMX,
    .available = thm_x86_has_amx,
    .matmul_s8 = thm_matmul_s8_amx,
    .matmul_s8_s32 = thm_matmul_s8_s32_amx,
    .matmul_s4 = thm_matmul_s4_avx512vnni,
    .matmul_s4_s32 = thm_matmul_s4_s32_avx512vnni,
    .gemv_s8 = thm_gemv_s8_avx512,
    .gemv_s8_s32 = thm_gemv_s8_s32_avx512,
    .requantize_s32 = thm_requantize_s32_avx512,
    .softmax_q15_rows = thm_softmax_q15_rows_avx512,
    .rmsnorm_s8 = thm_rmsnorm_s8_avx512,
    .rmsnorm_s16 = thm_rmsnorm_s16_avx512,
    .rope_s8 = thm_rope_s8_avx512,
    .residual_gated_s16 = thm_residual_gated_s16_avx512,
    .pv_combine_s8 = thm_pv_combine_s8_avx512,
    .matmul_cq = thm_matmul_cq_avx2,
};
#endif

#if defined(THM_HAVE_ARM_DSP)
static const thm_ops thm_ops_arm_dsp = {
    .isa = THM_ISA_ARM_DSP,
    .matmul_s8 = thm_matmul_s8_dsp,
    .matmul_s8_s32 = thm_matmul_s8_s32_dsp,
    .matmul_s8_packed = {[THM_LAYOUT_S16_R4K16] = thm_matmul_s8_packed_dsp},
    .matmul_s4 = thm_matmul_s4_dsp,
    .matmul_s4_s32 = thm_matmul_s4_s32_dsp,
    .softmax_q15_rows = thm_softmax_q15_rows_dsp,
    .rmsnorm_s8 = thm_rmsnorm_s8_dsp,
    .rmsnorm_s16 = thm_rmsnorm_s16_dsp,
    .dot_s8 = thm_dot_s8_dsp,
    .matmul_cq = thm_matmul_cq_dsp,
};
#endif

#if defined(THM_HAVE_ARM_MVE)
static const thm_ops thm_ops_arm_mve = {
    .isa = THM_ISA_ARM_MVE,
    .matmul_s8 = thm_matmul_s8_mve,
    .matmul_s8_s32 = thm_matmul_s8_s32_mve,
    .matmul_s8_packed = {[THM_LAYOUT_S8_R8K64] = thm_matmul_s8_packed_mve},
    .matmul_s4 = thm_matmul_s4_mve,
    .matmul_s4_s32 = thm_matmul_s4_s32_mve,
    .softmax_q15_rows = thm_softmax_q15_rows_mve,
    .rmsnorm_s8 = thm_rmsnorm_s8_mve,
    .rmsnorm_s16 = thm_rmsnorm_s16_mve,
    .pv_rows_s8 = thm_pv_rows_s8_mve,
    .pv_s16s8 = thm_pv_s16s8_mve,
    .requantize_s32 = thm_requantize_s32_mve,
    .rope_s8 = thm_rope_s8_mve,
    .residual_gated_s16 = thm_residual_gated_s16_mve,
    .dot_s8 = thm_dot_s8_mve,
    .matmul_cq = thm_matmul_cq_mve,
    .cq_rotate_s8 = thm_cq_rotate_s8_mve,
    .fwht_s8_s32 = thm_fwht_s8_s32_mve,
};
#endif

#if defined(THM_HAVE_ARM_NEON_DOT)
static const thm_ops thm_ops_arm_neon_dot = {
    .isa = THM_ISA_ARM_NEON_DOT,
    .matmul_s8 = thm_matmul_s8_neon,
    .matmul_s8_s32 = thm_matmul_s8_s32_neon,
    .matmul_s8_packed = {[THM_LAYOUT_S8_R8K64] = thm_matmul_s8_packed_neon},
    .matmul_s4 = thm_matmul_s4_neon,
    .matmul_s4_s32 = thm_matmul_s4_s32_neon,
    .softmax_q15_rows = thm_softmax_q15_rows_neon,
    .rmsnorm_s8 = thm_rmsnorm_s8_neon,
    .rmsnorm_s16 = thm_rmsnorm_s16_neon,
    .pv_rows_s8 = thm_pv_rows_s8_neon,
    .pv_s16s8 = thm_pv_s16s8_neon,
    .requantize_s32 = thm_requantize_s32_neon,
    .dot_s8 = thm_dot_s8_neon,
    .matmul_cq = thm_matmul_cq_neon,
    .cq_rotate_s8 = thm_cq_rotate_s8_neon,
    .fwht_s8_s32 = thm_fwht_s8_s32_neon,
};
#endif

/* The tables this build has, slowest first: a board starts on the last one
 * (its best), an x86 host on portable until it is told otherwise. */
static const thm_ops *const thm_ops_all[] = {
    &thm_ops_portable,
#if defined(THM_HAVE_X86)
    &thm_ops_avx2, &thm_ops_avxvnni, &thm_ops_avx512vnni, &thm_ops_amx,
#endif
#if defined(THM_HAVE_ARM_DSP)
    &thm_ops_arm_dsp,
#endif
#if defined(THM_HAVE_ARM_MVE)
    &thm_ops_arm_mve,
#endif
#if defined(THM_HAVE_ARM_NEON_DOT)
    &thm_ops_arm_neon_dot,
#endif
};
#define THM_N_OPS ((int32_t)(sizeof(thm_ops_all) / sizeof(thm_ops_all[0])))

#if defined(THM_HAVE_X86)
const thm_ops *thm_ops_now = &thm_ops_portable;
#else
const thm_ops *thm_ops_now = thm_ops_all[THM_N_OPS - 1];
#endif

static const thm_ops *thm_ops_find(int32_t isa)
{
    for (int32_t i = 0; i < THM_N_OPS; i++) {
        const thm_ops *o = thm_ops_all[i];
        if (o->isa == isa) return !o->available || o->available() ? o : 0;
    }
    return 0;
}

int thm_isa_available(int32_t isa) { return thm_ops_find(isa) != 0; }

int thm_isa_set(int32_t isa)
{
    const thm_ops *o = thm_ops_find(isa);
    if (!o) return THM_E_ISA;
    thm_ops_now = o;
    return THM_OK;
}

int32_t thm_isa_get(void) { return thm_ops_now->isa; }

int32_t thm_isa_amx_status(void)
{
#if defined(THM_HAVE_X86)
    return thm_x86_amx_status();
#else
    return THM_AMX_NO_CPU;
#endif
}
