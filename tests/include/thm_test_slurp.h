/* The host-side C checks' file reader (tests/image, tests/tokenizer): a whole
 * file in an exact-size heap block, so ASan catches a read one byte past it. */
#ifndef THM_TEST_SLURP_H
#define THM_TEST_SLURP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint8_t *slurp(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *size = (uint64_t)(n > 0 ? n : 0);
    return buf;
}

#endif /* THM_TEST_SLURP_H */
