/* Cortex-M DSP matmul on converter-packed int16 weights (THM_LAYOUT_S16_R4K16,
 * runtime/thimble/kernels/layouts.py): y[M, N] = sat8(requantize(x . w^T + bias)).
 *
 * Why int16 weights: with int8 weights every two weights need one SXTB16
 * before their SMLAD, a floor of 1.25 instructions per MAC at decode
 * (docs/kernels-arm.md). Widened on the host, and stored in the order
 * SXTB16 leaves x in (k0, k0+2 | k0+1, k0+3), the weights go straight from
 * LDM into SMLAD; only x is widened, once per 4 k and shared by 4 rows.
 * Per 4 k and 4 rows of w (16 MACs): LDR x, 2 SXTB16, 2 LDM of 4 words, 8
 * SMLAD = 13; a 16-k block (4 of them) adds SUBS + BNE: 54 per 64 MACs.
 * Zero padding (N to 4 rows, K to 16) leaves no edge in the loop; the last
 * K % 16 of x comes from a zero-padded copy.
 *
 * The requantize is scalar assembly, exact (thm_requantize's integers):
 * SMULL + the 2^30 nudge as a 64-bit add gives (x*m + 2^30) >> 31, which is
 * the reference's SaturatingRoundingDoublingHighMul for every x*m (its
 * truncating division of a negative sum equals this floor); QADD doubles the
 * high word so its one overflow (x = m = INT32_MIN) saturates as the
 * reference does. The rounding right shift by e is ASRS (C = the last bit
 * shifted out) + ADC of x - 1 for negative x (ties away from zero).
 * Exact sums: |x . w| <= 2^14 * K <= 2^30; SMLAD wraps like int32.
 */
#if defined(__ARM_FEATURE_DSP) && !defined(__aarch64__)

#include "thm_impl.h"

/* 4 k of x (r4) against the tile's 4 rows (r5) into the sums r0..r3:
 * r8..r11 take two rows' words per LDM (ascending, as LDM fills them), ip
 * and lr hold x widened. */
#define THM_DSP_GROUP \
    "ldr lr, [r4], #4\n" \
    "sxtb16 ip, lr\n" \
    "sxtb16 lr, lr, ror #8\n" \
    "ldmia r5!, {r8, r9, r10, r11}\n" \
    "smlad r0, ip, r8, r0\n" \
    "smlad r0, lr, r9, r0\n" \
    "smlad r1, ip, r10, r1\n" \
    "smlad r1, lr, r11, r1\n" \
    "ldmia r5!, {r8, r9, r10, r11}\n" \
    "smlad r2, ip, r8, r2\n" \
    "smlad r2, lr, r9, r2\n" \
    "smlad r3, ip, r10, r3\n" \
    "smlad r3, lr, r11, r3\n"

/* One row of x against `tiles` tiles, read by the assembly through r7. The
 * first four fields are loaded and stored back with one LDM / STM. */
typedef struct {
    const int32_t *bias;    /* 0: the tile's 4 biases (advances; unused without bias) */
    const int32_t *mult;    /* 4 */
    const int32_t *shift;   /* 8 */
    int8_t *y;              /* 12 */
    const int8_t *x;        /* 16: the row of x */
    const int8_t *xt;       /* 20: its last K % 16, zero-padded */
    int32_t blocks;         /* 24: full 16-k blocks of x */
    int32_t tail;           /* 28: 1 if the padded block follows */
    int32_t tiles;          /* 32: >= 1, counts down */
    const int16_t *w;       /* 36: the first tile */
} thm_dsp_job;

/* sat8(requantize(r, mult, shift)) of one column, r in r0..r3 (bias added by
 * BIAS): loads through r9/r10 (mult, shift), stores through r11 (y). */
#define THM_DSP_OUT(r, BIAS) \
    BIAS \
    "ldr ip, [r9], #4\n" \
    "ldr lr, [r10], #4\n" \
    "usat r4, #5, lr\n"                     /* left = max(shift, 0) */ \
    "lsl " r ", " r ", r4\n" \
    "smull r4, r6, " r ", ip\n" \
    "adds r4, r4, #0x40000000\n" \
    "adc r6, r6, #0\n" \
    "qadd r6, r6, r6\n" \
    "orr r6, r6, r4, lsr #31\n"             /* (x*m + 2^30) >> 31, saturated */ \
    "rsb r4, lr, #0\n" \
    "usat r4, #5, r4\n"                     /* e = max(-shift, 0) */ \
    "cmn r4, #0\n"                          /* Z = (e == 0), C = 0 */ \
    "it ne\n" \
    "addne r6, r6, r6, asr #31\n"           /* x - 1 for x < 0: ties away from zero */ \
    "asrs r6, r6, r4\n"                     /* C = bit e - 1 (unchanged, 0, if e = 0) */ \
    "adc r6, r6, #0\n" \
    "ssat r6, #8, r6\n" \
    "strb r6, [r11], #1\n"
#define THM_DSP_BIAS(r) "ldr lr, [r8], #4\n" "add " r ", " r ", lr\n"

/* The row's tiles: zero the 4 sums, the K loop, the padded tail block, then
 * the 4 outputs, all in one assembly loop (a C loop around it cost 0.05
 * instructions per MAC). r0..r3 sums, r4 x, r5 w, r6 count, r7 the job,
 * r8..r11 + ip + lr scratch. Two variants: with and without bias. */
#define THM_DSP_ROW(name, B0, B1, B2, B3) \
__attribute__((noinline)) static void name(thm_dsp_job *job) \
{ \
    register thm_dsp_job *j __asm__("r7") = job; \
    __asm__ volatile( \
        "ldr r5, [r7, #36]\n" \
        "0:\n" \
        "movs r0, #0\n" "movs r1, #0\n" "movs r2, #0\n" "movs r3, #0\n" \
        "ldr r4, [r7, #16]\n" \
        "ldr r6, [r7, #24]\n" \
        "cmp r6, #0\n" "beq 2f\n" \
        "1:\n" \
        THM_DSP_GROUP THM_DSP_GROUP THM_DSP_GROUP THM_DSP_GROUP \
        "subs r6, r6, #1\n" \
        "bne 1b\n" \
        "2:\n" \
        "ldr r6, [r7, #28]\n" \
        "cmp r6, #0\n" "beq 3f\n" \
        "ldr r4, [r7, #20]\n" \
        THM_DSP_GROUP THM_DSP_GROUP THM_DSP_GROUP THM_DSP_GROUP \
        "3:\n" \
        "ldmia r7, {r8, r9, r10, r11}\n" \
        THM_DSP_OUT("r0", B0) THM_DSP_OUT("r1", B1) THM_DSP_OUT("r2", B2) THM_DSP_OUT("r3", B3) \
        "stmia r7, {r8, r9, r10, r11}\n" \
        "ldr r6, [r7, #32]\n" \
        "subs r6, r6, #1\n" \
        "str r6, [r7, #32]\n" \
        "bne 0b\n" \
        : \
        : "r"(j) \
        : "cc", "memory", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10", "r11", \
          "ip", "lr"); \
}
THM_DSP_ROW(thm_dsp_row_bias, THM_DSP_BIAS("r0"), THM_DSP_BIAS("r1"), THM_DSP_BIAS("r2"),
            THM_DSP_BIAS("r3"))
THM_DSP_ROW(thm_dsp_row, "", "", "", "")

void thm_matmul_s8_packed_dsp(const int8_t *x, const void *wp, const int32_t *bias,
                              const int32_t *mult, const int32_t *shift, int8_t *y,
                              int32_t M, int32_t K, int32_t N)
{
    const int32_t full = K / 16, rest = K % 16, tiles = N / 4, nv = N % 4;
    const size_t tile_elems = (size_t)(full + (rest != 0)) * 64;     /* int16 per tile */
    void (*row)(thm_dsp_job *) = bias ? thm_dsp_row_bias : thm_dsp_row;
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xr = x + (size_t)m * K;
        int8_t xt[16];        /* the row's last K % 16 bytes, zero-padded */
        for (int32_t k = 0; k < 16; k++) xt[k] = k < rest ? xr[full * 16 + k] : 0;
        int8_t *yr = y + (size_t)m * N;
        if (tiles > 0) {
            thm_dsp_job job = {bias, mult, shift, yr, xr, xt, full, rest != 0, tiles, wp};
            row(&job);
        }
        if (nv) {             /* the ragged last tile: parameters and outputs on the stack */
            const int32_t n = tiles * 4;
            int32_t pb[4] = {0, 0, 0, 0}, pm[4] = {0, 0, 0, 0}, ps[4] = {0, 0, 0, 0};
            int8_t out[4];
            for (int32_t j = 0; j < nv; j++) {
                pb[j] = bias ? bias[n + j] : 0;
                pm[j] = mult[n + j];
                ps[j] = shift[n + j];
            }
            thm_dsp_job job = {pb, pm, ps, out, xr, xt, full, rest != 0, 1,
                               (const int16_t *)wp + (size_t)tiles * tile_elems};
            thm_dsp_row_bias(&job);
            for (int32_t j = 0; j < nv; j++) yr[n + j] = out[j];
        }
    }
}

#endif /* __ARM_FEATURE_DSP */
