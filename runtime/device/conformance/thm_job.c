/* Running one case of a conformance job (thm_conformance.h): the shared
 * core of the conformance firmware (a job in the weights region, results by
 * semihosting) and of the link app's bring-up check (TEST KERNEL: a job
 * staged over the serial link, results read back with OUT). */
#include <stdint.h>

#include "thimble_kernels.h"
#include "thm_conformance.h"
#include "thm_hal.h"

/* The empty call measured by THM_K_EMPTY: same call shape as a kernel. */
__attribute__((noinline)) static int thm_empty(void)
{
    __asm__ volatile("" : : : "memory");
    return THM_OK;
}

#define buf(c, i) ((void *)((c)->len[i] ? job + (c)->off[i] : (uint8_t *)0))

static int sizes_ok(const thm_job_case *c);

int thm_job_case_ok(const thm_job_case *c, uint32_t total)
{
    if (c->kernel >= THM_K_COUNT || c->n_bufs > THM_JOB_MAX_BUFS) return 0;
    for (uint32_t i = 0; i < c->n_bufs; i++) {
        if (c->off[i] % 16 || c->off[i] > total || c->len[i] > total - c->off[i]) return 0;
    }
    return sizes_ok(c);
}

/* Buffer i holds at least n elements of `size` bytes (a NULL-able buffer may be empty). */
static int holds(const thm_job_case *c, uint32_t i, int64_t n, int64_t size, int nullable)
{
    if (n < 0) return 0;
    if (nullable && c->len[i] == 0) return 1;
    return (int64_t)c->len[i] >= n * size;
}

/* The case's parameters fit its buffers: a malformed job is refused, never
 * allowed to make a kernel read or write outside them. */
static int sizes_ok(const thm_job_case *c)
{
    const int32_t *p = c->p;
    int64_t M = p[0], K = p[1], N = p[2];
    switch (c->kernel) {
    case THM_K_EMPTY:
    case THM_K_SPIN2:
        return 1;
    case THM_K_MATMUL_S8:
        return c->n_bufs == 6 && holds(c, 0, M * K, 1, 0) && holds(c, 1, N * K, 1, 0) &&
               holds(c, 2, N, 4, 1) && holds(c, 3, N, 4, 0) && holds(c, 4, N, 4, 0) && holds(c, 5, M * N, 1, 0);
    case THM_K_MATMUL_S8_PACKED:     /* an unknown layout (size 0) reaches the kernel, which refuses it */
        return c->n_bufs == 6 && holds(c, 0, M * K, 1, 0) &&
               holds(c, 1, (int64_t)thm_matmul_s8_packed_size(p[3], p[1], p[2]), 1, 0) &&
               holds(c, 2, N, 4, 1) && holds(c, 3, N, 4, 0) && holds(c, 4, N, 4, 0) && holds(c, 5, M * N, 1, 0);
    case THM_K_MATMUL_S4:
        return c->n_bufs == 6 && holds(c, 0, M * K, 1, 0) && holds(c, 1, N * ((K + 1) / 2), 1, 0) &&
               holds(c, 2, N, 4, 1) && holds(c, 3, N, 4, 0) && holds(c, 4, N, 4, 0) && holds(c, 5, M * N, 1, 0);
    case THM_K_MATMUL_S4_S32:
        return c->n_bufs == 4 && holds(c, 0, M * K, 1, 0) && holds(c, 1, N * ((K + 1) / 2), 1, 0) &&
               holds(c, 2, N, 4, 1) && holds(c, 3, M * N, 4, 0);
    case THM_K_EMBED_S16_S4:   /* T V D */
        return c->n_bufs == 5 && holds(c, 0, M, 4, 0) && holds(c, 1, K * ((N + 1) / 2), 1, 0) &&
               holds(c, 2, K, 4, 0) && holds(c, 3, K, 4, 0) && holds(c, 4, M * N, 2, 0);
    case THM_K_CQ_ROTATE_S8: {  /* M K: G = ceil(K / 128) */
        const int64_t G = (K + 127) / 128;
        return c->n_bufs == 2 && K >= 1 && holds(c, 0, M * K, 1, 0) && holds(c, 1, M * G * 129, 1, 0);
    }
    case THM_K_MATMUL_CQ_S8:
    case THM_K_MATMUL_CQ_S32: {  /* M Kp N bits: the kernel refuses a Kp that is not whole groups */
        const int64_t G = K / 128, bits = p[3];
        return c->n_bufs == 8 && bits >= 2 && bits <= 4 && holds(c, 0, M * K, 1, 0) && holds(c, 1, M * G, 1, 0) &&
               holds(c, 2, N * (K * bits / 8), 1, 0) && holds(c, 3, (int64_t)1 << bits, 1, 0) &&
               holds(c, 4, N * G, 2, 0) && holds(c, 5, N, 4, 0) && holds(c, 6, N, 4, 0) &&
               holds(c, 7, M * N, c->kernel == THM_K_MATMUL_CQ_S8 ? 1 : 4, 0);
    }
    case THM_K_SINKHORN_Q12:     /* count n iters */
        return c->n_bufs == 2 && holds(c, 0, M * K * K, 4, 0) && holds(c, 1, M * K * K, 2, 0);
    case THM_K_ENGRAM_HASH:      /* n_hist pos n_orders heads slots */
        return c->n_bufs == 3 && holds(c, 0, M, 4, 0) && holds(c, 1, N, 4, 0) && holds(c, 2, N * p[3], 4, 0);
    case THM_K_SIGMOID_Q15:      /* n */
        return c->n_bufs == 2 && holds(c, 0, M, 4, 0) && holds(c, 1, M, 4, 0);
    case THM_K_FWHT_S8:          /* rows n */
        return c->n_bufs == 2 && holds(c, 0, M * K, 1, 0) && holds(c, 1, M * K, 4, 0);
    case THM_K_CQ_GATHER: {      /* N Kp bits P K bound */
        const int64_t bits = p[2], P = p[3], Kout = p[4];
        return c->n_bufs == 7 && bits >= 2 && bits <= 4 && holds(c, 0, M * (K * bits / 8), 1, 0) &&
               holds(c, 1, (int64_t)1 << bits, 1, 0) && holds(c, 2, M * (K / 128), 2, 0) && holds(c, 3, P, 4, 0) &&
               holds(c, 4, P, 4, 0) && holds(c, 5, P, 4, 0) && holds(c, 6, P * Kout, p[5] == 127 ? 1 : 2, 0);
    }
    case THM_K_PV_ROWS:      /* bq Tk D */
        return c->n_bufs == 3 && holds(c, 0, M * K, 2, 0) && holds(c, 1, N * K, 1, 0) && holds(c, 2, M * N, 1, 0);
    case THM_K_PV_COMBINE_S8:    /* n; s2 may be empty (two digits) */
        return c->n_bufs == 4 && holds(c, 0, M, 4, 0) && holds(c, 1, M, 4, 0) && holds(c, 2, M, 4, 1) &&
               holds(c, 3, M, 1, 0);
    case THM_K_SOFTMAX_Q15_ROWS: /* rows n */
        return c->n_bufs == 2 && holds(c, 0, M * K, 4, 0) && holds(c, 1, M * K, 2, 0);
    case THM_K_MATMUL_S8_S32:
        return c->n_bufs == 4 && holds(c, 0, M * K, 1, 0) && holds(c, 1, N * K, 1, 0) &&
               holds(c, 2, N, 4, 1) && holds(c, 3, M * N, 4, 0);
    case THM_K_SOFTMAX_Q15:
        return c->n_bufs == 3 && holds(c, 0, M, 4, 0) && holds(c, 1, M, 1, 1) && holds(c, 2, M, 2, 0);
    case THM_K_ATTENTION_S8: {
        int64_t Tq = p[0], Tk = p[1], hq = (int64_t)p[2] * p[4], hk = (int64_t)p[3] * p[4];
        return c->n_bufs == 5 && holds(c, 0, Tq * hq, 1, 0) && holds(c, 1, Tk * hk, 1, 0) &&
               holds(c, 2, Tk * hk, 1, 0) && holds(c, 3, Tk, 1, 1) && holds(c, 4, Tq * hq, 1, 0);
    }
    case THM_K_RMSNORM_S16:
    case THM_K_RMSNORM_S8:
        return c->n_bufs == 4 && holds(c, 0, M * K, c->kernel == THM_K_RMSNORM_S16 ? 2 : 1, 0) &&
               holds(c, 1, K, 4, 0) && holds(c, 2, K, 4, 0) && holds(c, 3, M * K, 1, 0);
    case THM_K_ROPE_S8:     /* T heads D pos0 n_pos */
        return c->n_bufs == 4 && holds(c, 0, M * K * N, 1, 0) && holds(c, 1, (int64_t)p[4] * (N / 2), 2, 0) &&
               holds(c, 2, (int64_t)p[4] * (N / 2), 2, 0) && holds(c, 3, M * K * N, 1, 0);
    case THM_K_RESIDUAL_S16:
        return c->n_bufs == 3 && holds(c, 0, M, 2, 0) && holds(c, 1, M, 1, 0) && c->len[2] == c->len[0];
    case THM_K_EMBED_S16:   /* T V D */
        return c->n_bufs == 5 && holds(c, 0, M, 4, 0) && holds(c, 1, K * N, 1, 0) && holds(c, 2, K, 4, 0) &&
               holds(c, 3, K, 4, 0) && holds(c, 4, M * N, 2, 0);
    case THM_K_REQUANTIZE_S32:
        return c->n_bufs == 4 && holds(c, 0, M, 4, 0) && holds(c, 1, M, 4, 0) && holds(c, 2, M, 4, 0) &&
               holds(c, 3, M, 4, 0);
    case THM_K_N2_RUN:      /* n_tokens max_pos: the logits' room is checked once V is known */
        return c->n_bufs == 3 && holds(c, 1, M, 4, 0) && holds(c, 2, M * 3, 4, 0);
    case THM_K_N2_ANSWER:   /* n_prompt ... max_new (p[8]) */
        return c->n_bufs == 6 && M >= 1 && holds(c, 1, M, 4, 0) && holds(c, 5, 3 + (int64_t)p[8], 4, 0);
    default:
        return 0;
    }
}

/* Runs one case; *ticks gets the counter ticks around the kernel call only. */
int thm_job_run_case(uint8_t *job, const thm_job_case *c, uint8_t *scratch, uint32_t scratch_bytes,
                     uint64_t *ticks)
{
    const int32_t *p = c->p;
    uint64_t t0 = 0, t1 = 0;
    int rc = THM_JOB_E_CASE;
    uint32_t need = 0;
#define TIMED(call) do { t0 = thm_hal_counter_read(); rc = (call); t1 = thm_hal_counter_read(); } while (0)
    switch (c->kernel) {
    case THM_K_EMPTY:
        TIMED(thm_empty());
        break;
    case THM_K_SPIN2:
        TIMED((thm_hal_spin2((uint32_t)p[0]), THM_OK));
        break;
    case THM_K_MATMUL_S8:
        if (c->n_bufs != 6) break;
        TIMED(thm_matmul_s8(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), buf(c, 4), buf(c, 5),
                            p[0], p[1], p[2]));
        break;
    case THM_K_MATMUL_S8_PACKED:
        if (c->n_bufs != 6) break;
        TIMED(thm_matmul_s8_packed(buf(c, 0), buf(c, 1), p[3], buf(c, 2), buf(c, 3), buf(c, 4),
                                   buf(c, 5), p[0], p[1], p[2]));
        break;
    case THM_K_MATMUL_S4:
        if (c->n_bufs != 6) break;
        TIMED(thm_matmul_s4(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), buf(c, 4), buf(c, 5),
                            p[0], p[1], p[2]));
        break;
    case THM_K_MATMUL_S4_S32:
        if (c->n_bufs != 4) break;
        TIMED(thm_matmul_s4_s32(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), p[0], p[1], p[2]));
        break;
    case THM_K_EMBED_S16_S4:
        if (c->n_bufs != 5) break;
        TIMED(thm_embed_s16_s4(buf(c, 0), p[0], buf(c, 1), buf(c, 2), buf(c, 3), p[1], p[2], buf(c, 4)));
        break;
    case THM_K_CQ_ROTATE_S8: {
        if (c->n_bufs != 2 || p[1] < 1) break;
        uint8_t *out = buf(c, 1);
        const size_t xr_bytes = (size_t)p[0] * (size_t)((p[1] + 127) / 128) * 128u;
        TIMED(thm_cq_rotate_s8(buf(c, 0), (int8_t *)out, out + xr_bytes, p[0], p[1]));
        break;
    }
    case THM_K_MATMUL_CQ_S8:
        if (c->n_bufs != 8) break;
        TIMED(thm_matmul_cq_s8(buf(c, 0), buf(c, 1), buf(c, 2), p[3], buf(c, 3), buf(c, 4), buf(c, 5), buf(c, 6),
                               buf(c, 7), p[0], p[1], p[2]));
        break;
    case THM_K_MATMUL_CQ_S32:
        if (c->n_bufs != 8) break;
        TIMED(thm_matmul_cq_s32(buf(c, 0), buf(c, 1), buf(c, 2), p[3], buf(c, 3), buf(c, 4), buf(c, 5), buf(c, 6),
                                buf(c, 7), p[0], p[1], p[2]));
        break;
    case THM_K_SINKHORN_Q12:
        if (c->n_bufs != 2) break;
        TIMED(thm_sinkhorn_q12(buf(c, 0), p[0], p[1], p[2], buf(c, 1)));
        break;
    case THM_K_ENGRAM_HASH:
        if (c->n_bufs != 3) break;
        TIMED(thm_engram_hash(buf(c, 0), p[0], p[1], buf(c, 1), p[2], p[3], (uint32_t)p[4], buf(c, 2)));
        break;
    case THM_K_SIGMOID_Q15:
        if (c->n_bufs != 2) break;
        TIMED(thm_sigmoid_q15(buf(c, 0), p[0], buf(c, 1)));
        break;
    case THM_K_FWHT_S8:
        if (c->n_bufs != 2) break;
        TIMED(thm_fwht_s8_s32(buf(c, 0), p[0], p[1], buf(c, 1)));
        break;
    case THM_K_CQ_GATHER:
        if (c->n_bufs != 7) break;
        TIMED(thm_cq_gather(buf(c, 0), p[0], p[1], p[2], buf(c, 1), buf(c, 2), buf(c, 3), p[3], buf(c, 4), buf(c, 5),
                            p[4], p[5], buf(c, 6)));
        break;
    case THM_K_MATMUL_S8_S32:
        if (c->n_bufs != 4) break;
        TIMED(thm_matmul_s8_s32(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), p[0], p[1], p[2]));
        break;
    case THM_K_PV_ROWS:       /* bq Tk D mult shift */
        if (c->n_bufs != 3) break;
        need = (uint32_t)thm_pv_rows_s8_scratch_size(p[0], p[1], p[2]);
        if (need > scratch_bytes) return THM_JOB_E_SCRATCH;
        TIMED(thm_pv_rows_s8(buf(c, 0), p[0], p[1], buf(c, 1), p[2], p[3], p[4], buf(c, 2), p[2], scratch));
        break;
    case THM_K_PV_COMBINE_S8: /* n mult shift */
        if (c->n_bufs != 4) break;
        TIMED(thm_pv_combine_s8(buf(c, 0), buf(c, 1), buf(c, 2), p[0], p[1], p[2], buf(c, 3)));
        break;
    case THM_K_SOFTMAX_Q15_ROWS: /* rows n mult shift diff_max */
        if (c->n_bufs != 2 || p[1] < 0) break;
        need = (uint32_t)thm_softmax_q15_scratch_size(p[1]);
        if (need > scratch_bytes) return THM_JOB_E_SCRATCH;
        TIMED(thm_softmax_q15_rows(buf(c, 0), buf(c, 1), p[0], p[1], p[2], p[3], p[4], scratch));
        break;
    case THM_K_SOFTMAX_Q15:
        if (c->n_bufs != 3 || p[0] < 0) break;
        need = (uint32_t)thm_softmax_q15_scratch_size(p[0]);
        if (need > scratch_bytes) return THM_JOB_E_SCRATCH;
        TIMED(thm_softmax_q15(buf(c, 0), buf(c, 1), buf(c, 2), p[0], p[1], p[2], p[3], scratch));
        break;
    case THM_K_ATTENTION_S8: {
        if (c->n_bufs != 5 || p[1] < 1) break;
        thm_attn_params a = {p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
        need = (uint32_t)thm_attention_s8_scratch_size(p[1]);
        if (need > scratch_bytes) return THM_JOB_E_SCRATCH;
        TIMED(thm_attention_s8(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), buf(c, 4),
                               p[0], p[1], &a, scratch));
        break;
    }
    case THM_K_RMSNORM_S16:
    case THM_K_RMSNORM_S8: {
        if (c->n_bufs != 4) break;
        int64_t eps = (int64_t)(((uint64_t)(uint32_t)p[3] << 32) | (uint32_t)p[2]);
        if (c->kernel == THM_K_RMSNORM_S16)
            TIMED(thm_rmsnorm_s16(buf(c, 0), buf(c, 1), buf(c, 2), eps, buf(c, 3), p[0], p[1]));
        else
            TIMED(thm_rmsnorm_s8(buf(c, 0), buf(c, 1), buf(c, 2), eps, buf(c, 3), p[0], p[1]));
        break;
    }
    case THM_K_ROPE_S8:
        if (c->n_bufs != 4) break;
        TIMED(thm_rope_s8(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), p[0], p[1], p[2], p[3], p[4]));
        break;
    case THM_K_RESIDUAL_S16: {
        if (c->n_bufs != 3 || c->len[0] != c->len[2]) break;
        uint8_t *r = buf(c, 0), *out = buf(c, 2);
        for (uint32_t i = 0; i < c->len[0]; i++) out[i] = r[i];   /* in place on a copy */
        TIMED(thm_residual_gated_s16((int16_t *)(void *)out, buf(c, 1), p[0], p[1], p[2]));
        break;
    }
    case THM_K_EMBED_S16:
        if (c->n_bufs != 5) break;
        TIMED(thm_embed_s16(buf(c, 0), p[0], buf(c, 1), buf(c, 2), buf(c, 3), p[1], p[2], buf(c, 4)));
        break;
    case THM_K_REQUANTIZE_S32:
        if (c->n_bufs != 4) break;
        TIMED(thm_requantize_s32(buf(c, 0), buf(c, 1), buf(c, 2), buf(c, 3), p[0]));
        break;
    case THM_K_N2_ANSWER:
        if (c->n_bufs != 6) break;
        TIMED(thm_job_n2_answer(buf(c, 0), c->len[0], buf(c, 1), p, buf(c, 2), c->len[2], buf(c, 3), c->len[3],
                                buf(c, 4), c->len[4], buf(c, 5), c->len[5], scratch, scratch_bytes));
        break;
    case THM_K_N2_RUN:      /* timed inside: bind, plan and the tokens */
        if (c->n_bufs != 3) break;
        rc = thm_job_n2(buf(c, 0), c->len[0], buf(c, 1), p[0], p[1], buf(c, 2), c->len[2], scratch, scratch_bytes,
                        &t0, &t1);
        break;
    default:
        break;
    }
#undef TIMED
    *ticks = t1 - t0;
    return rc;
}
#undef buf
