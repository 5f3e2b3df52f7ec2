/* Constrained greedy decoding: a mirror of runtime/thimble/sim/decode.py.
 * The Python sorts all logits once per step and takes the first id the
 * grammar accepts. Here, in the same total order (logit descending, then id
 * ascending), so the tokens are the same and memory stays O(scratch_n):
 *   1. one pass keeps the scratch_n best ids and tries them in order: a
 *      trained model's choice is almost always among them;
 *   2. otherwise one more pass finds the best accepted id among the rest,
 *      asking the grammar only about ids that beat the best accepted so far.
 * Step 2 bounds a step at two passes over the logits plus at most V grammar
 * checks; repeating step 1 instead cost V * (rank / scratch_n) comparisons,
 * which an untrained model (an accepted id ranked thousands deep) turned
 * into most of a decode step. */
#include <string.h>
#include "thm_decode.h"

int32_t thm_vocab_table_piece(const void *ctx, int32_t id, const uint8_t **bytes)
{
    const thm_vocab_table *t = (const thm_vocab_table *)ctx;
    if (!t || !bytes || id < 0 || id >= t->n) return -1;
    uint32_t lo = t->offsets[id], hi = t->offsets[id + 1];
    if (lo > hi || hi > t->bytes_len || hi - lo > INT32_MAX) return -1;
    *bytes = t->bytes + lo;
    return (int32_t)(hi - lo);
}

/* 1 if id x comes before id y: higher logit, or the same logit and lower id. */
static int before(const int32_t *logits, int32_t x, int32_t y)
{
    return logits[x] > logits[y] || (logits[x] == logits[y] && x < y);
}

/* Fill buf with the up-to-cap best ids after `after` (-1: from the top), best first. */
static int32_t next_batch(const int32_t *logits, int32_t V, int32_t after, int32_t *buf, int32_t cap)
{
    int32_t cnt = 0;
    for (int32_t id = 0; id < V; id++) {
        if (after >= 0 && !before(logits, after, id)) continue;
        if (cnt == cap) {
            if (!before(logits, id, buf[cnt - 1])) continue;
            cnt--;
        }
        int32_t j = cnt;
        while (j > 0 && before(logits, id, buf[j - 1])) {
            buf[j] = buf[j - 1];
            j--;
        }
        buf[j] = id;
        cnt++;
    }
    return cnt;
}

/* Feed id's piece to a copy of st: 1 accepted (trial holds the new state),
 * 0 refused or never part of an answer, < 0 a THM_DECODE_E_* error. */
static int try_id(const thm_vocab *vocab, const thm_tools *tools, const thm_grammar_state *st, int32_t eos_id,
                  int32_t id, thm_grammar_state *trial)
{
    if (id == eos_id) return 0;
    const uint8_t *p = NULL;
    int32_t len = vocab->piece(vocab->ctx, id, &p);
    if (len < 0 || (len > 0 && !p)) return THM_DECODE_E_VOCAB;
    if (len == 0) return 0;                       /* never part of an answer */
    memcpy(trial, st, sizeof *trial);
    int rc = thm_grammar_feed(tools, trial, p, (size_t)len);
    if (rc == THM_GRAMMAR_OK) return 1;
    return rc < 0 ? THM_DECODE_E_GRAMMAR : 0;
}

/* next_ok[b / 8] bit b % 8: byte b can come next in st. The grammar takes a
 * piece byte by byte and a refused byte is final, so a piece whose first byte
 * is refused is refused: the long pass below skips those without copying the
 * state or running the grammar (256 one-byte trials instead of up to V
 * pieces; with random weights most of the vocabulary is tried there), and
 * with vocab->first without building their bytes. An empty piece may carry
 * any first byte: skipped or tried, it is never accepted. */
static int next_bytes(const thm_tools *tools, const thm_grammar_state *st, uint8_t next_ok[32])
{
    thm_grammar_state trial;
    memset(next_ok, 0, 32);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        memcpy(&trial, st, sizeof trial);
        int rc = thm_grammar_feed(tools, &trial, &byte, 1);
        if (rc < 0) return THM_DECODE_E_GRAMMAR;
        if (rc == THM_GRAMMAR_OK) next_ok[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    return THM_DECODE_OK;
}

int thm_decode_pick(const int32_t *logits, int32_t V, const thm_vocab *vocab, const thm_tools *tools,
                    thm_grammar_state *st, int32_t eos_id, int32_t *scratch, int32_t scratch_n, int32_t *token)
{
    if (!logits || !vocab || !vocab->piece || !tools || !st || !scratch || !token) return THM_DECODE_E_ARG;
    if (V < 1 || V > vocab->n || scratch_n < 1) return THM_DECODE_E_ARG;
    thm_grammar_state trial;
    int32_t cnt = next_batch(logits, V, -1, scratch, scratch_n);
    for (int32_t k = 0; k < cnt; k++) {
        int rc = try_id(vocab, tools, st, eos_id, scratch[k], &trial);
        if (rc < 0) return rc;
        if (rc) {
            memcpy(st, &trial, sizeof trial);
            *token = scratch[k];
            return THM_DECODE_OK;
        }
    }
    if (cnt < scratch_n) return THM_DECODE_E_NO_TOKEN;    /* every id was tried */
    int32_t after = scratch[cnt - 1], best = -1;
    thm_grammar_state best_st;
    uint8_t next_ok[32];
    int frc = next_bytes(tools, st, next_ok);
    if (frc < 0) return frc;
    for (int32_t id = 0; id < V; id++) {
        /* the table's test first: in the states that get here (a name or a
         * key to type) it refuses most of the vocabulary in three loads */
        if (vocab->first) {
            const uint8_t fb = vocab->first[id];
            if (!(next_ok[fb >> 3] & (1u << (fb & 7)))) continue;   /* refused at its first byte */
        }
        if (!before(logits, after, id)) continue;          /* tried in step 1 */
        if (best >= 0 && !before(logits, id, best)) continue;
        if (!vocab->first) {
            const uint8_t *p = NULL;
            if (vocab->piece(vocab->ctx, id, &p) > 0 && p && !(next_ok[p[0] >> 3] & (1u << (p[0] & 7)))) continue;
        }
        int rc = try_id(vocab, tools, st, eos_id, id, &trial);
        if (rc < 0) return rc;
        if (rc) {
            best = id;
            memcpy(&best_st, &trial, sizeof trial);
        }
    }
    if (best < 0) return THM_DECODE_E_NO_TOKEN;
    memcpy(st, &best_st, sizeof best_st);
    *token = best;
    return THM_DECODE_OK;
}

int thm_decode_greedy(thm_decode_step_fn step, void *step_ctx, int32_t *logits, int32_t V,
                      const thm_vocab *vocab, const thm_tools *tools, const thm_decode_params *pr,
                      int32_t *tokens, int32_t *scratch, int32_t scratch_n, thm_decode_result *res)
{
    if (!step || !logits || !vocab || !tools || !pr || !tokens || !res) return THM_DECODE_E_ARG;
    res->n_tokens = 0;
    res->complete = 0;
    res->steps = 0;
    if (pr->max_new_tokens < 2 || V < 1 || V > vocab->n) return THM_DECODE_E_ARG;
    if (pr->start_id < 0 || pr->start_id >= V || pr->tool_call_id < 0 || pr->tool_call_id >= V) return THM_DECODE_E_ARG;

    if (step(step_ctx, pr->start_id, logits)) return THM_DECODE_E_STEP;   /* Needle's decoder starts from [eos] */
    res->steps = 1;
    tokens[res->n_tokens++] = pr->tool_call_id;
    thm_grammar_state st;
    thm_grammar_start(&st);
    if (step(step_ctx, pr->tool_call_id, logits)) return THM_DECODE_E_STEP;
    res->steps++;
    while (res->n_tokens < pr->max_new_tokens) {
        int32_t tok;
        int rc = thm_decode_pick(logits, V, vocab, tools, &st, pr->eos_id, scratch, scratch_n, &tok);
        if (rc) return rc;
        tokens[res->n_tokens++] = tok;
        if (thm_grammar_done(&st)) {
            res->complete = 1;
            return THM_DECODE_OK;
        }
        if (res->n_tokens >= pr->max_new_tokens) break;
        if (step(step_ctx, tok, logits)) return THM_DECODE_E_STEP;
        res->steps++;
    }
    return THM_DECODE_OK;
}

const char *thm_decode_strerror(int err)
{
    switch (err) {
    case THM_DECODE_OK: return "ok";
    case THM_DECODE_E_ARG: return "NULL pointer, bad size or bad special id";
    case THM_DECODE_E_NO_TOKEN: return "no token of the vocabulary can continue the answer";
    case THM_DECODE_E_VOCAB: return "the vocabulary gave no bytes for an id";
    case THM_DECODE_E_GRAMMAR: return "grammar state corrupt or from another tool table";
    case THM_DECODE_E_STEP: return "the model step failed";
    default: return "unknown error";
    }
}
