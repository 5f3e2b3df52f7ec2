/* A whole Needle 2 run as one job case (THM_K_N2_RUN): how `thimble bench
 * model --board B --shape needle2-*` counts the model's instructions per
 * token on a board, and checks its tokens against the host. */
#include <stdint.h>

#include "thm_conformance.h"
#include "thm_hal.h"
#include "thm_n2.h"
#include "thm_n2_prof.h"

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
