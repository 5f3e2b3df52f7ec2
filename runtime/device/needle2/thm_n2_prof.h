/* Per-part instruction counts of a Needle 2 step, for finding where a
 * board's instructions go (`thimble bench model --board B --shape
 * needle2-base --profile`). Only in a build with -DTHM_N2_PROFILE=1 (a board
 * firmware: it reads the HAL counter); everywhere else THM_N2_PROF(part,
 * statements) is just the statements and costs nothing. The counts accumulate over the
 * steps until the caller (the conformance job, thm_job_n2.c) reads them. */
#ifndef THM_N2_PROF_H
#define THM_N2_PROF_H

#include <stdint.h>

enum {
    THM_N2_PROF_EMBED,    /* the token's embedding row */
    THM_N2_PROF_ENGRAM,   /* hash, table rows, key/value products, the conv */
    THM_N2_PROF_NORM,     /* every ZCRMSNorm (lanes, input, q/k, post, MLP, final, engram gates) */
    THM_N2_PROF_ROTATE,   /* the activations' FWHT-128 rotations (cq_rotate_s8) */
    THM_N2_PROF_PROJ,     /* q, k, v, gate and out CQ products */
    THM_N2_PROF_MIX,      /* the mixing pre-activations (phi products), sigmoids, Sinkhorn */
    THM_N2_PROF_LANES,    /* the lane combination, the engram gate, the lanes' update, the final mean */
    THM_N2_PROF_ATTN,     /* RoPE, attention over the cache, the output gate */
    THM_N2_PROF_MLP,      /* the two FWHTs, requantize, SiLU, the residuals */
    THM_N2_PROF_HEAD,     /* the tied head's CQ product and the argmax */
    THM_N2_PROF_N
};

#if defined(THM_N2_PROFILE) && THM_N2_PROFILE
#include "thm_hal.h"
extern uint64_t thm_n2_prof_ticks[THM_N2_PROF_N];
/* variadic: a statement's own commas (declarations, initialisers) pass through */
#define THM_N2_PROF(part, ...)                                               \
    do {                                                                     \
        const uint64_t thm_n2_t0_ = thm_hal_counter_read();                  \
        __VA_ARGS__;                                                         \
        thm_n2_prof_ticks[part] += thm_hal_counter_read() - thm_n2_t0_;      \
    } while (0)
#else
#define THM_N2_PROF(part, ...) do { __VA_ARGS__; } while (0)
#endif

#endif /* THM_N2_PROF_H */
