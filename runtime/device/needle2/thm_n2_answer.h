/* Needle 2's answer on the device, constrained to its chat format:
 *     <think>REASONING</think>\n<tool_call>CALLS</tool_call><|im_end|>
 * The specification is runtime/thimble/needle2/decode.py (answer_greedy):
 * the markers are taken whole by id (forced where the format allows only
 * them), the reasoning is any token with bytes (at most max_reasoning, then
 * </think> is forced), the newline the best token whose bytes are "\n", and
 * CALLS the tool-call grammar of runtime/device/decode (thm_decode_pick, the
 * same bytes accepted as sim/grammar.py's). Ties go to the lowest id, as the
 * host's stable sort. Freestanding, no malloc. */
#ifndef THM_N2_ANSWER_H
#define THM_N2_ANSWER_H

#include <stdint.h>
#include "thm_decode.h"
#include "thm_n2.h"

typedef struct {
    int32_t think, think_end, tool_call, tool_call_end, im_end;   /* the markers' ids */
    int32_t max_reasoning;       /* >= 0 */
    int32_t max_new_tokens;      /* >= 1 */
} thm_n2_answer_params;

typedef struct {
    int32_t n_tokens;            /* ids written to tokens[], <think> first */
    int32_t complete;            /* 1: <|im_end|> was reached */
    int32_t steps;               /* model steps run */
} thm_n2_answer_result;

/* The answer after a prompt whose last step's logits are in logits [V] (the
 * buffer is reused for each step); m must have room for the answer's steps.
 * vocab: each id's bytes (markers, control and unknown pieces: none);
 * tokens [max_new_tokens]; scratch [scratch_n] (THM_DECODE_BATCH suggested).
 * THM_N2_OK, THM_N2_E_ARG, THM_N2_E_TOKEN (no token can continue the answer),
 * or the model's error. */
int thm_n2_answer(thm_n2 *m, int32_t *logits, const thm_vocab *vocab, const thm_tools *tools,
                  const thm_n2_answer_params *prm, int32_t *tokens, int32_t *scratch, int32_t scratch_n,
                  thm_n2_answer_result *res);

#endif /* THM_N2_ANSWER_H */
