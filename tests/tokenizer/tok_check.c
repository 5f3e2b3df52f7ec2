/* Test harness for the C tokenizer, built by tests/tokenizer/ with
 * AddressSanitizer and UBSan. Every buffer is an exact-size heap block, so a
 * read one byte past the payload, the text or the scratch is caught.
 *   tok_check --open FILE...        one line per payload: OK or ERR <code>
 *   tok_check --image IMAGE RECORDS as below, with the payload of a .thm image
 *   tok_check --hostile-user PAYLOAD RECORDS  as below, after breaking the
 *     user-defined pieces into lone bytes (see main)
 *   tok_check PAYLOAD RECORDS       RECORDS: records of a kind byte, a uint32
 *     little-endian length, then the data: 'T' = text (bytes), 'I' = ids
 *     (int32 each). For 'T' prints "E <ids...>" then "D <hex of decoded ids>";
 *     for 'I' prints "D <hex>" or "ERR <code>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "thm_image.h"
#include "thm_tokenizer.h"

#include "thm_test_slurp.h"

static void print_decoded(const thm_tokenizer *t, const int32_t *ids, uint32_t n)
{
    uint32_t len = 0;
    int rc = thm_tok_decode(t, ids, n, NULL, 0, &len);     /* size query */
    if (rc != THM_TOK_OK && rc != THM_TOK_E_SPACE) { printf("ERR %d\n", rc); return; }
    uint8_t *out = malloc(len ? len : 1);
    uint32_t len2 = 0;
    rc = thm_tok_decode(t, ids, n, out, len, &len2);
    if (rc != THM_TOK_OK || len2 != len) { printf("ERR %d\n", rc); free(out); return; }
    printf("D ");
    for (uint32_t i = 0; i < len; i++) printf("%02x", out[i]);
    printf("\n");
    free(out);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--open") == 0) {
        for (int a = 2; a < argc; a++) {
            uint64_t size = 0;
            uint8_t *buf = slurp(argv[a], &size);
            if (!buf) { printf("IOERR\n"); continue; }
            thm_tokenizer t;
            int rc = thm_tok_open(&t, buf, size);
            if (rc == THM_TOK_OK) printf("OK\n"); else printf("ERR %d\n", rc);
            free(buf);
        }
        return 0;
    }
    int image = argc == 4 && strcmp(argv[1], "--image") == 0;
    int hostile = argc == 4 && strcmp(argv[1], "--hostile-user") == 0;
    int flag = image || hostile;    /* the files come after the flag */
    if (argc != 3 + flag) {
        fprintf(stderr, "usage: tok_check --open FILE... | [--image | --hostile-user] PAYLOAD RECORDS\n");
        return 2;
    }
    uint64_t psize = 0, rsize = 0;
    uint8_t *payload = slurp(argv[1 + flag], &psize), *rec = slurp(argv[2 + flag], &rsize);
    if (!payload || !rec) { fprintf(stderr, "cannot read inputs\n"); return 2; }
    const uint8_t *tok_base = payload;
    uint64_t tok_size = psize;
    if (image) {
        thm_image img;
        int irc = thm_image_open(&img, payload, psize);
        if (irc != THM_IMG_OK || !img.tokenizer) { printf("IMAGE %d\n", irc); return 0; }
        tok_base = img.tokenizer;
        tok_size = img.tokenizer_size;
    }
    thm_tokenizer t;
    int rc = thm_tok_open(&t, tok_base, tok_size);
    if (rc != THM_TOK_OK) { printf("OPEN %d %s\n", rc, thm_tok_strerror(rc)); return 0; }
    if (hostile) {
        /* After open: every USER_DEFINED piece becomes one lead or middle byte
         * of a multi-byte character (E2, 96, EF in turn), what thm_tok_open
         * refuses. The encoder's own bounds must hold without that check: it
         * may refuse (E_SCRATCH) or answer, but never write past the scratch
         * (ASan) or loop forever (the caller's timeout). */
        static const uint8_t lone[3] = {0xE2, 0x96, 0xEF};
        uint8_t *base = payload;
        for (uint32_t k = 0; k < t.user_count; k++) {
            uint32_t id = (uint32_t)base[t.user_off + 4u * k] | (uint32_t)base[t.user_off + 4u * k + 1] << 8 |
                          (uint32_t)base[t.user_off + 4u * k + 2] << 16 | (uint32_t)base[t.user_off + 4u * k + 3] << 24;
            uint8_t *e = base + t.pieces_off + (size_t)id * THM_TOK_PIECE_SIZE;
            uint32_t off = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
            e[4] = 1;
            e[5] = 0;
            base[t.strings_off + off] = lone[k % 3];
        }
    }
    for (uint64_t pos = 0; pos + 5 <= rsize;) {
        char kind = (char)rec[pos];
        uint32_t len = (uint32_t)rec[pos + 1] | (uint32_t)rec[pos + 2] << 8 |
                       (uint32_t)rec[pos + 3] << 16 | (uint32_t)rec[pos + 4] << 24;
        pos += 5;
        if (len > rsize - pos) { fprintf(stderr, "bad record\n"); return 2; }
        uint8_t *data = malloc(len ? len : 1);
        memcpy(data, rec + pos, len);
        pos += len;
        if (kind == 'T') {
            size_t ss = thm_tok_encode_scratch_size(len);
            void *scratch = malloc(ss);
            uint32_t n = 0;
            /* first with no room, to check the count alone, then for real */
            rc = thm_tok_encode(&t, data, len, scratch, ss, NULL, 0, &n);
            int32_t *ids = malloc(n ? n * sizeof(int32_t) : 1);
            uint32_t n2 = 0;
            if (rc == THM_TOK_OK) rc = thm_tok_encode(&t, data, len, scratch, ss, ids, n, &n2);
            /* one byte less scratch is refused; a short ids buffer gets the first ids */
            uint32_t n3 = 0;
            int32_t *half = malloc(n / 2 ? (n / 2) * sizeof(int32_t) : 1);
            int rc_small = thm_tok_encode(&t, data, len, scratch, ss - 1, ids, n, &n3);
            int rc_half = thm_tok_encode(&t, data, len, scratch, ss, half, n / 2, &n3);
            if (rc == THM_TOK_OK && (rc_small != THM_TOK_E_SCRATCH || rc_half != THM_TOK_OK || n3 != n ||
                                     (n / 2 && memcmp(half, ids, (n / 2) * sizeof(int32_t)) != 0)))
                rc = -100;
            free(half);
            if (rc != THM_TOK_OK || n2 != n) printf("ERR %d\n", rc);
            else {
                printf("E");
                for (uint32_t i = 0; i < n; i++) printf(" %d", ids[i]);
                printf("\n");
                print_decoded(&t, ids, n);
            }
            free(ids);
            free(scratch);
        } else if (kind == 'I') {
            uint32_t n = len / 4;
            int32_t *ids = malloc(n ? n * sizeof(int32_t) : 1);
            memcpy(ids, data, (size_t)n * 4);
            print_decoded(&t, ids, n);
            free(ids);
        }
        free(data);
    }
    free(payload);
    free(rec);
    return 0;
}
