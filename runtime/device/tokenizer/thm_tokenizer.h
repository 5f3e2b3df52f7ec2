/* SentencePiece BPE on the device: the TOKENIZER section reader, the encoder
 * (UTF-8 text -> ids) and the decoder (ids -> UTF-8 bytes). Same ids as the
 * `sentencepiece` package; the specification is runtime/thimble/tokenizer/bpe.py.
 *
 * The payload is untrusted: thm_tok_open checks every offset, count, piece and
 * hash chain before anything is used, and nothing reads outside
 * [base, base + size). No malloc: the encoder works in caller-provided scratch
 * (thm_tok_encode_scratch_size), and all work is bounded by the input size. */
#ifndef THM_TOKENIZER_H
#define THM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "thm_tokenizer_format.h"

enum {
    THM_TOK_OK = 0,
    THM_TOK_E_ARG = -1,       /* NULL pointer where data is needed */
    THM_TOK_E_SHORT = -2,     /* payload smaller than its header, or over 4 GiB */
    THM_TOK_E_MAGIC = -3,     /* not a tokenizer payload */
    THM_TOK_E_VERSION = -4,   /* another major version */
    THM_TOK_E_HEADER = -5,    /* header fields out of range */
    THM_TOK_E_TABLE = -6,     /* a table lies outside the payload */
    THM_TOK_E_PIECE = -7,     /* a piece entry is inconsistent */
    THM_TOK_E_HASH = -8,      /* the hash table does not find every piece */
    THM_TOK_E_BYTES = -9,     /* byte-fallback table inconsistent */
    THM_TOK_E_USER = -10,     /* user-defined list inconsistent */
    THM_TOK_E_SCRATCH = -11,  /* scratch smaller than thm_tok_encode_scratch_size */
    THM_TOK_E_ID = -12,       /* a token id outside 0 .. piece_count-1 */
    THM_TOK_E_SPACE = -13,    /* decode output buffer too small (out_len says how big) */
    THM_TOK_E_TOO_LONG = -14, /* text longer than THM_TOK_MAX_TEXT */
    THM_TOK_E_UTF8 = -15,     /* a piece's text is not whole UTF-8 characters */
};

#define THM_TOK_MAX_TEXT (1u << 20)   /* bytes of text per encode call */

typedef struct {
    const uint8_t *base;      /* the payload, where it lies (flash or RAM) */
    uint32_t size;            /* bytes */
    uint32_t flags;           /* THM_TOK_FLAG_* */
    uint32_t piece_count;
    uint32_t unk_id;
    uint32_t hash_slots, max_probe;
    uint32_t pieces_off, hash_off, bytes_off, user_off, user_count;
    uint32_t strings_off, strings_size;
    uint32_t unk_off, unk_len; /* unk surface, inside strings */
} thm_tokenizer;

/* Check the whole payload (cost O(piece_count * max_probe)) and fill tok. */
int thm_tok_open(thm_tokenizer *tok, const uint8_t *base, uint64_t size);

/* Id of the piece with exactly this text, or -1. At most max_probe probes. */
int32_t thm_tok_lookup(const thm_tokenizer *tok, const uint8_t *text, uint32_t len);

/* Scratch bytes thm_tok_encode needs for text of up to max_text_bytes
 * (about 56 bytes per text byte); 0 if max_text_bytes > THM_TOK_MAX_TEXT. */
size_t thm_tok_encode_scratch_size(uint32_t max_text_bytes);

/* text: text_len bytes of UTF-8 (malformed bytes are encoded as U+FFFD, as
 * sentencepiece does). ids: room for ids_cap ids. *n_ids: how many ids the
 * text has; only the first min(*n_ids, ids_cap) are written (truncation is
 * the caller's choice). scratch: any alignment, scratch_size bytes. */
int thm_tok_encode(const thm_tokenizer *tok, const uint8_t *text, uint32_t text_len,
                   void *scratch, size_t scratch_size,
                   int32_t *ids, uint32_t ids_cap, uint32_t *n_ids);

/* ids: n_ids token ids. out: room for out_cap bytes, not NUL-terminated.
 * *out_len: the decoded length; THM_TOK_E_SPACE if it exceeds out_cap (then
 * only out_cap bytes are written). Output is valid UTF-8. */
int thm_tok_decode(const thm_tokenizer *tok, const int32_t *ids, uint32_t n_ids,
                   uint8_t *out, uint32_t out_cap, uint32_t *out_len);

const char *thm_tok_strerror(int err);

#endif /* THM_TOKENIZER_H */
