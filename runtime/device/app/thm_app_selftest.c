/* The app's side of the link's bring-up checks (TEST, thimble selftest):
 * who it is, kernels run on inputs the host sends, a march test of the
 * arena the bound model does not use, and how deep the stack has ever
 * gone. The link server answers FLASH, SLOTS and FILL itself. */
#include <stdint.h>
#include <string.h>

#include "thimble_kernels.h"
#include "thm_app.h"
#include "thm_app_link.h"
#include "thm_board.h"
#include "thm_conformance.h"
#include "thm_hal.h"

#define THM_MAX_ISA 32
#define STACK_PAINT 0x5AC3A53Cu
#define STACK_MARGIN 256u          /* below the painter's own frame */

extern const char thm_firmware_id[];
extern uint32_t __bss_end[], __stack_top[];

/* Every word of the stack below this frame gets the paint, once at boot:
 * what is still painted later was never touched. */
void thm_app_stack_paint(void)
{
    uint32_t *lo = __bss_end;
    uint32_t *hi = (uint32_t *)((uintptr_t)__builtin_frame_address(0) - STACK_MARGIN);
    for (volatile uint32_t *p = lo; p < hi; p++) *p = STACK_PAINT;
}

static uint32_t stack_untouched(void)
{
    const uint32_t *p = __bss_end;
    while (p < __stack_top && *p == STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)p - (uintptr_t)__bss_end);
}

#ifdef THM_DEFECT_ARENA_ALIAS
/* A deliberate defect (tests/device/test_device_selftest.py): the arena's
 * second half reads and writes the first, as a missing address line would. */
#define ARENA_HALF ((uint32_t)THM_BOARD_ARENA_SIZE / 2u)
#define ARENA_AT(off) (arena + ((off) >= ARENA_HALF ? (off) - ARENA_HALF : (off)))
#else
#define ARENA_AT(off) (arena + (off))
#endif

/* March C- over [lo, hi) of the arena, word by word, then each word its own
 * address (which catches two addresses that reach one cell):
 * up(w0); up(r0,w1); up(r1,w0); down(r0,w1); down(r1,w0); up(r0).
 * Returns the first failing offset or THM_LINK_TEST_NO_FAULT. */
static uint32_t march(uint8_t *arena, uint32_t lo, uint32_t hi)
{
    static const uint32_t pat[2] = {0x00000000u, 0xFFFFFFFFu};
#define W(off) (*(volatile uint32_t *)(void *)ARENA_AT(off))
    lo = (lo + 3u) & ~3u;
    hi &= ~3u;
    if (hi <= lo) return THM_LINK_TEST_NO_FAULT;
    for (uint32_t a = lo; a < hi; a += 4) W(a) = pat[0];
    for (int up = 1; up >= 0; up--) {
        for (int step = 0; step < 2; step++) {
            uint32_t r = pat[step], w = pat[1 - step];
            if (up) {
                for (uint32_t a = lo; a < hi; a += 4) {
                    if (W(a) != r) return a;
                    W(a) = w;
                }
            } else {
                for (uint32_t a = hi; a > lo; a -= 4) {
                    if (W(a - 4) != r) return a - 4;
                    W(a - 4) = w;
                }
            }
        }
    }
    for (uint32_t a = lo; a < hi; a += 4)
        if (W(a) != pat[0]) return a;
    for (uint32_t a = lo; a < hi; a += 4) W(a) = a ^ 0xA5A5A5A5u;
    for (uint32_t a = lo; a < hi; a += 4)
        if (W(a) != (a ^ 0xA5A5A5A5u)) return a;
#undef W
    return THM_LINK_TEST_NO_FAULT;
}

/* KERNEL: the staged job (one header, one case, its buffers) copied into the
 * arena above what the model uses, its case run under every ISA the board
 * has; out: per run a thm_result_record and the output bytes, as the
 * conformance firmware writes them. */
static int kernel_job(const thm_link_test_in *in, thm_link_test_out *out, uint8_t *arena, uint32_t used)
{
    const uint32_t n = in->staged_len;
    const uint32_t at = (used + 63u) & ~63u;
    if (n < sizeof(thm_job_header) + sizeof(thm_job_case) || at > THM_BOARD_ARENA_SIZE ||
        n > THM_BOARD_ARENA_SIZE - at) {
        out->status = THM_LINK_ST_E_LENGTH;
        return 0;
    }
    uint8_t *job = arena + at;
    memcpy(job, in->staged, n);
    const thm_job_header *h = (const thm_job_header *)(void *)job;
    const thm_job_case *c = (const thm_job_case *)(void *)(job + sizeof(*h));
    if (h->magic != THM_JOB_MAGIC || h->version != THM_JOB_VERSION || h->n_cases != 1 || h->total_bytes != n ||
        !thm_job_case_ok(c, n)) {
        out->status = THM_LINK_ST_E_RUN;
        return 0;
    }
    uint32_t scratch_at = (at + n + 63u) & ~63u, o = c->n_bufs ? c->n_bufs - 1 : 0;
    uint8_t *res = job + (c->n_bufs ? c->off[o] : 0);
    uint32_t len = c->n_bufs ? c->len[o] : 0, put = 0;
    const int32_t before = thm_isa_get();
    for (int32_t isa = 0; isa < THM_MAX_ISA; isa++) {
        if (!(h->isa_mask >> isa & 1u) || !thm_isa_available(isa) || thm_isa_set(isa) != THM_OK) continue;
        thm_result_record r = {0, isa, THM_JOB_E_CASE, len, 0};
        if (put + sizeof r + len > THM_LINK_MAX_OUTPUT) {
            out->status = THM_LINK_ST_E_LENGTH;
            break;
        }
        for (uint32_t j = 0; j < len; j++) res[j] = 0xA5;            /* no stale pass */
        r.status = thm_job_run_case(job, c, arena + scratch_at,
                                    scratch_at < THM_BOARD_ARENA_SIZE ? THM_BOARD_ARENA_SIZE - scratch_at : 0,
                                    &r.ticks);
        memcpy(out->out + put, &r, sizeof r);
        memcpy(out->out + put + sizeof r, res, len);
        put += (uint32_t)sizeof r + len;
        out->v0++;
    }
    thm_isa_set(before);                          /* the model keeps the path it had */
    out->out_len = put;
    out->v2 = THM_BOARD_EMULATED_CLOCK_HZ;
    return 0;
}

int thm_app_selftest(void *ctx, const thm_link_test_in *in, thm_link_test_out *out)
{
    (void)ctx;
    uint8_t *arena = (uint8_t *)(uintptr_t)THM_BOARD_ARENA_BASE;
    uint32_t used = (uint32_t)thm_app_arena_used();
    switch (in->op) {
    case THM_LINK_TEST_IDENT: {
        uint32_t n = (uint32_t)strlen(thm_firmware_id);
        memcpy(out->out, thm_firmware_id, n);
        out->out_len = n;
        out->v0 = THM_BOARD_ARENA_SIZE;
        out->v1 = used;
        return 0;
    }
    case THM_LINK_TEST_KERNEL:
        return kernel_job(in, out, arena, used);
    case THM_LINK_TEST_MEMORY: {
        uint32_t lo = in->arg0, hi = in->arg0 + in->arg1;
        if (in->arg0 == 0 && in->arg1 == 0) {
            lo = used;
            hi = THM_BOARD_ARENA_SIZE;
        }
        if (lo < used || hi < lo || hi > THM_BOARD_ARENA_SIZE) {
            out->status = THM_LINK_ST_E_LENGTH;      /* never the bound model's part */
            return 0;
        }
        out->v0 = hi - lo;
        out->v1 = march(arena, lo, hi);
        out->v2 = lo;
        if (out->v1 != THM_LINK_TEST_NO_FAULT) out->status = THM_LINK_ST_E_RUN;
        return 0;
    }
    case THM_LINK_TEST_STACK:
        out->v0 = stack_untouched();
        out->v1 = (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__bss_end);
        return 0;
    default:
        return -1;
    }
}
