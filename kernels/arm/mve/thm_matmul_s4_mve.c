/* Cortex-M55 Helium (MVE-I) int4-weight matmul (W4A8): the bits of
 * thm_matmul_s4, weights read as they lie (row-major, two a byte).
 *
 * 16 bytes of a weight row hold 32 weights, byte j weights 2j (low nibble)
 * and 2j + 1 (high nibble). VSHL #4 moves the low nibble to the top of its
 * byte and VAND 0xF0 keeps the high one there: two int8 vectors of 16 w,
 * signed as they should be. VLD20 + VLD21 split 32 bytes of x into its even
 * and odd elements, and VMLADAVA.S8 adds each pair's 16 products to a scalar.
 * The sums are 16 times the true ones, |16 x . w| <= 2^14 K <= 2^30: exact,
 * and shifted back exactly.
 *   M >= 2: 2 rows of x x 3 rows of w per pass, 32 k per step: 4 x loads,
 *           3 x (VLDRB, VSHL, VAND, 4 VMLADAVA), LE for 192 MACs (0.135).
 *           The two rows share the 3 columns' bias, mult and shift loads;
 *           odd M redoes a row, ragged N the last 3 columns (only the new
 *           ones stored).
 *   M = 1 (decode): 1 x 6, every core register in use, 64 k a trip:
 *           2 x (VLD20 + VLD21 + 6 x (VLDRB, VSHL, VAND, 2 VMLADAVA)) + LE
 *           = 65 for 384 MACs (0.169); the first step sets the accumulators
 *           (VMLADAV), so nothing zeroes them. One naked assembly routine
 *           runs a chunk's tiles (19 instructions a tile beyond the steps,
 *           no call or frame per tile) and STMs the 16x sums of up to 101
 *           columns to the stack, then their epilogue runs 4 columns a
 *           vector, 19 instructions a trip in the common case (a ragged
 *           chunk redoes its last 6 columns: the same sums).
 *   N < 6 (M = 1) or N < 3: the portable C.
 * The loops are inline assembly (the int8 kernel's reasons, thm_matmul_s8_mve.c),
 * low-overhead loops over whole 32s of k (VLD2x are not tail-predicated),
 * K % 32 in scalar; VMLADAVA needs even accumulator registers, hence the
 * pinned ones. The epilogue is the int8 kernel's exact vector requantize
 * (thm_arm_mve_requant.h), predicated only where a vector passes N.
 */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"
#include "thm_arm_mve_requant.h"



/* What thm_s4_mve_1x6_run reads: x, its row bytes, steps - 1 (steps >= 1),
 * the bytes from a row's last 32 k to the next row (rowb - 16 steps: 0 when
 * 32 divides K), and where the sums go, 6 a tile, up to end. */
typedef struct {
    const int8_t *x;
    size_t rowb;
    int32_t nm1, gap;
    int32_t *out, *end;
} thm_s4_mve_run_t;

/* out[0 ..] = 16 x . w_j for the rows j from w on, 6 a tile, (end - out) / 6
 * tiles: the decode GEMV, every tile in one call so the frame, the mask and
 * the loop state are paid once per run of tiles rather than per tile. Every
 * core register but SP and PC is in use in a tile: the accumulators in the
 * even ones VMLADAVA needs (so one STM stores a tile's sums in column
 * order), x and the six rows in r1, r3, r5, r7, r9, r11, r12, the loop count
 * in LR; the run's state lives on the stack. A tile's first step sets the
 * accumulators (VMLADAV), an odd step follows, then 64 k a trip:
 * 2 x (VLD20 + VLD21 + 6 x (VLDRB, VSHL, VAND, 2 VMLADAVA)) + LE = 65
 * instructions for 384 MACs (0.169). Row 5's pointer ends 16 steps on, so
 * the next tile's row 0 is it plus the gap; the rest of a tile: 5 ADDs for
 * the rows, 2 loads (x, rowb), 4 for the odd step and the loop (LDR, LSRS,
 * BCC, WLS), 3 to store the sums (LDR, STM, STR), 5 to move on (LDR, ADD,
 * LDR, CMP, BNE): 19. Naked, as the body is the whole function (its own
 * frame, AAPCS in and out). */
__attribute__((naked, noinline, noipa)) static void thm_s4_mve_1x6_run(__attribute__((unused)) const uint8_t *w,
                                                                       __attribute__((unused)) const thm_s4_mve_run_t *run)
{
#define THM_S4_MVE_ROW0(acc, w)                \
    "vldrb.8 q2, [" w "], #16\n"               \
    "vshl.i8 q3, q2, #4\n"                     \
    "vand q2, q2, q7\n"                        \
    "vmladav.s8 " acc ", q3, q0\n"             \
    "vmladava.s8 " acc ", q2, q1\n"
#define THM_S4_MVE_ROW(acc, w)                 \
    "vldrb.8 q2, [" w "], #16\n"               \
    "vshl.i8 q3, q2, #4\n"                     \
    "vand q2, q2, q7\n"                        \
    "vmladava.s8 " acc ", q3, q0\n"            \
    "vmladava.s8 " acc ", q2, q1\n"
#define THM_S4_MVE_STEP                                                        \
    "vld20.8 {q0, q1}, [r1]\n"                                                 \
    "vld21.8 {q0, q1}, [r1]!\n"                                                \
    THM_S4_MVE_ROW("r0", "r3") THM_S4_MVE_ROW("r2", "r5") THM_S4_MVE_ROW("r4", "r7") \
    THM_S4_MVE_ROW("r6", "r9") THM_S4_MVE_ROW("r8", "r11") THM_S4_MVE_ROW("r10", "r12")
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "vpush {d14, d15}\n"
        "sub sp, sp, #24\n"
        "ldm r1, {r2, r4, r5, r6, r7, r8}\n"     /* the state onto the stack: */
        "stm sp, {r2, r4, r5, r6, r7, r8}\n"     /* x, rowb, nm1, gap, out, end */
        "mov r3, r0\n"
        "vmov.i8 q7, #0xF0\n"
        "1:\n"
        "ldr r1, [sp]\n"
        "ldr r0, [sp, #4]\n"
        "adds r5, r3, r0\n"
        "adds r7, r5, r0\n"
        "add r9, r7, r0\n"
        "add r11, r9, r0\n"
        "add r12, r11, r0\n"
        "vld20.8 {q0, q1}, [r1]\n"
        "vld21.8 {q0, q1}, [r1]!\n"
        THM_S4_MVE_ROW0("r0", "r3") THM_S4_MVE_ROW0("r2", "r5") THM_S4_MVE_ROW0("r4", "r7")
        THM_S4_MVE_ROW0("r6", "r9") THM_S4_MVE_ROW0("r8", "r11") THM_S4_MVE_ROW0("r10", "r12")
        "ldr lr, [sp, #8]\n"
        "lsrs lr, lr, #1\n"      /* the odd step's bit into carry */
        "bcc 3f\n"
        THM_S4_MVE_STEP
        "3:\n"
        "wls lr, lr, 5f\n"
        "4:\n"
        THM_S4_MVE_STEP
        THM_S4_MVE_STEP
        "le lr, 4b\n"
        "5:\n"
        "ldr r1, [sp, #16]\n"
        "stmia r1!, {r0, r2, r4, r6, r8, r10}\n"
        "str r1, [sp, #16]\n"
        "ldr r0, [sp, #12]\n"
        "add r3, r12, r0\n"
        "ldr r0, [sp, #20]\n"
        "cmp r1, r0\n"
        "bne 1b\n"
        "add sp, sp, #24\n"
        "vpop {d14, d15}\n"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
#undef THM_S4_MVE_STEP
#undef THM_S4_MVE_ROW
#undef THM_S4_MVE_ROW0
}

/* s[i][j] = 16 x_i . w_j over `steps` 32s of k, 2 rows of x, 3 of w. */
__attribute__((noinline)) static void thm_s4_mve_2x3(const int8_t *x0, const int8_t *x1, const uint8_t *w0,
                                                     const uint8_t *w1, const uint8_t *w2, int32_t steps,
                                                     int32_t s[2][3])
{
    register int32_t a00 __asm__("r0") = 0;
    register int32_t a01 __asm__("r2") = 0;
    register int32_t a02 __asm__("r4") = 0;
    register int32_t a10 __asm__("r6") = 0;
    register int32_t a11 __asm__("r8") = 0;
    register int32_t a12 __asm__("r10") = 0;
#define THM_S4_MVE_COL(a0, a1, w)              \
    "vldrb.8 q4, [%[" w "]], #16\n"            \
    "vshl.i8 q5, q4, #4\n"                     \
    "vand q4, q4, q7\n"                        \
    "vmladava.s8 %[" a0 "], q5, q0\n"          \
    "vmladava.s8 %[" a0 "], q4, q1\n"          \
    "vmladava.s8 %[" a1 "], q5, q2\n"          \
    "vmladava.s8 %[" a1 "], q4, q3\n"
    __asm__ volatile(
        "vmov.i8 q7, #0xF0\n"
        "wls lr, %[n], 2f\n"
        "1:\n"
        "vld20.8 {q0, q1}, [%[x0]]\n"
        "vld21.8 {q0, q1}, [%[x0]]!\n"
        "vld20.8 {q2, q3}, [%[x1]]\n"
        "vld21.8 {q2, q3}, [%[x1]]!\n"
        THM_S4_MVE_COL("a00", "a10", "w0") THM_S4_MVE_COL("a01", "a11", "w1") THM_S4_MVE_COL("a02", "a12", "w2")
        "le lr, 1b\n"
        "2:\n"
        : [a00] "+r"(a00), [a01] "+r"(a01), [a02] "+r"(a02), [a10] "+r"(a10), [a11] "+r"(a11),
          [a12] "+r"(a12), [x0] "+r"(x0), [x1] "+r"(x1), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2)
        : [n] "r"(steps)
        : "lr", "q0", "q1", "q2", "q3", "q4", "q5", "q7", "memory");
#undef THM_S4_MVE_COL
    s[0][0] = a00; s[0][1] = a01; s[0][2] = a02;
    s[1][0] = a10; s[1][1] = a11; s[1][2] = a12;
}


/* The K tail (K % 32) of nv columns, in plain C: only odd depths reach it. */
__attribute__((noinline)) static void thm_s4_mve_tail(int32_t *s, int32_t nv, const int8_t *x, const uint8_t *w0,
                                                      size_t rowb, int32_t K32, int32_t K)
{
    for (int32_t j = 0; j < nv; j++) s[j] += thm_s4_dot_from(x, w0 + (size_t)j * rowb, K32, K);
}

/* 16 times the K tail (K % 32) added to 16 times the sums of nv columns:
 * exact, as |16 x . w| <= 2^30 over all of K. */
__attribute__((noinline)) static void thm_s4_mve_tail16(int32_t *s, int32_t nv, const int8_t *x, const uint8_t *w0,
                                                        size_t rowb, int32_t K32, int32_t K)
{
    for (int32_t j = 0; j < nv; j++)
        s[j] = (int32_t)((uint32_t)s[j] + ((uint32_t)thm_s4_dot_from(x, w0 + (size_t)j * rowb, K32, K) << 4));
}

/* Lanes from .. nv - 1 of a 32-bit vector, as a predicate. */
static inline mve_pred16_t thm_s4_mve_lanes(int32_t from, int32_t nv)
{
    return (mve_pred16_t)((0xFFFFu >> (16 - 4 * nv)) & (0xFFFFu << (4 * from)));
}

/* The parameters of 4 columns from n0: whole vectors where all 4 exist,
 * else only the first nv lanes read (the rest 0). */
typedef struct { int32x4_t bias, mult, shift; } thm_s4_mve_cols;

static inline __attribute__((always_inline)) thm_s4_mve_cols thm_s4_mve_params(
    const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t n0, int32_t nv, int32_t N, int rq)
{
    thm_s4_mve_cols c;
    const int32x4_t zero = vdupq_n_s32(0);
    if (n0 + 4 <= N) {
        c.bias = bias ? vldrwq_s32(bias + n0) : zero;
        c.mult = rq ? vldrwq_s32(mult + n0) : zero;
        c.shift = rq ? vldrwq_s32(shift + n0) : zero;
    } else {
        const mve_pred16_t p = vctp32q((uint32_t)nv);
        c.bias = bias ? vldrwq_z_s32(bias + n0, p) : zero;
        c.mult = rq ? vldrwq_z_s32(mult + n0, p) : zero;
        c.shift = rq ? vldrwq_z_s32(shift + n0, p) : zero;
    }
    return c;
}

/* One output row's lanes of p from 16 times the sums v (+ the K tail t). */
static inline __attribute__((always_inline)) void thm_s4_mve_put(int32x4_t v, int32x4_t t, thm_s4_mve_cols c,
                                                                 mve_pred16_t p, int32_t n0, int8_t *y8,
                                                                 int32_t *y32)
{
    v = vaddq_s32(vaddq_s32(vshrq_n_s32(v, 4), t), c.bias);
    if (y32) vstrwq_p_s32(y32 + n0, v, p);
    else vstrbq_p_s32(y8 + n0, thm_mve_requant_sat8(v, c.mult, c.shift), p);
}

#define THM_S4_MVE_CHUNK 96   /* columns of the M = 1 path's raw sums on the stack */

static void thm_s4_mve(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                       const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    const size_t rowb = (size_t)(K + 1) / 2;
    const int32_t steps = K / 32, K32 = steps * 32;
    const int rq = y32 == 0;
    if (N < 6 || (M >= 2 && N < 3)) {
        if (y32) thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
        else thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
        return;
    }
    const int32x4_t zero = vdupq_n_s32(0);
    if (M >= 2) {
        /* 2 rows x 3 columns a pass; odd M redoes a row, ragged N the last 3
         * columns (only the new ones stored). Both rows share the columns'
         * parameters. */
        for (int32_t m = 0; m < M; m += 2) {
            const int32_t m0 = m + 2 <= M ? m : M - 2;
            const int8_t *x0 = x + (size_t)m0 * K;
            int8_t *y80 = rq ? y + (size_t)m0 * N : 0;
            int32_t *y320 = rq ? 0 : y32 + (size_t)m0 * N;
            for (int32_t n = 0; n < N; n += 3) {
                const int32_t n0 = n + 3 <= N ? n : N - 3;
                const uint8_t *w0 = w4 + (size_t)n0 * rowb;
                int32_t s[2][3];
                thm_s4_mve_2x3(x0, x0 + K, w0, w0 + rowb, w0 + 2 * rowb, steps, s);
                int32x4_t t0 = zero, t1 = zero;
                if (K32 < K) {
                    int32_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    thm_s4_mve_tail(t, 3, x0, w0, rowb, K32, K);
                    thm_s4_mve_tail(t + 4, 3, x0 + K, w0, rowb, K32, K);
                    t0 = vldrwq_s32(t);
                    t1 = vldrwq_s32(t + 4);
                }
                const thm_s4_mve_cols c = thm_s4_mve_params(bias, mult, shift, n0, 3, N, rq);
                const mve_pred16_t p = thm_s4_mve_lanes(n - n0, 3);
                int32x4_t v0 = vsetq_lane_s32(s[0][2], vsetq_lane_s32(s[0][1], vdupq_n_s32(s[0][0]), 1), 2);
                int32x4_t v1 = vsetq_lane_s32(s[1][2], vsetq_lane_s32(s[1][1], vdupq_n_s32(s[1][0]), 1), 2);
                thm_s4_mve_put(v0, t0, c, p, n0, y80, y320);
                thm_s4_mve_put(v1, t1, c, p, n0, y80 ? y80 + N : 0, y320 ? y320 + N : 0);
            }
        }
        return;
    }
    /* M = 1: 16 times the sums of a chunk of columns into buf, 6 a tile in
     * one run (a ragged chunk redoes its last 6 in a second: the same sums
     * again), then the chunk's epilogue 4 columns a vector. The last chunk
     * takes what is left when that is under THM_S4_MVE_CHUNK + 6, so every
     * chunk has 6 columns. */
    int32_t buf[THM_S4_MVE_CHUNK + 6] __attribute__((aligned(16)));
    thm_s4_mve_run_t run = {x, rowb, steps - 1, (int32_t)rowb - 16 * steps, buf, buf};
    for (int32_t c0 = 0; c0 < N;) {
        const int32_t L = N - c0 < THM_S4_MVE_CHUNK + 6 ? N - c0 : THM_S4_MVE_CHUNK;
        const int32_t L6 = L - L % 6;
        const uint8_t *wc = w4 + (size_t)c0 * rowb;
        if (steps) {
            run.out = buf;
            run.end = buf + L6;
            thm_s4_mve_1x6_run(wc, &run);
            if (L6 < L) {
                run.out = buf + L - 6;
                run.end = buf + L;
                thm_s4_mve_1x6_run(wc + (size_t)(L - 6) * rowb, &run);
            }
        } else {
            for (int32_t i = 0; i < L; i++) buf[i] = 0;
        }
        if (K32 < K) thm_s4_mve_tail16(buf, L, x, wc, rowb, K32, K);
        /* one plain loop per case, the pointers stepped, nothing tested in it */
        const int32_t *sp = buf;
        const int32_t L4 = L >> 2;
        if (rq && bias) {
            const int32_t *bp = bias + c0, *mp = mult + c0, *hp = shift + c0;
            int8_t *yp = y + c0;
            for (int32_t i = 0; i < L4; i++) {
                const int32x4_t v = vaddq_s32(vshrq_n_s32(vldrwq_s32(sp), 4), vldrwq_s32(bp));
                vstrbq_s32(yp, thm_mve_requant_sat8(v, vldrwq_s32(mp), vldrwq_s32(hp)));
                sp += 4; bp += 4; mp += 4; hp += 4; yp += 4;
            }
        } else {
            for (int32_t j = 0; j < 4 * L4; j += 4) {
                int32x4_t v = vshrq_n_s32(vldrwq_s32(buf + j), 4);
                if (bias) v = vaddq_s32(v, vldrwq_s32(bias + c0 + j));
                if (y32) vstrwq_s32(y32 + c0 + j, v);
                else vstrbq_s32(y + c0 + j, thm_mve_requant_sat8(v, vldrwq_s32(mult + c0 + j), vldrwq_s32(shift + c0 + j)));
            }
        }
        const int32_t j = 4 * L4;
        if (j < L) {
            thm_s4_mve_put(vldrwq_s32(buf + j), zero, thm_s4_mve_params(bias, mult, shift, c0 + j, L - j, N, rq),
                           vctp32q((uint32_t)(L - j)), c0 + j, y, y32);
        }
        c0 += L;
    }
}

THM_MATMUL_S4_ENTRIES(mve, thm_s4_mve)

#endif /* __ARM_FEATURE_MVE */
