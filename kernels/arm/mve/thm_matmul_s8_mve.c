/* Cortex-M55 Helium (MVE-I) matmul: y[M, N] = x[M, K] . w[N, K]^T (+ bias),
 * int32 or requantized int8 out.
 *
 * Exact: VMLADAVA.S8 adds the 16 int8 x int8 products of a vector pair into
 * a 32-bit scalar accumulator, wrapping like the reference; |x . w| <= 2^30.
 *
 * Layout: the caller's plain [N, K] rows. The inner loops are inline
 * assembly: GCC 12 compiles the intrinsics into a predicated loop with its
 * own counter (0.6 instructions per MAC measured), while a tail-predicated
 * low-overhead loop (WLSTP.8 / LETP) costs one instruction per 16 k and
 * predicates the K tail for free (inactive lanes are neither read nor added,
 * so nothing past a row is touched).
 *   M >= 2: 2 rows of x x 3 rows of w per pass: 5 loads + 6 VMLADAVA + LETP
 *           per 96 MACs (0.125).
 *   M = 1 (decode): 1 row of x x 5 rows of w: 6 loads + 5 VMLADAVA + LETP
 *           per 80 MACs (0.15).
 * The epilogue (bias, exact requantize, saturate) is vector, four columns
 * at a time (thm_arm_mve_requant.h).
 * VMLADAVA needs an even accumulator register, hence the pinned registers.
 * Ragged edges reuse the last row of x or w (results not stored).
 */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include "thm_impl.h"
#include "thm_arm_mve_requant.h"

/* s[j] = x . w_j for 5 rows of w. Not inlined: the loop needs 12 registers
 * of its own. */
__attribute__((noinline)) static void thm_mve_1x5(const int8_t *x, const int8_t *const wr[5], int32_t K, int32_t s[5])
{
    const int8_t *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3], *w4 = wr[4];
    register int32_t a0 __asm__("r0") = 0;
    register int32_t a1 __asm__("r2") = 0;
    register int32_t a2 __asm__("r4") = 0;
    register int32_t a3 __asm__("r6") = 0;
    register int32_t a4 __asm__("r8") = 0;
    __asm__ volatile(
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n"
        "vldrb.8 q0, [%[x]], #16\n"
        "vldrb.8 q1, [%[w0]], #16\n"
        "vmladava.s8 %[a0], q0, q1\n"
        "vldrb.8 q2, [%[w1]], #16\n"
        "vmladava.s8 %[a1], q0, q2\n"
        "vldrb.8 q3, [%[w2]], #16\n"
        "vmladava.s8 %[a2], q0, q3\n"
        "vldrb.8 q4, [%[w3]], #16\n"
        "vmladava.s8 %[a3], q0, q4\n"
        "vldrb.8 q5, [%[w4]], #16\n"
        "vmladava.s8 %[a4], q0, q5\n"
        "letp lr, 1b\n"
        "2:\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),
          [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3),
          [w4] "+r"(w4)
        : [n] "r"(K)
        : "lr", "q0", "q1", "q2", "q3", "q4", "q5", "memory");
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = a4;
}

/* s[i][j] = x_i . w_j for 2 rows of x and 3 rows of w. */
__attribute__((noinline)) static void thm_mve_2x3(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1,
                        const int8_t *w2, int32_t K, int32_t s[2][3])
{
    register int32_t a00 __asm__("r0") = 0;
    register int32_t a01 __asm__("r2") = 0;
    register int32_t a02 __asm__("r4") = 0;
    register int32_t a10 __asm__("r6") = 0;
    register int32_t a11 __asm__("r8") = 0;
    register int32_t a12 __asm__("r10") = 0;
    __asm__ volatile(
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n"
        "vldrb.8 q0, [%[x0]], #16\n"
        "vldrb.8 q1, [%[x1]], #16\n"
        "vldrb.8 q2, [%[w0]], #16\n"
        "vmladava.s8 %[a00], q0, q2\n"
        "vmladava.s8 %[a10], q1, q2\n"
        "vldrb.8 q3, [%[w1]], #16\n"
        "vmladava.s8 %[a01], q0, q3\n"
        "vmladava.s8 %[a11], q1, q3\n"
        "vldrb.8 q4, [%[w2]], #16\n"
        "vmladava.s8 %[a02], q0, q4\n"
        "vmladava.s8 %[a12], q1, q4\n"
        "letp lr, 1b\n"
        "2:\n"
        : [a00] "+r"(a00), [a01] "+r"(a01), [a02] "+r"(a02), [a10] "+r"(a10),
          [a11] "+r"(a11), [a12] "+r"(a12), [x0] "+r"(x0), [x1] "+r"(x1), [w0] "+r"(w0),
          [w1] "+r"(w1), [w2] "+r"(w2)
        : [n] "r"(K)
        : "lr", "q0", "q1", "q2", "q3", "q4", "memory");
    s[0][0] = a00; s[0][1] = a01; s[0][2] = a02;
    s[1][0] = a10; s[1][1] = a11; s[1][2] = a12;
}

/* Short rows (K = 16, 32, 48 or 64: attention's QK^T, K = head_dim, keys
 * head-major so the rows of w follow each other): the 2 x 3 blocks above
 * run only K / 16 steps each, and their call, setup and epilogue cost more
 * than the products (0.41 instructions per MAC at K = 64). Here the row of
 * x stays in q0 .. q(K/16 - 1) for the whole row, and one pointer walks w
 * row after row (rows are contiguous), 8 rows a pass into all eight even
 * registers r0 .. r12, lr (VMLADAVA's accumulators; lr is a sum, so the
 * pass count is SUBS + BNE in r7): K / 16 VLDRB + K / 16 VMLADAV(A) per
 * row of w, one STM of the 8 int32 sums straight into y per pass, i.e. at
 * K = 64 67 instructions per 512 MACs (0.13). The first product of a row is
 * VMLADAV, which replaces the old sum: no zeroing. */
#define THM_QK_LD(q) "vldrb.8 " q ", [r3], #16\n"
#define THM_QK_R1(a) THM_QK_LD("q4") "vmladav.s8 " a ", q0, q4\n"
#define THM_QK_R2(a) THM_QK_R1(a) THM_QK_LD("q5") "vmladava.s8 " a ", q1, q5\n"
#define THM_QK_R3(a) THM_QK_R2(a) THM_QK_LD("q6") "vmladava.s8 " a ", q2, q6\n"
#define THM_QK_R4(a) THM_QK_R3(a) THM_QK_LD("q7") "vmladava.s8 " a ", q3, q7\n"
#define THM_QK_X1 "vldrb.8 q0, [r1], #16\n"
#define THM_QK_X2 THM_QK_X1 "vldrb.8 q1, [r1], #16\n"
#define THM_QK_X3 THM_QK_X2 "vldrb.8 q2, [r1], #16\n"
#define THM_QK_X4 THM_QK_X3 "vldrb.8 q3, [r1], #16\n"
#define THM_QK_PASS(R) R("r0") R("r2") R("r4") R("r6") R("r8") R("r10") R("r12") R("lr")

/* y[0 .. 8 passes) = x . w_j for 8 * passes consecutive rows of w (passes >= 1). */
#define THM_QK_KERNEL(name, X, R)                                                                     \
    __attribute__((noinline)) static void name(const int8_t *x, const int8_t *w, int32_t *y,          \
                                               int32_t passes)                                        \
    {                                                                                                 \
        register const int8_t *xr __asm__("r1") = x;                                                  \
        register const int8_t *wr __asm__("r3") = w;                                                  \
        register int32_t *yr __asm__("r9") = y;                                                       \
        register int32_t n __asm__("r7") = passes;                                                    \
        __asm__ volatile(X                                                                            \
                         "1:\n" THM_QK_PASS(R)                                                        \
                         "stmia r9!, {r0, r2, r4, r6, r8, r10, r12, lr}\n"                            \
                         "subs r7, r7, #1\n"                                                          \
                         "bne 1b\n"                                                                   \
                         : "+r"(xr), "+r"(wr), "+r"(yr), "+r"(n)                                      \
                         :                                                                            \
                         : "cc", "memory", "r0", "r2", "r4", "r6", "r8", "r10", "r12", "lr", "q0",    \
                           "q1", "q2", "q3", "q4", "q5", "q6", "q7");                                 \
    }
THM_QK_KERNEL(thm_mve_qk16, THM_QK_X1, THM_QK_R1)
THM_QK_KERNEL(thm_mve_qk32, THM_QK_X2, THM_QK_R2)
THM_QK_KERNEL(thm_mve_qk48, THM_QK_X3, THM_QK_R3)
THM_QK_KERNEL(thm_mve_qk64, THM_QK_X4, THM_QK_R4)

/* int32 out for K in {16, 32, 48, 64} and N >= 8: whole passes of 8 rows
 * straight into y; a ragged N % 8 is one more pass over the last 8 rows
 * (overlapping ones already done, so nothing past w is read) into a buffer. */
static void thm_mve_short_k(const int8_t *x, const int8_t *w, const int32_t *bias, int32_t *y,
                            int32_t M, int32_t K, int32_t N)
{
    typedef void kern(const int8_t *, const int8_t *, int32_t *, int32_t);
    kern *const k = K == 16 ? thm_mve_qk16 : K == 32 ? thm_mve_qk32 : K == 48 ? thm_mve_qk48 : thm_mve_qk64;
    const int32_t full = N / 8, rest = N % 8;
    for (int32_t m = 0; m < M; m++) {
        const int8_t *xm = x + (size_t)m * K;
        int32_t *ym = y + (size_t)m * N;
        k(xm, w, ym, full);
        if (rest) {
            int32_t t[8];
            k(xm, w + (size_t)(N - 8) * K, t, 1);
            for (int32_t j = 8 - rest; j < 8; j++) ym[N - 8 + j] = t[j];
        }
        if (bias)
            for (int32_t j = 0; j < N; j++) ym[j] = (int32_t)((uint32_t)ym[j] + (uint32_t)bias[j]);
    }
}

static void thm_mve_matmul(const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int8_t *y8, int32_t *y32,
                           int32_t M, int32_t K, int32_t N)
{
    if (y32 && N >= 8 && K <= 64 && K % 16 == 0) {
        thm_mve_short_k(x, w, bias, y32, M, K, N);
        return;
    }
    if (M >= 2) {
        for (int32_t m = 0; m < M; m += 2) {
            const int32_t m0 = m + 2 <= M ? m : M - 2;   /* odd M: redo one row */
            const int8_t *x0 = x + (size_t)m0 * K;
            for (int32_t n = 0; n < N; n += 3) {
                const int32_t nv = N - n < 3 ? N - n : 3;
                const int8_t *w0 = w + (size_t)n * K;
                int32_t s[2][3];
                thm_mve_2x3(x0, x0 + K, w0, nv > 1 ? w0 + K : w0, nv > 2 ? w0 + 2 * (size_t)K : w0,
                            K, s);
                for (int i = 0; i < 2; i++)
                    thm_mve_store(s[i], nv, n, bias, mult, shift,
                                  y8 ? y8 + (size_t)(m0 + i) * N : 0,
                                  y32 ? y32 + (size_t)(m0 + i) * N : 0);
            }
        }
        return;
    }
    for (int32_t n = 0; n < N; n += 5) {
        const int32_t nv = N - n < 5 ? N - n : 5;
        const int8_t *w0 = w + (size_t)n * K;
        const int8_t *wr[5] = {w0, w0 + K, w0 + 2 * (size_t)K, w0 + 3 * (size_t)K,
                               w0 + 4 * (size_t)K};
        if (nv < 5)   /* ragged N: repeat the first row (results not stored) */
            for (int j = nv; j < 5; j++) wr[j] = w0;
        int32_t s[5];
        thm_mve_1x5(x, wr, K, s);
        thm_mve_store(s, nv < 4 ? nv : 4, n, bias, mult, shift, y8, y32);
        if (nv > 4) thm_mve_store(s + 4, nv - 4, n + 4, bias, mult, shift, y8, y32);
    }
}

THM_MATMUL_ENTRIES(mve, thm_mve_matmul)

#endif /* __ARM_FEATURE_MVE */
