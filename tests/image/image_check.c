/* Test harness for the C image reader, built by tests/image/test_image.py with
 * AddressSanitizer and UBSan. For each file argument prints one line:
 *   OK <hash ok 0/1> <tensor count> then, per tensor, name:dtype:layout:dims:fnv1a
 *   ERR <code>
 * With "--sha FILE..." prints the SHA-256 of each file instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "thm_image.h"
#include "thm_sha256.h"

#include "thm_test_slurp.h"

static uint32_t fnv1a(const uint8_t *p, uint64_t n)
{
    uint32_t h = 2166136261u;
    for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

int main(int argc, char **argv)
{
    int sha_mode = argc > 1 && strcmp(argv[1], "--sha") == 0;
    for (int a = 1 + sha_mode; a < argc; a++) {
        uint64_t size = 0;
        uint8_t *buf = slurp(argv[a], &size);
        if (!buf) { printf("IOERR\n"); continue; }
        if (sha_mode) {
            thm_sha256_ctx c;
            uint8_t d[32];
            thm_sha256_init(&c);
            /* feed in odd-sized pieces to exercise the partial-block path */
            uint64_t off = 0, step = 1;
            while (off < size) {
                uint64_t take = size - off < step ? size - off : step;
                thm_sha256_update(&c, buf + off, (size_t)take);
                off += take;
                step = step * 3 + 1;
            }
            thm_sha256_final(&c, d);
            for (int i = 0; i < 32; i++) printf("%02x", d[i]);
            printf("\n");
            free(buf);
            continue;
        }
        thm_image img;
        int err = thm_image_open(&img, buf, size);
        if (err) {
            printf("ERR %d\n", err);
            free(buf);
            continue;
        }
        printf("OK %d %u", thm_image_verify(&img) == THM_IMG_OK, img.tensor_count);
        for (uint32_t i = 0; i < img.tensor_count; i++) {
            thm_tensor_view t;
            if (thm_image_tensor(&img, i, &t) != THM_IMG_OK) { printf(" BADVIEW"); continue; }
            thm_tensor_view again;
            if (thm_image_find(&img, t.name, t.name_len, &again) != THM_IMG_OK || again.data != t.data)
                printf(" BADFIND");
            printf(" %.*s:%u:%u:", (int)t.name_len, t.name, t.dtype, t.layout);
            for (uint32_t d = 0; d < t.ndim; d++) printf(d ? "x%u" : "%u", t.dims[d]);
            printf(":%08x", fnv1a((const uint8_t *)t.data, t.size));
        }
        printf(" tok=%llu\n", (unsigned long long)img.tokenizer_size);
        free(buf);
    }
    return 0;
}
