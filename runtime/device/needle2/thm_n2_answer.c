/* thm_n2_answer: decode.py answer_greedy, phase for phase. */
#include "thm_n2_answer.h"

enum { THINK, REASON, NEWLINE, CALL, CALLS, CLOSE, END, DONE };

static int32_t piece_len(const thm_vocab *v, int32_t id, const uint8_t **bytes)
{
    const int32_t n = v->piece(v->ctx, id, bytes);
    return n < 0 ? 0 : n;
}

/* The best id (ties: the lowest) of logits [V] among those ok() accepts; -1 if none. */
static int32_t best_of(const int32_t *logits, int32_t V, const thm_vocab *v, const thm_n2_answer_params *p,
                       int phase)
{
    int32_t best = -1;
    for (int32_t id = 0; id < V; id++) {
        if (best >= 0 && logits[id] <= logits[best]) continue;
        const uint8_t *b;
        const int32_t n = piece_len(v, id, &b);
        const int ok = phase == REASON ? (n > 0 || id == p->think_end) : (n == 1 && b[0] == '\n');
        if (ok) best = id;
    }
    return best;
}

int thm_n2_answer(thm_n2 *m, int32_t *logits, const thm_vocab *vocab, const thm_tools *tools,
                  const thm_n2_answer_params *prm, int32_t *tokens, int32_t *scratch, int32_t scratch_n,
                  thm_n2_answer_result *res)
{
    if (!m || !logits || !vocab || !vocab->piece || !tools || !prm || !tokens || !scratch || !res) return THM_N2_E_ARG;
    if (prm->max_new_tokens < 1 || prm->max_reasoning < 0 || scratch_n < 1 || vocab->n < m->V) return THM_N2_E_ARG;
    res->n_tokens = res->complete = res->steps = 0;
    thm_grammar_state calls;
    int phase = THINK;
    int32_t reasoned = 0;
    while (res->n_tokens < prm->max_new_tokens) {
        int32_t id = -1;
        switch (phase) {
        case THINK: id = prm->think; phase = REASON; break;
        case REASON:
            if (reasoned >= prm->max_reasoning) { id = prm->think_end; phase = NEWLINE; break; }
            id = best_of(logits, m->V, vocab, prm, REASON);
            if (id == prm->think_end) phase = NEWLINE;
            else reasoned++;
            break;
        case NEWLINE: id = best_of(logits, m->V, vocab, prm, NEWLINE); phase = CALL; break;
        case CALL: id = prm->tool_call; phase = CALLS; thm_grammar_start(&calls); break;
        case CALLS: {
            const int e = thm_decode_pick(logits, m->V, vocab, tools, &calls, -1, scratch, scratch_n, &id);
            if (e == THM_DECODE_E_NO_TOKEN) id = -1;
            else if (e) return THM_N2_E_ARG;
            else if (thm_grammar_done(&calls)) phase = CLOSE;
            break;
        }
        case CLOSE: id = prm->tool_call_end; phase = END; break;
        case END: id = prm->im_end; phase = DONE; break;
        default: break;
        }
        if (id < 0) return THM_N2_E_TOKEN;
        tokens[res->n_tokens++] = id;
        if (phase == DONE) { res->complete = 1; break; }
        if (res->n_tokens >= prm->max_new_tokens) break;
        const int e = thm_n2_step(m, id, logits, 0);
        if (e) return e;
        res->steps++;
    }
    return THM_N2_OK;
}
