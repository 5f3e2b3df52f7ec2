/* The TOKENIZER payload reader: checks everything once, so the encoder and
 * decoder can trust ids, offsets and hash chains without further checks. */
#include <string.h>
#include "thm_tok_internal.h"

/* [off, off + count * elem) inside [0, size), in 64-bit arithmetic. */
static int region_ok(uint32_t size, uint32_t off, uint64_t count, uint64_t elem)
{
    uint64_t bytes = count * elem;    /* counts are bounded before this: no overflow */
    return (uint64_t)off <= size && bytes <= (uint64_t)size - off;
}

int32_t thm_tok_lookup(const thm_tokenizer *t, const uint8_t *text, uint32_t len)
{
    uint32_t h = THM_TOK_FNV_OFFSET;
    for (uint32_t i = 0; i < len; i++) h = (h ^ text[i]) * THM_TOK_FNV_PRIME;
    uint32_t mask = t->hash_slots - 1, s = h & mask;
    for (uint32_t probe = 0; probe < t->max_probe; probe++, s = (s + 1) & mask) {
        uint32_t v = thm_tok_rd32(t->base + t->hash_off + 4u * s);
        if (v == 0) return -1;
        thm_tok_piece p = thm_tok_get(t, v - 1);
        if (p.len == len && memcmp(p.text, text, len) == 0) return (int32_t)(v - 1);
    }
    return -1;
}

/* Whole, valid UTF-8 characters only. The encoder splits text into
 * characters and matches user-defined pieces at character starts; a piece
 * that ends inside a character (a lone 0xE2, say) would split one input byte
 * into several symbols, past what its scratch is sized for. Sentencepiece's
 * pieces are protobuf strings, so a real tokenizer always passes. */
static int utf8_whole(const uint8_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n;) {
        uint32_t m = thm_tok_utf8_len(s + i, n - i);
        if (!m) return 0;
        i += m;
    }
    return 1;
}

static int hexdigit(uint32_t v) { return v < 10 ? '0' + (int)v : 'A' + (int)v - 10; }

int thm_tok_open(thm_tokenizer *t, const uint8_t *base, uint64_t size)
{
    if (!t || !base) return THM_TOK_E_ARG;
    memset(t, 0, sizeof *t);
    if (size < THM_TOK_HEADER_SIZE || size > 0xFFFFFFFFu) return THM_TOK_E_SHORT;
    if (memcmp(base, THM_TOK_MAGIC, 4) != 0) return THM_TOK_E_MAGIC;
    if (thm_tok_rd16(base + 4) != THM_TOK_VERSION_MAJOR) return THM_TOK_E_VERSION;
    t->base = base;
    t->size = (uint32_t)size;
    const uint8_t *h = base + offsetof(thm_fmt_tok_header, header_size);
    uint32_t header_size = thm_tok_rd32(h);
#define F(name) thm_tok_rd32(base + offsetof(thm_fmt_tok_header, name))
    t->flags = F(flags);
    t->piece_count = F(piece_count);
    t->unk_id = F(unk_id);
    t->hash_slots = F(hash_slots);
    t->max_probe = F(max_probe);
    t->pieces_off = F(pieces_offset);
    t->hash_off = F(hash_offset);
    t->bytes_off = F(bytes_offset);
    t->user_off = F(user_offset);
    t->user_count = F(user_count);
    t->strings_off = F(strings_offset);
    t->strings_size = F(strings_size);
    t->unk_off = F(unk_surface_offset);
    t->unk_len = F(unk_surface_len);
#undef F
    const uint32_t known = THM_TOK_FLAG_ADD_DUMMY_PREFIX | THM_TOK_FLAG_REMOVE_EXTRA_WHITESPACES |
                           THM_TOK_FLAG_BYTE_FALLBACK;
    int fallback = (t->flags & THM_TOK_FLAG_BYTE_FALLBACK) != 0;
    if (header_size < THM_TOK_HEADER_SIZE || header_size > size || (t->flags & ~known) ||
        t->piece_count < 1 || t->piece_count > THM_TOK_MAX_PIECES || t->unk_id >= t->piece_count ||
        t->hash_slots <= t->piece_count || t->hash_slots > THM_TOK_MAX_HASH_SLOTS ||
        (t->hash_slots & (t->hash_slots - 1)) || t->max_probe < 1 || t->max_probe > THM_TOK_MAX_PROBE ||
        t->user_count > THM_TOK_MAX_USER || t->unk_len > THM_TOK_MAX_UNK_SURFACE ||
        (!fallback && t->bytes_off != 0))
        goto bad_header;
    if (!region_ok(t->size, t->pieces_off, t->piece_count, THM_TOK_PIECE_SIZE) ||
        !region_ok(t->size, t->hash_off, t->hash_slots, 4) ||
        (fallback && !region_ok(t->size, t->bytes_off, 256, 4)) ||
        !region_ok(t->size, t->user_off, t->user_count, 4) ||
        !region_ok(t->size, t->strings_off, t->strings_size, 1) ||
        (uint64_t)t->unk_off + t->unk_len > t->strings_size) {
        memset(t, 0, sizeof *t);
        return THM_TOK_E_TABLE;
    }
    /* pieces: text inside strings, known type, exactly one UNKNOWN (at unk_id) */
    uint32_t n_unknown = 0, n_user = 0, n_byte = 0;
    for (uint32_t i = 0; i < t->piece_count; i++) {
        const uint8_t *e = base + t->pieces_off + (size_t)i * THM_TOK_PIECE_SIZE;
        uint32_t off = thm_tok_rd32(e), len = thm_tok_rd16(e + 4), type = e[6];
        if (len < 1 || len > THM_TOK_MAX_PIECE_BYTES || (uint64_t)off + len > t->strings_size) goto bad_piece;
        if (!utf8_whole(base + t->strings_off + off, len)) goto bad_utf8;
        switch (type) {
        case THM_TOK_PIECE_NORMAL: case THM_TOK_PIECE_CONTROL: break;
        case THM_TOK_PIECE_UNKNOWN: n_unknown++; if (i != t->unk_id) goto bad_piece; break;
        case THM_TOK_PIECE_USER_DEFINED: n_user++; break;
        case THM_TOK_PIECE_BYTE: n_byte++; break;
        default: goto bad_piece;
        }
    }
    if (n_unknown != 1 || n_byte != (fallback ? 256u : 0u)) goto bad_piece;
    /* hash: slot values in range, and every piece found at its own id within
     * max_probe (this also proves the texts are distinct) */
    for (uint32_t s = 0; s < t->hash_slots; s++)
        if (thm_tok_rd32(base + t->hash_off + 4u * s) > t->piece_count) goto bad_hash;
    for (uint32_t i = 0; i < t->piece_count; i++) {
        thm_tok_piece p = thm_tok_get(t, i);
        if (thm_tok_lookup(t, p.text, p.len) != (int32_t)i) goto bad_hash;
    }
    if (fallback) {
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t id = thm_tok_rd32(base + t->bytes_off + 4u * b);
            if (id >= t->piece_count) goto bad_bytes;
            thm_tok_piece p = thm_tok_get(t, id);
            const uint8_t want[6] = {'<', '0', 'x', (uint8_t)hexdigit(b >> 4), (uint8_t)hexdigit(b & 15), '>'};
            if (p.type != THM_TOK_PIECE_BYTE || p.len != 6 || memcmp(p.text, want, 6) != 0) goto bad_bytes;
        }
    }
    /* user-defined: exactly the USER_DEFINED pieces, increasing ids */
    if (t->user_count != n_user) goto bad_user;
    for (uint32_t k = 0; k < t->user_count; k++) {
        uint32_t id = thm_tok_rd32(base + t->user_off + 4u * k);
        if (id >= t->piece_count || thm_tok_get(t, id).type != THM_TOK_PIECE_USER_DEFINED ||
            (k > 0 && id <= thm_tok_rd32(base + t->user_off + 4u * (k - 1))))
            goto bad_user;
    }
    return THM_TOK_OK;
bad_header: memset(t, 0, sizeof *t); return THM_TOK_E_HEADER;
bad_piece:  memset(t, 0, sizeof *t); return THM_TOK_E_PIECE;
bad_utf8:   memset(t, 0, sizeof *t); return THM_TOK_E_UTF8;
bad_hash:   memset(t, 0, sizeof *t); return THM_TOK_E_HASH;
bad_bytes:  memset(t, 0, sizeof *t); return THM_TOK_E_BYTES;
bad_user:   memset(t, 0, sizeof *t); return THM_TOK_E_USER;
}

const char *thm_tok_strerror(int err)
{
    switch (err) {
    case THM_TOK_OK: return "ok";
    case THM_TOK_E_ARG: return "bad argument";
    case THM_TOK_E_SHORT: return "payload too short or too large";
    case THM_TOK_E_MAGIC: return "not a tokenizer payload";
    case THM_TOK_E_VERSION: return "unsupported tokenizer payload version";
    case THM_TOK_E_HEADER: return "tokenizer header out of range";
    case THM_TOK_E_TABLE: return "tokenizer table outside the payload";
    case THM_TOK_E_PIECE: return "tokenizer piece entry inconsistent";
    case THM_TOK_E_UTF8: return "tokenizer piece is not whole UTF-8 characters";
    case THM_TOK_E_HASH: return "tokenizer hash table inconsistent";
    case THM_TOK_E_BYTES: return "tokenizer byte-fallback table inconsistent";
    case THM_TOK_E_USER: return "tokenizer user-defined list inconsistent";
    case THM_TOK_E_SCRATCH: return "encoder scratch too small";
    case THM_TOK_E_ID: return "token id out of range";
    case THM_TOK_E_SPACE: return "output buffer too small";
    case THM_TOK_E_TOO_LONG: return "text too long";
    default: return "unknown error";
    }
}
