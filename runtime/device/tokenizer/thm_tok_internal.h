/* Helpers shared by the tokenizer's .c files; not part of the API. Byte loads
 * only: the payload may sit at any alignment in flash. Callers pass ids and
 * offsets that thm_tok_open has already checked. */
#ifndef THM_TOK_INTERNAL_H
#define THM_TOK_INTERNAL_H

#include "thm_tokenizer.h"

static inline uint32_t thm_tok_rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static inline uint32_t thm_tok_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

typedef struct {
    const uint8_t *text;  /* len bytes, inside the payload */
    uint32_t len, type, rank;
} thm_tok_piece;

static inline thm_tok_piece thm_tok_get(const thm_tokenizer *t, uint32_t id)
{
    const uint8_t *e = t->base + t->pieces_off + (size_t)id * THM_TOK_PIECE_SIZE;
    thm_tok_piece p;
    p.len = thm_tok_rd16(e + 4);
    p.type = e[6];
    p.rank = thm_tok_rd32(e + 8);
    p.text = t->base + t->strings_off + thm_tok_rd32(e);
    return p;
}

/* Length of the valid UTF-8 character at s[0] (n bytes left), 0 if malformed:
 * sentencepiece's rules (no overlongs, no surrogates, <= U+10FFFF). */
static inline uint32_t thm_tok_utf8_len(const uint8_t *s, uint32_t n)
{
    uint32_t b0 = s[0], cp, need, lo;
    if (b0 < 0x80) return 1;
    if (n >= 2 && (b0 & 0xE0) == 0xC0) { cp = b0 & 0x1F; need = 2; lo = 0x80; }
    else if (n >= 3 && (b0 & 0xF0) == 0xE0) { cp = b0 & 0x0F; need = 3; lo = 0x800; }
    else if (n >= 4 && (b0 & 0xF8) == 0xF0) { cp = b0 & 0x07; need = 4; lo = 0x10000; }
    else return 0;
    for (uint32_t k = 1; k < need; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < lo || (cp >= 0xD800 && cp < 0xE000) || cp > 0x10FFFF) return 0;
    return need;
}

#endif /* THM_TOK_INTERNAL_H */
