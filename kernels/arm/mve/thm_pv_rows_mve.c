/* Cortex-M55 Helium thm_pv_rows_s8 (the fast attention's P.V, runtime/device/
 * model/thm_model_attention.c): out [r, d] = sat8(requantize(sum_j p[r, j] vt[d, j]))
 * for bq query rows of Q15 probabilities p [bq, Tk] and one head's values
 * transposed, vt [D, Tk] int8; bit-exact with the digit-split matmuls it
 * replaces (the same int32 sums: |sum| <= 128 (2^15 + Tk), nothing wraps).
 *
 * Why: splitting p into int8 digits costs two int8 matmuls, a digit pass and
 * a recombining pass; P.V was a quarter of the watch's prefill after the
 * softmax and the norms got vector rows. VMLADAVA.S16 takes eight int16
 * products a step and VLDRB.S16 widens V while loading it, so p is used as
 * it is: 2 rows of p x 3 rows of vt per pass, 5 loads + 6 VMLADAVA + LETP per
 * 48 MACs, the Tk tail predicated by the low-overhead loop (WLSTP.16/LETP:
 * nothing past a row is read). A lone row (a decode step's cross-attention,
 * bq = 1, or an odd bq's last) takes 1 row of p x 4 rows of vt: 5 loads +
 * 4 VMLADAVA + LETP per 32 MACs (0.31; the 2 x 3 pass on a repeated row was
 * 0.5). VMLADAVA needs even accumulator registers, and VLDRB.S16 low base
 * registers, hence the pinned ones. Ragged edges of vt repeat its first row
 * (results not stored). */
#if defined(__ARM_FEATURE_MVE) && !defined(__aarch64__)

#include <arm_mve.h>

#include "thimble_kernels.h"   /* THM_MAX_HEAD_DIM */
#include "thm_impl.h"
#include "thm_arm_mve_requant.h"

/* s[i][j] = p_i . v_j over Tk for 2 rows of p and 3 rows of vt. */
__attribute__((noinline)) static void thm_pv_2x3(const int16_t *p0, const int16_t *p1, const int8_t *v0,
                                                 const int8_t *v1, const int8_t *v2, int32_t Tk, int32_t s[2][3])
{
    register int32_t a00 __asm__("r0") = 0;
    register int32_t a01 __asm__("r2") = 0;
    register int32_t a02 __asm__("r4") = 0;
    register int32_t a10 __asm__("r6") = 0;
    register int32_t a11 __asm__("r8") = 0;
    register int32_t a12 __asm__("r10") = 0;
    register const int8_t *w0 __asm__("r1") = v0;   /* VLDRB.S16 takes only low base registers */
    register const int8_t *w1 __asm__("r3") = v1;
    register const int8_t *w2 __asm__("r5") = v2;
    __asm__ volatile(
        "wlstp.16 lr, %[n], 2f\n"
        "1:\n"
        "vldrh.16 q0, [%[p0]], #16\n"
        "vldrh.16 q1, [%[p1]], #16\n"
        "vldrb.s16 q2, [%[v0]], #8\n"
        "vmladava.s16 %[a00], q0, q2\n"
        "vmladava.s16 %[a10], q1, q2\n"
        "vldrb.s16 q3, [%[v1]], #8\n"
        "vmladava.s16 %[a01], q0, q3\n"
        "vmladava.s16 %[a11], q1, q3\n"
        "vldrb.s16 q4, [%[v2]], #8\n"
        "vmladava.s16 %[a02], q0, q4\n"
        "vmladava.s16 %[a12], q1, q4\n"
        "letp lr, 1b\n"
        "2:\n"
        : [a00] "+r"(a00), [a01] "+r"(a01), [a02] "+r"(a02), [a10] "+r"(a10),
          [a11] "+r"(a11), [a12] "+r"(a12), [p0] "+r"(p0), [p1] "+r"(p1), [v0] "+r"(w0),
          [v1] "+r"(w1), [v2] "+r"(w2)
        : [n] "r"(Tk)
        : "lr", "q0", "q1", "q2", "q3", "q4", "memory");
    s[0][0] = a00; s[0][1] = a01; s[0][2] = a02;
    s[1][0] = a10; s[1][1] = a11; s[1][2] = a12;
}

/* s[j] = p0 . v_j over Tk for 1 row of p and 4 rows of vt. */
__attribute__((noinline)) static void thm_pv_1x4(const int16_t *p0, const int8_t *v0, const int8_t *v1,
                                                 const int8_t *v2, const int8_t *v3, int32_t Tk, int32_t s[4])
{
    register int32_t a0 __asm__("r0") = 0;
    register int32_t a1 __asm__("r6") = 0;
    register int32_t a2 __asm__("r8") = 0;
    register int32_t a3 __asm__("r10") = 0;
    register const int8_t *w0 __asm__("r1") = v0;   /* low registers, none of them r7 (the frame pointer) */
    register const int8_t *w1 __asm__("r3") = v1;
    register const int8_t *w2 __asm__("r4") = v2;
    register const int8_t *w3 __asm__("r5") = v3;
    __asm__ volatile(
        "wlstp.16 lr, %[n], 2f\n"
        "1:\n"
        "vldrh.16 q0, [%[p0]], #16\n"
        "vldrb.s16 q1, [%[v0]], #8\n"
        "vmladava.s16 %[a0], q0, q1\n"
        "vldrb.s16 q2, [%[v1]], #8\n"
        "vmladava.s16 %[a1], q0, q2\n"
        "vldrb.s16 q3, [%[v2]], #8\n"
        "vmladava.s16 %[a2], q0, q3\n"
        "vldrb.s16 q4, [%[v3]], #8\n"
        "vmladava.s16 %[a3], q0, q4\n"
        "letp lr, 1b\n"
        "2:\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [p0] "+r"(p0), [v0] "+r"(w0),
          [v1] "+r"(w1), [v2] "+r"(w2), [v3] "+r"(w3)
        : [n] "r"(Tk)
        : "lr", "q0", "q1", "q2", "q3", "q4", "memory");
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3;
}

/* out [D] = sat8(requantize(acc [D], mult, shift)), four at a time. */
static void thm_pv_store(const int32_t *acc, int32_t D, int32_t mult, int32_t shift, int8_t *out)
{
    const int32x4_t mv = vdupq_n_s32(mult), sv = vdupq_n_s32(shift);
    for (int32_t d = 0; d < D; d += 4) {
        const mve_pred16_t t = vctp32q((uint32_t)(D - d));
        vstrbq_p_s32(out + d, thm_mve_requant_sat8(vldrwq_z_s32(acc + d, t), mv, sv), t);
    }
}

void thm_pv_rows_s8_mve(const int16_t *p, int32_t bq, int32_t Tk, const int8_t *vt, int32_t D, int32_t mult,
                        int32_t shift, int8_t *out, size_t out_stride, void *scratch)
{
    (void)scratch;   /* no digits to keep */
    int32_t acc[2][THM_MAX_HEAD_DIM + 3];
    int32_t r = 0;
    for (; r + 2 <= bq; r += 2) {
        const int32_t r0 = r;
        const int16_t *p0 = p + (size_t)r0 * Tk, *p1 = p0 + Tk;
        for (int32_t d = 0; d < D; d += 3) {
            const int8_t *v0 = vt + (size_t)d * Tk;
            const int8_t *v1 = d + 1 < D ? v0 + Tk : v0, *v2 = d + 2 < D ? v0 + 2 * (size_t)Tk : v0;
            int32_t s[2][3];
            thm_pv_2x3(p0, p1, v0, v1, v2, Tk, s);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++) acc[i][d + j] = s[i][j];   /* d + 2 <= D + 1: in the buffer */
        }
        for (int i = 0; i < 2; i++)
            thm_pv_store(acc[i], D, mult, shift, out + (size_t)(r0 + i) * out_stride);
    }
    if (r < bq) {   /* the lone row */
        const int16_t *p0 = p + (size_t)r * Tk;
        for (int32_t d = 0; d < D; d += 4) {
            const int8_t *v0 = vt + (size_t)d * Tk;
            int32_t s[4];
            thm_pv_1x4(p0, v0, d + 1 < D ? v0 + Tk : v0, d + 2 < D ? v0 + 2 * (size_t)Tk : v0,
                       d + 3 < D ? v0 + 3 * (size_t)Tk : v0, Tk, s);
            for (int j = 0; j < 4; j++) acc[0][d + j] = s[j];   /* d + 3 <= D + 2: in the buffer */
        }
        thm_pv_store(acc[0], D, mult, shift, out + (size_t)r * out_stride);
    }
}

#endif /* __ARM_FEATURE_MVE */
