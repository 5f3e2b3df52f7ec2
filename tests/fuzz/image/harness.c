/* Fuzz harness (a): an image as the board receives it, then one prompt.
 * The input is a whole .thm image. Its SHA-256 field is set to the hash of
 * the mutated bytes first (a mutant with a stale hash would stop at
 * thm_image_verify every time, and the device only runs images whose hash it
 * verified), then the app loads it as a board does (image, bind, tokenizer,
 * vocabulary, arena plan against a 4 MiB board arena) and, when it loads,
 * answers one request (the file named by $THM_FUZZ_REQUEST, made by
 * tests/fuzz/seeds.py: "set a timer for ten minutes" with three tools, 4
 * tokens at most). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thm_app.h"
#include "thm_sha256.h"

#define ARENA_BYTES (4u << 20)
#define SHA_OFF 32

static uint8_t *request;
static size_t request_len;
static uint8_t *arena, *image;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *path = getenv("THM_FUZZ_REQUEST");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) { fprintf(stderr, "image harness: set THM_FUZZ_REQUEST to a request file\n"); exit(2); }
    request = malloc(1 << 16);
    request_len = fread(request, 1, 1 << 16, f);
    fclose(f);
    arena = aligned_alloc(64, ARENA_BYTES);
    image = aligned_alloc(64, 1u << 20);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static thm_app_model am;
    static thm_app_answer ans;
    static thm_app_request req;
    if (size > (1u << 20)) return 0;
    memcpy(image, data, size);     /* a board reads the image 64-byte aligned from its slot */
    if (size >= SHA_OFF + 32) {
        thm_sha256_ctx c;
        memset(image + SHA_OFF, 0, 32);
        thm_sha256_init(&c);
        thm_sha256_update(&c, image, size);
        thm_sha256_final(&c, image + SHA_OFF);
    }
    char msg[160];
    if (thm_app_load(&am, image, size, arena, ARENA_BYTES, msg, sizeof msg) != THM_APP_OK) return 0;
    if (thm_app_parse_request(request, request_len, &req, &ans) != THM_APP_OK) abort();   /* the seed request is good */
    thm_app_answer_prompt(&am, &req, &ans);
    return 0;
}
