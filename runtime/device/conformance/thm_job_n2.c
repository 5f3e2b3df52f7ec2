/* A whole Needle 2 run as one job case (THM_K_N2_RUN): how `thimble bench
 * model --board B --shape needle2-*` counts the model's instructions per
 * token on a board, and checks its tokens against the host. */
#include <stdint.h>

#include "thm_conformance.h"
#include "thm_hal.h"
#include "thm_n2.h"
#include "thm_n2_prof.h"
#include "thm_n2_answer.h"

int thm_job_n2(const uint8_t *image, uint32_t image_bytes, const int32_t *tokens, int32_t n, int32_t max_pos,
               int32_t *out, uint32_t out_bytes, uint8_t *scratch, uint32_t scratch_bytes, uint64_t *t0,
               uint64_t *t1)
{
    static thm_image img;       /* static: the model's tables are tens of KB, too much for a stack */
    static thm_n2 m;
    if (!image || n < 0 || n > max_pos) return THM_JOB_E_CASE;
    *t0 = thm_hal_counter_read();
    int rc = thm_image_open(&img, image, image_bytes);
    if (rc != THM_IMG_OK) return THM_JOB_E_CASE;
    if ((rc = thm_n2_bind(&m, &img)) != THM_N2_OK) return rc;
    if ((uint64_t)out_bytes < ((uint64_t)n * 3u + (uint64_t)m.V) * 4u + THM_N2_PROF_N * 8u) return THM_JOB_E_CASE;
    const size_t need = thm_n2_arena_size(&m, max_pos);
    if (!need || need > scratch_bytes) return THM_JOB_E_SCRATCH;
    if ((rc = thm_n2_init(&m, scratch, scratch_bytes, max_pos)) != THM_N2_OK) return rc;
    uint32_t *ticks = (uint32_t *)(void *)(out + n);      /* [n] uint64 as (low, high) words */
    uint32_t *parts = (uint32_t *)(void *)(out + 3 * n + m.V);  /* [THM_N2_PROF_N] uint64: a profiling build's */
    for (int32_t i = 0; i < 2 * THM_N2_PROF_N; i++) parts[i] = 0;
#if defined(THM_N2_PROFILE) && THM_N2_PROFILE
    for (int32_t i = 0; i < THM_N2_PROF_N; i++) thm_n2_prof_ticks[i] = 0;
#endif
    uint64_t before = thm_hal_counter_read();
    for (int32_t t = 0; t < n; t++) {
        int32_t *logits = t == n - 1 ? out + 3 * n : 0;
        if ((rc = thm_n2_step(&m, tokens[t], logits, &out[t])) != THM_N2_OK) return rc;
        const uint64_t after = thm_hal_counter_read(), d = after - before;
        ticks[2 * t] = (uint32_t)d;
        ticks[2 * t + 1] = (uint32_t)(d >> 32);
        before = after;
    }
    *t1 = thm_hal_counter_read();
#if defined(THM_N2_PROFILE) && THM_N2_PROFILE
    for (int32_t i = 0; i < THM_N2_PROF_N; i++) {
        parts[2 * i] = (uint32_t)thm_n2_prof_ticks[i];
        parts[2 * i + 1] = (uint32_t)(thm_n2_prof_ticks[i] >> 32);
    }
#endif
    return 0;
}

int thm_job_n2_answer(const uint8_t *image, uint32_t image_bytes, const int32_t *prompt, const int32_t *p,
                      const uint32_t *offsets, uint32_t offsets_bytes, const uint8_t *bytes, uint32_t bytes_len,
                      const uint8_t *tools_wire, uint32_t tools_len, int32_t *out, uint32_t out_bytes,
                      uint8_t *scratch, uint32_t scratch_bytes)
{
    static thm_image img;
    static thm_n2 m;
    static thm_tools tools;
    int32_t picks[THM_DECODE_BATCH];
    const int32_t n = p[0], max_pos = p[1], max_new = p[8];
    if (!image || !prompt || !offsets || !bytes || !tools_wire || n < 1 || max_new < 1) return THM_JOB_E_CASE;
    if ((uint64_t)out_bytes < (3u + (uint64_t)max_new) * 4u) return THM_JOB_E_CASE;
    if (thm_image_open(&img, image, image_bytes) != THM_IMG_OK) return THM_JOB_E_CASE;
    int rc = thm_n2_bind(&m, &img);
    if (rc) return rc;
    if ((uint64_t)offsets_bytes < ((uint64_t)m.V + 1u) * 4u) return THM_JOB_E_CASE;
    if ((int64_t)n + max_new > max_pos) return THM_JOB_E_CASE;
    const size_t need = thm_n2_arena_size(&m, max_pos);     /* the model's, then the logits [V] */
    if (!need || (uint64_t)need + (uint64_t)m.V * 4u > scratch_bytes) return THM_JOB_E_SCRATCH;
    int32_t *logits = (int32_t *)(void *)(scratch + need);   /* need: a multiple of 64 */
    if ((rc = thm_n2_init(&m, scratch, scratch_bytes, max_pos))) return rc;
    if (thm_grammar_tools_init(&tools, tools_wire, tools_len) != THM_GRAMMAR_OK) return THM_JOB_E_CASE;
    const thm_vocab_table table = {m.V, offsets, bytes, bytes_len};
    const thm_vocab vocab = {m.V, thm_vocab_table_piece, &table, 0};
    for (int32_t t = 0; t < n; t++)
        if ((rc = thm_n2_step(&m, prompt[t], t == n - 1 ? logits : 0, 0))) return rc;
    const thm_n2_answer_params prm = {p[2], p[3], p[4], p[5], p[6], p[7], max_new};
    thm_n2_answer_result res;
    rc = thm_n2_answer(&m, logits, &vocab, &tools, &prm, out + 3, picks, THM_DECODE_BATCH, &res);
    out[0] = res.n_tokens;
    out[1] = res.complete;
    out[2] = res.steps;
    return rc;
}
