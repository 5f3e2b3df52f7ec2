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

static void thm_mve_matmul(const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int8_t *y8, int32_t *y32,
                           int32_t M, int32_t K, int32_t N)
{
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
