/* The watch's application firmware: boots, binds the installed model and
 * answers prompts.
 *
 * Batch mode (tests and factory checks): when QEMU's working folder holds
 * thm_job.bin (semihosting), every request in it is answered and the
 * answers go to thm_answers.bin; then the firmware exits 0. The job is
 *   "THJB", u32 version 1, u32 n_requests, then per request u32 length and
 *   the request bytes (thm_app.h);
 * the answers file is "THAN", u32 version 1, u32 n, then per answer u32
 * length and the answer bytes.
 * Serial mode (otherwise): a banner on the UART, then requests over it: the
 * serial link server in the thm_app_link build (THM_APP_LINK), else the
 * app's plain request path (thm_app_serve.c). */
#include <string.h>

#include "thm_app.h"
#include "thm_app_image.h"
#include "thm_app_link.h"
#include "thm_board.h"
#include "thm_hal.h"

#define JOB_MAX_REQUEST (THM_APP_REQ_HEADER + THM_APP_MAX_QUERY + THM_APP_MAX_TOOLS_JSON + THM_TOOLS_MAX_WIRE)
#define JOB_MAX_REQUESTS 256u

static uint8_t req_buf[JOB_MAX_REQUEST];
static uint8_t ans_buf[THM_APP_MAX_ANSWER];

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int read_exact(int fd, void *buf, uint32_t n) { return thm_semi_read(fd, buf, n) == (int)n ? 0 : -1; }

static int fail(const char *msg, int code)
{
    thm_semi_write0("thimble app: ");
    thm_semi_write0(msg);
    thm_semi_write0("\n");
    return code;
}

static int run_batch(int job)
{
    uint8_t head[12];
    if (read_exact(job, head, 12) || memcmp(head, "THJB", 4) || rd32(head + 4) != 1u)
        return fail("thm_job.bin: bad header", 3);
    uint32_t n = rd32(head + 8);
    if (n > JOB_MAX_REQUESTS) return fail("thm_job.bin: too many requests", 3);
    int out = thm_semi_open("thm_answers.bin", 5 /* wb */);
    if (out < 0) return fail("cannot create thm_answers.bin", 4);
    uint32_t ohead[3] = {0, 1u, n};
    memcpy(ohead, "THAN", 4);
    if (thm_semi_write(out, ohead, sizeof(ohead))) return fail("write failed", 5);
    thm_app_boot();
    for (uint32_t i = 0; i < n; i++) {
        uint8_t lenb[4];
        if (read_exact(job, lenb, 4)) return fail("thm_job.bin: truncated", 3);
        uint32_t len = rd32(lenb);
        if (len > sizeof(req_buf)) return fail("thm_job.bin: request too long", 3);
        if (read_exact(job, req_buf, len)) return fail("thm_job.bin: truncated", 3);
        uint32_t alen = (uint32_t)thm_app_handle(req_buf, len, ans_buf, sizeof(ans_buf));
        if (!alen) return fail("answer did not pack", 6);
        if (thm_semi_write(out, &alen, 4) || thm_semi_write(out, ans_buf, alen)) return fail("write failed", 5);
    }
    thm_semi_close(out);
    thm_semi_close(job);
    return 0;
}

int main(void)
{
    thm_hal_counter_start();
    int job = thm_semi_open("thm_job.bin", 1 /* rb */);
    if (job >= 0) return run_batch(job);
    thm_hal_uart_init();
    thm_hal_puts("thimble app " THM_BOARD_NAME ": ");
#if defined(THM_APP_LINK)
    thm_hal_puts("link ready\r\n");         /* the model is bound from the active slot at the first RUN */
    return thm_app_link_serve();
#else
    int rc = thm_app_boot();
    thm_hal_puts(rc == THM_APP_OK ? "model ready" : thm_app_boot_message());
    thm_hal_puts("\r\n");
    return thm_app_serve();
#endif
}
