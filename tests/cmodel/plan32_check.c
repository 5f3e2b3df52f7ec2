/* The image checks and the arena plan on a 32-bit core: thm_image_open,
 * thm_image_verify, thm_model_bind and thm_model_arena_size, built for the
 * Cortex-M4 (as the watch firmware is: freestanding, the project's own
 * string.h) and run as a Linux program under qemu-arm. The boards' size_t is
 * 32 bits, so this is where a plan that wraps would show; the test compares
 * each line with the 64-bit host's answer for the same image.
 *
 * stdin: an image. stdout: "open R", "verify R", "bind R", "arena N"
 * (N for the app's limits: min(rope positions, max_enc_len) prompt tokens and
 * at most 96 generated, 0 when the plan is refused), then the app's own
 * check of the same bytes (thm_app_check, what a board runs before COMMIT and
 * RUN): "app R" and, when it passes, "need N" (the app's whole arena layout).
 * Exit status 0. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "thm_app.h"
#include "thm_image.h"
#include "thm_model.h"

static long sys3(long n, long a, long b, long c)
{
    register long r7 __asm__("r7") = n;
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    __asm__ volatile("svc 0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
    return r0;
}
#define SYS_EXIT 1
#define SYS_READ 3
#define SYS_WRITE 4

static uint8_t image[16u << 20] __attribute__((aligned(64)));
static thm_image img;
static thm_model model;
static thm_app_model app;

static void put(const char *key, uint64_t v, int neg)
{
    char line[48], d[24];
    size_t n = 0, k = 0;
    while (*key) line[n++] = *key++;
    line[n++] = ' ';
    if (neg) line[n++] = '-';
    do { d[k++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (k) line[n++] = d[--k];
    line[n++] = '\n';
    sys3(SYS_WRITE, 1, (long)line, (long)n);
}

static void put_rc(const char *key, int rc) { put(key, (uint64_t)(rc < 0 ? -(int64_t)rc : rc), rc < 0); }

void _start(void)
{
    _Static_assert(sizeof(size_t) == 4, "this check is about a 32-bit size_t");
    uint32_t n = 0;
    for (;;) {
        long got = sys3(SYS_READ, 0, (long)(image + n), (long)(sizeof image - n));
        if (got <= 0) break;
        n += (uint32_t)got;
    }
    int rc = thm_image_open(&img, image, n);
    put_rc("open", rc);
    if (!rc) { rc = thm_image_verify(&img); put_rc("verify", rc); }
    if (!rc) { rc = thm_model_bind(&model, &img); put_rc("bind", rc); }
    if (!rc) {
        int32_t enc = model.max_enc_len, dec = model.max_dec_len < 96 ? model.max_dec_len : 96;
        put("arena", thm_model_arena_size(&model, enc, dec), 0);
    }
    rc = thm_app_check(&app, image, n, 0, 0);
    put_rc("app", rc);
    if (!rc) put("need", app.need, 0);
    sys3(SYS_EXIT, 0, 0, 0);
    for (;;) {}
}
