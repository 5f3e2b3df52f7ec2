/* Per-part instruction counts of the model forward, for finding where a
 * board's instructions go (docs/runtime.md, "Needle 26M on the boards").
 * Only in a build with -DTHM_MODEL_PROFILE=1 (a board firmware: it reads the
 * HAL counter and prints over semihosting); everywhere else THM_PROF(part,
 * call) is just `call` and costs nothing.
 *
 * Counts accumulate until printed: the prefill's once the encoder is done,
 * each decode step's after that step, as one line "THMPROF <phase> <part>=
 * <ticks> ..." in counter ticks (the reader sums the steps). */
#ifndef THM_MODEL_PROF_H
#define THM_MODEL_PROF_H

#include <stdint.h>

enum {
    THM_PROF_EMBED,     /* token embedding */
    THM_PROF_PROJ,      /* q/k/v/o projections (packed or row-major matmul) */
    THM_PROF_NORM,      /* pre-norms, QK-norms, final norms */
    THM_PROF_ROPE,
    THM_PROF_LAYOUT,    /* K head-major and V transposed copies */
    THM_PROF_QK,        /* scores: Q.K^T (fast attention) */
    THM_PROF_SOFTMAX,   /* Q15 softmax (fast attention) */
    THM_PROF_PV,        /* P.V: digit split, digit matmuls, recombine (fast attention) */
    THM_PROF_SELF,      /* decoder self-attention, streaming kernel (QK, softmax and P.V) */
    THM_PROF_RESID,     /* gated residual */
    THM_PROF_HEAD,      /* tied head matmul, logits requantize, argmax */
    THM_PROF_N
};

#if defined(THM_MODEL_PROFILE) && THM_MODEL_PROFILE
#include "thm_hal.h"
extern uint64_t thm_prof_ticks[THM_PROF_N];
void thm_prof_print(const char *phase);   /* one THMPROF line, then zeroes the counts */
#define THM_PROF(part, call)                                         \
    ({                                                               \
        const uint64_t thm_prof_t0_ = thm_hal_counter_read();        \
        __typeof__(call) thm_prof_r_ = (call);                       \
        thm_prof_ticks[part] += thm_hal_counter_read() - thm_prof_t0_; \
        thm_prof_r_;                                                 \
    })
#define THM_PROF_VOID(part, stmt)                                    \
    do {                                                             \
        const uint64_t thm_prof_t0_ = thm_hal_counter_read();        \
        stmt;                                                        \
        thm_prof_ticks[part] += thm_hal_counter_read() - thm_prof_t0_; \
    } while (0)
#else
#define THM_PROF(part, call) (call)
#define THM_PROF_VOID(part, stmt) do { stmt; } while (0)
#define thm_prof_print(phase) ((void)0)
#endif

#endif /* THM_MODEL_PROF_H */
