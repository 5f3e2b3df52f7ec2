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
 *   M = 1 (decode): 1 x 4: 2 x loads, 4 x (VLDRB, VSHL, VAND, 2 VMLADAVA),
 *           LE for 128 MACs (0.18).
 * The loops are inline assembly (the int8 kernel's reasons, thm_matmul_s8_mve.c),
 * low-overhead loops over whole 32s of k (VLD2x are not tail-predicated),
 * K % 32 in scalar; VMLADAVA needs even accumulator registers, hence the
 * pinned ones. Ragged edges reuse the first row of w or redo a row of x
 * (results not stored). The epilogue is the int8 kernel's vector one.
 */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"
#include "thm_arm_mve_requant.h"



/* s[j] = 16 x . w_j over `steps` 32s of k, 4 rows of w. */
__attribute__((noinline)) static void thm_s4_mve_1x4(const int8_t *x, const uint8_t *const wr[4], int32_t steps,
                                                     int32_t s[4])
{
    const uint8_t *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3];
    register int32_t a0 __asm__("r0") = 0;
    register int32_t a1 __asm__("r2") = 0;
    register int32_t a2 __asm__("r4") = 0;
    register int32_t a3 __asm__("r6") = 0;
#define THM_S4_MVE_ROW(acc, w)                 \
    "vldrb.8 q2, [%[" w "]], #16\n"            \
    "vshl.i8 q3, q2, #4\n"                     \
    "vand q2, q2, q7\n"                        \
    "vmladava.s8 %[" acc "], q3, q0\n"         \
    "vmladava.s8 %[" acc "], q2, q1\n"
    __asm__ volatile(
        "vmov.i8 q7, #0xF0\n"
        "wls lr, %[n], 2f\n"
        "1:\n"
        "vld20.8 {q0, q1}, [%[x]]\n"
        "vld21.8 {q0, q1}, [%[x]]!\n"
        THM_S4_MVE_ROW("a0", "w0") THM_S4_MVE_ROW("a1", "w1") THM_S4_MVE_ROW("a2", "w2")
        THM_S4_MVE_ROW("a3", "w3")
        "le lr, 1b\n"
        "2:\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w0] "+r"(w0),
          [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3)
        : [n] "r"(steps)
        : "lr", "q0", "q1", "q2", "q3", "q7", "memory");
#undef THM_S4_MVE_ROW
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3;
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

/* The true sums of nv columns from n: 16x sums shifted back, plus the K tail. */
static inline void thm_s4_mve_finish(int32_t *s, int32_t nv, const int8_t *x, const uint8_t *w0, size_t rowb,
                                     int32_t K32, int32_t K)
{
    for (int32_t j = 0; j < nv; j++)
        s[j] = (s[j] >> 4) + (K32 < K ? thm_s4_dot_from(x, w0 + (size_t)j * rowb, K32, K) : 0);
}

static void thm_s4_mve(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                       const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    const size_t rowb = (size_t)(K + 1) / 2;
    const int32_t steps = K / 32, K32 = steps * 32;
    if (M >= 2) {
        for (int32_t m = 0; m < M; m += 2) {
            const int32_t m0 = m + 2 <= M ? m : M - 2;   /* odd M: redo one row */
            const int8_t *x0 = x + (size_t)m0 * K;
            for (int32_t n = 0; n < N; n += 3) {
                const int32_t nv = N - n < 3 ? N - n : 3;
                const uint8_t *w0 = w4 + (size_t)n * rowb;
                int32_t s[2][3];
                thm_s4_mve_2x3(x0, x0 + K, w0, nv > 1 ? w0 + rowb : w0, nv > 2 ? w0 + 2 * rowb : w0, steps, s);
                for (int i = 0; i < 2; i++) {
                    thm_s4_mve_finish(s[i], nv, x0 + (size_t)i * K, w0, rowb, K32, K);
                    thm_mve_store(s[i], nv, n, bias, mult, shift, y32 ? 0 : y + (size_t)(m0 + i) * N,
                                  y32 ? y32 + (size_t)(m0 + i) * N : 0);
                }
            }
        }
        return;
    }
    for (int32_t n = 0; n < N; n += 4) {
        const int32_t nv = N - n < 4 ? N - n : 4;
        const uint8_t *w0 = w4 + (size_t)n * rowb;
        const uint8_t *wr[4] = {w0, w0 + rowb, w0 + 2 * rowb, w0 + 3 * rowb};
        for (int32_t j = nv; j < 4; j++) wr[j] = w0;   /* ragged N: results not stored */
        int32_t s[4];
        thm_s4_mve_1x4(x, wr, steps, s);
        thm_s4_mve_finish(s, nv, x, w0, rowb, K32, K);
        thm_mve_store(s, nv, n, bias, mult, shift, y32 ? 0 : y, y32);
    }
}

THM_MATMUL_S4_ENTRIES(mve, thm_s4_mve)

#endif /* __ARM_FEATURE_MVE */
