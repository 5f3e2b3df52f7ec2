/* The bytes each token adds to an answer, read from the image's tokenizer:
 * the same table as thimble.sim.session.piece_bytes (normal pieces with
 * U+2581 as a space, byte pieces "<0xAB>" as their byte, every other kind
 * none), so the device's grammar sees what the simulator's sees. */
#include "thm_app.h"
#include "thm_tok_internal.h"

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int32_t thm_app_piece(const void *ctx, int32_t id, const uint8_t **bytes)
{
    /* one piece at a time: thm_decode reads the bytes before the next call */
    static uint8_t buf[THM_TOK_MAX_PIECE_BYTES];
    const thm_tokenizer *tok = ctx;
    if (!tok || !bytes || id < 0 || (uint32_t)id >= tok->piece_count) return -1;
    thm_tok_piece p = thm_tok_get(tok, (uint32_t)id);
    if (p.type == THM_TOK_PIECE_BYTE) {
        int hi = p.len == 6 ? hex_digit(p.text[3]) : -1, lo = p.len == 6 ? hex_digit(p.text[4]) : -1;
        if (hi < 0 || lo < 0) return -1;   /* thm_tok_open checked the form; never reached */
        buf[0] = (uint8_t)(hi * 16 + lo);
        *bytes = buf;
        return 1;
    }
    if (p.type != THM_TOK_PIECE_NORMAL) return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < p.len;) {
        if (i + 3 <= p.len && p.text[i] == 0xE2 && p.text[i + 1] == 0x96 && p.text[i + 2] == 0x81) {
            buf[n++] = ' ';
            i += 3;
        } else {
            buf[n++] = p.text[i++];
        }
    }
    *bytes = buf;
    return (int32_t)n;
}
