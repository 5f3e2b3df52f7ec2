/* Host driver for the C model runtime, built by test_sanitized.py with
 * AddressSanitizer and UBSan: loads an image file, binds, sizes an arena of
 * exactly thm_model_arena_size bytes (so an overrun is caught), encodes the
 * prompt and decodes greedily.
 *
 * usage: model_check IMAGE MAX_ENC MAX_DEC STEPS TOKEN...
 * stdout: "arena N" then "step TOKEN" per step then "crc HEX", or
 *         "bind ERR NAME" when the image is refused (exit 0: refusing is the job). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "thm_model.h"

static void *aligned(size_t n)
{
    size_t r = (n + THM_MODEL_ARENA_ALIGN - 1) / THM_MODEL_ARENA_ALIGN * THM_MODEL_ARENA_ALIGN;
    return aligned_alloc(THM_MODEL_ARENA_ALIGN, r ? r : THM_MODEL_ARENA_ALIGN);
}

int main(int argc, char **argv)
{
    if (argc < 6) { fprintf(stderr, "usage: model_check IMAGE MAX_ENC MAX_DEC STEPS TOKEN...\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = aligned((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) { fprintf(stderr, "read failed\n"); return 2; }
    fclose(f);
    thm_image img;
    int err = thm_image_open(&img, buf, (uint64_t)size);
    if (err) { printf("image %d\n", err); free(buf); return 0; }
    static thm_model m;
    err = thm_model_bind(&m, &img);
    if (err) { printf("bind %d %s\n", err, thm_model_error_name(&m)); free(buf); return 0; }
    int32_t max_enc = atoi(argv[2]), max_dec = atoi(argv[3]), steps = atoi(argv[4]);
    int32_t n = argc - 5;
    size_t need = thm_model_arena_size(&m, max_enc, max_dec);
    if (!need) { fprintf(stderr, "bad max_enc/max_dec\n"); return 2; }
    void *arena = aligned(need);
    err = thm_model_init(&m, arena, need, max_enc, max_dec);
    if (err) { fprintf(stderr, "init: %s\n", thm_model_strerror(err)); return 1; }
    printf("arena %zu\n", need);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)n);
    for (int32_t i = 0; i < n; i++) tokens[i] = atoi(argv[5 + i]);
    err = thm_model_encode(&m, tokens, n);
    if (err) { fprintf(stderr, "encode: %s\n", thm_model_strerror(err)); return 1; }
    int32_t tok = 1;
    for (int32_t s = 0; s < steps; s++) {
        err = thm_model_decode_step(&m, tok, NULL, &tok);
        if (err) { fprintf(stderr, "step %d: %s\n", s, thm_model_strerror(err)); return 1; }
        printf("step %d\n", tok);
    }
    printf("crc %08x\n", thm_model_hidden_crc(&m));
    free(tokens);
    free(arena);
    free(buf);
    return 0;
}
