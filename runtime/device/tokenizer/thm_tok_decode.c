/* The decoder: ids -> UTF-8, as sentencepiece's Decode. Control ids vanish,
 * <unk> becomes the unk surface, U+2581 becomes a space, the leading marker of
 * the text is dropped, and runs of byte pieces are decoded as UTF-8 with one
 * U+FFFD per malformed byte. Needs no scratch: a run is decoded as it arrives,
 * holding at most 4 pending bytes. */
#include <string.h>
#include "thm_tok_internal.h"

static const uint8_t WS[3] = {0xE2, 0x96, 0x81};
static const uint8_t FFFD[3] = {0xEF, 0xBF, 0xBD};

typedef struct {
    uint8_t *out;
    uint32_t cap, len;      /* len counts every byte, written or not */
    uint8_t pend[4];        /* byte pieces not yet decoded */
    uint32_t n_pend;
} thm_dec;

static void put(thm_dec *d, const uint8_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, d->len++)
        if (d->len < d->cap) d->out[d->len] = s[i];
}

/* Decode pending bytes; at the end of a run (final) a short sequence is malformed. */
static void drain(thm_dec *d, int final)
{
    while (d->n_pend) {
        uint32_t b0 = d->pend[0];
        uint32_t want = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 :
                        (b0 & 0xF8) == 0xF0 ? 4 : 1;
        if (d->n_pend < want && !final) return;   /* wait for the rest of the character */
        uint32_t m = thm_tok_utf8_len(d->pend, d->n_pend);
        if (m) put(d, d->pend, m);
        else { put(d, FFFD, 3); m = 1; }
        memmove(d->pend, d->pend + m, d->n_pend - m);
        d->n_pend -= m;
    }
}

int thm_tok_decode(const thm_tokenizer *t, const int32_t *ids, uint32_t n_ids,
                   uint8_t *out, uint32_t out_cap, uint32_t *out_len)
{
    if (!t || !t->base || !out_len || (!ids && n_ids) || (!out && out_cap)) return THM_TOK_E_ARG;
    *out_len = 0;
    for (uint32_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= t->piece_count) return THM_TOK_E_ID;
    thm_dec d = {out, out_cap, 0, {0}, 0};
    int strip = (t->flags & (THM_TOK_FLAG_ADD_DUMMY_PREFIX | THM_TOK_FLAG_REMOVE_EXTRA_WHITESPACES)) != 0;
    int rew = (t->flags & THM_TOK_FLAG_REMOVE_EXTRA_WHITESPACES) != 0;
    int bos_ws = 1, bos_ws_seen = 0;
    for (uint32_t i = 0; i < n_ids; i++) {
        thm_tok_piece p = thm_tok_get(t, (uint32_t)ids[i]);
        if (p.type == THM_TOK_PIECE_BYTE) {
            /* "<0xXX>": checked by thm_tok_open through the byte table */
            uint32_t hi = p.text[3], lo = p.text[4];
            hi = hi <= '9' ? hi - '0' : hi - 'A' + 10;
            lo = lo <= '9' ? lo - '0' : lo - 'A' + 10;
            d.pend[d.n_pend++] = (uint8_t)(hi << 4 | lo);
            drain(&d, 0);
            continue;
        }
        drain(&d, 1);
        if (bos_ws_seen || d.len) bos_ws = 0;
        bos_ws_seen = 0;
        if (p.type == THM_TOK_PIECE_CONTROL) continue;
        if (p.type == THM_TOK_PIECE_UNKNOWN) {
            put(&d, t->base + t->strings_off + t->unk_off, t->unk_len);
            continue;
        }
        const uint8_t *s = p.text;
        uint32_t n = p.len;
        if (bos_ws && strip && n >= 3 && memcmp(s, WS, 3) == 0) {
            s += 3; n -= 3;
            bos_ws_seen = !rew;
        }
        for (uint32_t k = 0; k < n;) {
            if (n - k >= 3 && memcmp(s + k, WS, 3) == 0) { put(&d, (const uint8_t *)" ", 1); k += 3; }
            else put(&d, s + k++, 1);
        }
    }
    drain(&d, 1);
    *out_len = d.len;
    return d.len > out_cap ? THM_TOK_E_SPACE : THM_TOK_OK;
}
