/* Cortex-M55 Helium matmul on converter-packed weights (THM_LAYOUT_S8_R8K64,
 * the NEON layout: tiles of 8 rows, per 64-k block the 8 rows' 64 bytes).
 * y[M, N] = sat8(requantize(x . w^T + bias)).
 *
 * Why this layout on Helium: one pointer walks a tile, so the loop needs
 * only x, w and a counter in the odd registers, and all eight even registers
 * r0 .. r12, lr (VMLADAVA's accumulators must be even) hold sums: 8 rows of
 * w per pass instead of 5. lr being a sum, the loops count with SUBS + BNE.
 *   M = 1 (decode): 1 x 8, 128 k per iteration: 8 + 64 VLDRB, 64 VMLADAVA,
 *     SUBS + BNE: 138 per 1024 MACs (0.135). Floor at M = 1: every weight
 *     is loaded once (16 bytes an instruction) and used once (16 MACs a
 *     VMLADAVA): 0.125, plus x.
 *   M >= 2: 2 x 4 (half a tile, rows read at an offset: VLDRW's 7-bit
 *     immediate scales by 4, VLDRB's does not), 64 k per iteration: 8 + 16
 *     loads, 32 VMLADAVA, ADD + SUBS + BNE: 59 per 512 MACs (0.115).
 * (K < 192, too short for the decode loop, takes the 2 x 4 loop with the
 * row twice.) The first 16 k of a decode tile use VMLADAV (no accumulate),
 * which zeroes the sums for free. Sums go out with one STM to a stack
 * buffer of THM_MVE_NC columns; the epilogue (bias, exact requantize as in thm_arm_mve_requant.h,
 * saturate) then runs over the buffer in a tail-predicated loop, 4 columns
 * per 17 instructions. The last K % 64 of x comes from a zero-padded copy
 * (the weights are zero there). Exact: VMLADAVA wraps like int32 and
 * |x . w| <= 2^30.
 */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <string.h>

#include "thm_impl.h"

#define THM_MVE_NC 256  /* columns per epilogue chunk (32 tiles; 2 KiB of sums) */
#define THM_STR_(v) #v
#define THM_STR(v) THM_STR_(v)

/* One row of w (4 vectors from [r3], post-increment) against x in q0..q3. */
#define ROW8(a, OP) \
    "vldrb.8 q4, [r3], #16\n" OP " " a ", q0, q4\n" \
    "vldrb.8 q5, [r3], #16\n" "vmladava.s8 " a ", q1, q5\n" \
    "vldrb.8 q6, [r3], #16\n" "vmladava.s8 " a ", q2, q6\n" \
    "vldrb.8 q7, [r3], #16\n" "vmladava.s8 " a ", q3, q7\n"
#define X4 \
    "vldrb.8 q0, [r1], #16\n" "vldrb.8 q1, [r1], #16\n" \
    "vldrb.8 q2, [r1], #16\n" "vldrb.8 q3, [r1], #16\n"
/* 64 k of 1 x 8; FIRST: the first products replace the sums. */
#define BLOCK8(OP) X4 \
    ROW8("r0", OP) ROW8("r2", OP) ROW8("r4", OP) ROW8("r6", OP) \
    ROW8("r8", OP) ROW8("r10", OP) ROW8("r12", OP) ROW8("lr", OP)
#define ACC "vmladava.s8"
#define FIRST "vmladav.s8"

/* Decode job, read by the assembly through one register (r11). */
typedef struct {
    const int8_t *x;        /* 0: the row of x */
    const int8_t *w;        /* 4: the first tile */
    int32_t pairs;          /* 8: pairs of further full blocks, >= 1 */
    const int8_t *xt;       /* 12: zero-padded last K % 64 of x */
} thm_mve_job1;

/* sums[8 * tiles]: x . w for every row of `tiles` tiles from job->w. The
 * blocks after the pairs (EXTRA: an odd full block, the zero-padded tail,
 * both or neither) are fixed per call, so each combination is its own
 * function rather than two tests per tile. */
#define THM_MVE_DECODE(name, EXTRA) \
__attribute__((noinline)) static void name(const thm_mve_job1 *job, int32_t *sums, int32_t tiles) \
{ \
    register const thm_mve_job1 *j __asm__("r11") = job; \
    register int32_t *s __asm__("r9") = sums; \
    register int32_t t __asm__("r7") = tiles; \
    __asm__ volatile( \
        "ldr r3, [r11, #4]\n" \
        "0:\n" \
        "ldr r1, [r11, #0]\n" \
        BLOCK8(FIRST) \
        "ldr r5, [r11, #8]\n"          /* >= 1: a do-while */ \
        "1:\n" \
        BLOCK8(ACC) BLOCK8(ACC) \
        "subs r5, r5, #1\n" \
        "bne 1b\n" \
        EXTRA \
        "stmia r9!, {r0, r2, r4, r6, r8, r10, r12, lr}\n" \
        "subs r7, r7, #1\n" \
        "bne 0b\n" \
        : "+r"(s), "+r"(t) \
        : "r"(j) \
        : "cc", "memory", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r8", "r10", "r12", "lr", \
          "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7"); \
}
#define THM_MVE_TAIL "ldr r1, [r11, #12]\n" BLOCK8(ACC)
THM_MVE_DECODE(thm_mve_decode, "")
THM_MVE_DECODE(thm_mve_decode_odd, BLOCK8(ACC))
THM_MVE_DECODE(thm_mve_decode_tail, THM_MVE_TAIL)
THM_MVE_DECODE(thm_mve_decode_odd_tail, BLOCK8(ACC) THM_MVE_TAIL)

/* Rows 0..3 of w at [r5] (offset o), 16 k of x0 (q0) and x1 (q1). */
#define HALF16(o) \
    "vldrb.8 q0, [r1], #16\n" "vldrb.8 q1, [r3], #16\n" \
    "vldrw.u32 q2, [r5, #" #o "]\n" \
    "vmladava.s8 r0, q0, q2\n" "vmladava.s8 r8, q1, q2\n" \
    "vldrw.u32 q3, [r5, #64+" #o "]\n" \
    "vmladava.s8 r2, q0, q3\n" "vmladava.s8 r10, q1, q3\n" \
    "vldrw.u32 q2, [r5, #128+" #o "]\n" \
    "vmladava.s8 r4, q0, q2\n" "vmladava.s8 r12, q1, q2\n" \
    "vldrw.u32 q3, [r5, #192+" #o "]\n" \
    "vmladava.s8 r6, q0, q3\n" "vmladava.s8 lr, q1, q3\n"
#define BLOCK2X4 HALF16(0) HALF16(16) HALF16(32) HALF16(48) "add r5, r5, #512\n"

typedef struct {
    const int8_t *x0, *x1;      /* 0, 4 */
    const int8_t *w;            /* 8: rows 0..3 (or 4..7) of the tile's first block */
    int32_t blocks;             /* 12: full 64-k blocks */
    const int8_t *xt0, *xt1;    /* 16, 20: zero-padded last K % 64 of each row */
    int32_t tail;               /* 24 */
} thm_mve_job2;

/* sums[0..3] = x0 . rows and sums[THM_MVE_NC + 0..3] = x1 . rows, for 4 rows of a tile. */
__attribute__((noinline)) static void thm_mve_packed_2x4(const thm_mve_job2 *job, int32_t *sums)
{
    register const thm_mve_job2 *j __asm__("r11") = job;
    register int32_t *s __asm__("r9") = sums;
    __asm__ volatile(
        "movs r0, #0\n" "movs r2, #0\n" "movs r4, #0\n" "movs r6, #0\n"
        "mov r8, #0\n" "mov r10, #0\n" "mov r12, #0\n" "mov lr, #0\n"
        "ldr r1, [r11, #0]\n" "ldr r3, [r11, #4]\n" "ldr r5, [r11, #8]\n"
        "ldr r7, [r11, #12]\n"
        "cmp r7, #0\n" "beq 2f\n"
        "1:\n"
        BLOCK2X4
        "subs r7, r7, #1\n"
        "bne 1b\n"
        "2:\n"
        "ldr r7, [r11, #24]\n"
        "cmp r7, #0\n" "beq 3f\n"
        "ldr r1, [r11, #16]\n" "ldr r3, [r11, #20]\n"
        BLOCK2X4
        "3:\n"
        "stmia r9, {r0, r2, r4, r6}\n"
        "add r1, r9, #4 * " THM_STR(THM_MVE_NC) "\n"     /* the second row's sums */
        "stmia r1, {r8, r10, r12, lr}\n"
        :
        : "r"(j), "r"(s)
        : "cc", "memory", "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r10", "r12",
          "lr", "q0", "q1", "q2", "q3");
}

static const int32_t thm_mve_zero[THM_MVE_NC];

/* y[0..n) = sat8(requantize(sums + bias, mult, shift)), 4 columns a step. */
__attribute__((noinline)) static void thm_mve_epilogue(const int32_t *sums, const int32_t *bias,
                                                       const int32_t *mult,
                                                       const int32_t *shift, int8_t *y,
                                                       int32_t n)
{
    __asm__ volatile(
        "vmov.i32 q7, #0\n"
        "vmvn.i32 q6, #0x7f\n"             /* -128 */
        "vmov.i32 q5, #0x7f\n"             /* 127 */
        "wlstp.32 lr, %[n], 2f\n"
        "1:\n"
        "vldrw.u32 q0, [%[s]], #16\n"
        "vldrw.u32 q1, [%[b]], #16\n"
        "vadd.i32 q0, q0, q1\n"
        "vldrw.u32 q2, [%[sh]], #16\n"
        "vldrw.u32 q3, [%[mu]], #16\n"
        "vmax.s32 q1, q2, q7\n"            /* left */
        "vmin.s32 q2, q2, q7\n"            /* -right */
        "vshl.s32 q0, q0, q1\n"
        "vqrdmulh.s32 q0, q0, q3\n"
        "vand q1, q0, q2\n"
        "vshr.s32 q1, q1, #31\n"           /* -1 if x < 0 and right != 0 */
        "vqadd.s32 q0, q0, q1\n"
        "vrshl.s32 q0, q0, q2\n"
        "vmax.s32 q0, q0, q6\n"
        "vmin.s32 q0, q0, q5\n"
        "vstrb.32 q0, [%[y]], #4\n"
        "letp lr, 1b\n"
        "2:\n"
        : [s] "+r"(sums), [b] "+r"(bias), [mu] "+r"(mult), [sh] "+r"(shift), [y] "+l"(y)
        : [n] "r"(n)
        : "lr", "memory", "q0", "q1", "q2", "q3", "q5", "q6", "q7");
}

void thm_matmul_s8_packed_mve(const int8_t *x, const void *wp, const int32_t *bias,
                              const int32_t *mult, const int32_t *shift, int8_t *y,
                              int32_t M, int32_t K, int32_t N)
{
    const int32_t full = K / 64, rest = K % 64;
    const size_t tile_bytes = (size_t)(full + (rest != 0)) * 512;
    int32_t sums[2][THM_MVE_NC];       /* [row][column of the chunk] */
    int8_t xt[2][64];                  /* zero-padded last K % 64 of the rows */
    int32_t m = 0;
    for (; m < M; m += 2) {
        const int32_t rows = M - m >= 2 ? 2 : 1;
        const int8_t *xr = x + (size_t)m * K;
        if (rest) {
            memset(xt, 0, sizeof xt);
            for (int32_t i = 0; i < rows; i++) memcpy(xt[i], xr + (size_t)i * K + full * 64, (size_t)rest);
        }
        for (int32_t n0 = 0; n0 < N; n0 += THM_MVE_NC) {
            const int32_t nc = N - n0 < THM_MVE_NC ? N - n0 : THM_MVE_NC;
            const int32_t tiles = (nc + 7) / 8;
            const int8_t *w = (const int8_t *)wp + (size_t)(n0 / 8) * tile_bytes;
            if (rows == 1 && full >= 3) {
                const int32_t after = full - 1;              /* full blocks after the first */
                const int32_t odd = after % 2, tail = rest != 0;
                const thm_mve_job1 job = {xr, w, after / 2, xt[0]};
                (odd ? (tail ? thm_mve_decode_odd_tail : thm_mve_decode_odd)
                     : (tail ? thm_mve_decode_tail : thm_mve_decode))(&job, sums[0], tiles);
            } else {    /* two rows, or a short K: the 2 x 4 loop (a short row repeats) */
                for (int32_t t = 0; t < tiles; t++)
                    for (int32_t h = 0; h < 2; h++) {
                        const thm_mve_job2 job = {xr, xr + (rows - 1) * (size_t)K,
                                                  w + (size_t)t * tile_bytes + 256 * h, full, xt[0],
                                                  xt[rows - 1], rest != 0};
                        thm_mve_packed_2x4(&job, &sums[0][8 * t + 4 * h]);
                    }
            }
            for (int32_t i = 0; i < rows; i++)
                thm_mve_epilogue(sums[i], bias ? bias + n0 : thm_mve_zero, mult + n0, shift + n0,
                                 y + (size_t)(m + i) * N + n0, nc);
        }
    }
}

#endif /* __ARM_FEATURE_MVE */
