/* The application behind the serial link server (runtime/device/link): the
 * UART as its byte port, the emulated flash (runtime/device/flash) as its
 * flash, and the RUN handler.
 *
 * RUN executes the request staged by REQ frames: the app's own request
 * (thm_app.h, "THRQ"), parsed and bounded by thm_app_parse_request. The
 * output is the app's whole answer, per-step counts included: the link's
 * staging buffers are the app's limits (asserted below), so nothing is
 * trimmed. The model is bound again whenever the
 * active slot or its hash changes. */
#include <string.h>

#include "thm_app.h"
#include "thm_app_link.h"
#include "thm_board.h"
#include "thm_flash.h"
#include "thm_hal.h"
#include "thm_link_server.h"

/* The link's staging buffers hold the app's largest request and answer. */
_Static_assert(THM_LINK_MAX_REQUEST == THM_APP_MAX_REQUEST,
               "link MAX_REQUEST differs from the app's request limits (runtime/thimble/link/format.py)");
_Static_assert(THM_LINK_MAX_OUTPUT == THM_APP_MAX_ANSWER,
               "link MAX_OUTPUT differs from the app's answer limit (runtime/thimble/link/format.py)");

static thm_link_server server;
static uint8_t sector_buf[THM_FLASH_SECTOR];
static int bound_slot = -1;
static uint32_t bound_off;
static uint8_t bound_sha[32];

/* The UART. The HAL's read blocks (WFI) until a byte comes, so a quiet line
 * is seen when it ends: a byte that follows a silence of timeout_ms or more
 * is held back and the read reports the silence first (0), which makes the
 * server drop a partial frame stalled before it (thm_link_decoder_idle).
 * Without that, a frame cut short (a cable pulled mid-frame; QEMU drops what
 * its socket still held when the host hangs up) swallowed the next HELLOs as
 * its payload and the board never answered a reconnected host. */
static int uart_read(void *ctx, uint8_t *buf, uint32_t cap, uint32_t timeout_ms)
{
    static int held = -1;             /* the byte after a silence, delivered next read */
    static uint64_t last;             /* uptime (ms) at the last byte */
    (void)ctx;
    if (!cap) return 0;
    if (held >= 0) {
        buf[0] = (uint8_t)held;
        held = -1;
        return 1;
    }
    const int c = thm_hal_getc();
    const uint64_t now = thm_hal_uptime_ms();
    const int silence = now - last >= timeout_ms;
    last = now;
    if (silence) {
        held = c;
        return 0;
    }
    buf[0] = (uint8_t)c;
    return 1;
}

static int uart_write(void *ctx, const uint8_t *buf, uint32_t n)
{
    (void)ctx;
    for (uint32_t i = 0; i < n; i++) thm_hal_putc(buf[i]);
    return 0;
}

static int fl_erase(void *ctx, uint32_t off, uint32_t n) { (void)ctx; return thm_flash_erase(off, n); }
static int fl_program(void *ctx, uint32_t off, const uint8_t *d, uint32_t n) { (void)ctx; return thm_flash_program(off, d, n); }
static int fl_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t n)
{
    (void)ctx;
    if (off > thm_flash_size() || n > thm_flash_size() - off) return -1;
    memcpy(buf, thm_flash_base() + off, n);
    return 0;
}

static uint64_t insns(uint64_t ticks, uint32_t hz) { return hz ? ticks * 1000000000ull / hz : 0; }

static int run_prompt(void *ctx, const thm_link_run_in *in, thm_link_run_out *out)
{
    (void)ctx;
    static thm_app_answer failed;
    const thm_app_answer *a = &failed;
    thm_app_request r;
    if (thm_app_parse_request(in->request, in->request_len, &r, &failed) != THM_APP_OK) {
        /* failed holds the message naming the bad field */
    } else if (in->slot < 0) {
        thm_app_fail(&failed, THM_APP_E_NO_MODEL, "no model installed");
    } else {
        if (in->slot != bound_slot || in->image_offset != bound_off || memcmp(in->sha256, bound_sha, 32)) {
            thm_app_bind(thm_flash_base() + in->image_offset, in->image_size);
            bound_slot = in->slot;
            bound_off = in->image_offset;
            memcpy(bound_sha, in->sha256, 32);
        }
        a = thm_app_run(&r);
    }
    out->out_len = (uint32_t)thm_app_pack_answer(a, out->out, THM_LINK_MAX_OUTPUT);
    out->prompt_tokens = a->prompt_tokens;
    out->gen_tokens = a->n_tokens;
    out->prefill_insns = insns(a->prefill_ticks, a->counter_hz);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < a->n_steps; i++) sum += a->step_ticks[i];
    out->insns_per_token = a->n_steps ? insns(sum, a->counter_hz) / a->n_steps : 0;
    return 0;
}

/* COMMIT's check: bind the new image as a RUN would (image, model,
 * tokenizer, arena plan against this board). Binding replaces the bound
 * model either way, so the next RUN binds the active slot again. */
static int check_image(void *ctx, uint32_t image_offset, uint32_t image_size)
{
    (void)ctx;
    if (image_offset > thm_flash_size() || image_size > thm_flash_size() - image_offset) return -1;
    int rc = thm_app_bind(thm_flash_base() + image_offset, image_size);
    bound_slot = -1;
    return rc != THM_APP_OK;
}

int thm_app_link_serve(void)
{
    static const thm_link_port port = {0, uart_read, uart_write};
    static const thm_link_flash flash = {0, THM_FLASH_BYTES, THM_FLASH_SECTOR, THM_FLASH_SLOTS, fl_erase, fl_program, fl_read};
    if (thm_link_server_init(&server, &port, &flash, sector_buf, THM_BOARD_NAME, run_prompt, 0) != 0) {
        thm_hal_puts("thimble app: the model flash is unusable for the link\r\n");
        return 1;
    }
    thm_link_server_set_check(&server, check_image, 0);
    thm_link_server_set_test(&server, thm_app_selftest, 0);
    for (;;) {
        /* 500 ms: a host's pause mid-frame is far shorter; its resend timeout is longer */
        if (thm_link_server_poll(&server, 500) < 0) return 1;
    }
}
