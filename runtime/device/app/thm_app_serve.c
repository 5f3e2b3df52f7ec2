/* Requests over the UART, until the serial link server (runtime/device/link)
 * takes over: the host writes a request (thm_app.h) as it is, the device
 * writes the answer back. Requests are self-delimiting; bytes before a known
 * magic are skipped (resync), and a header with lengths out of bounds gets an
 * error answer without its body being read. No CRC here: the link's frames
 * carry one.
 *
 * Also the flash's service commands (tests, and a factory path until the
 * link's deploy lands):
 *   "THFL", u32 op, u32 offset, u32 length, then for PROGRAM length bytes
 *   (<= THM_APP_FLASH_CHUNK) -> "THFA", i32 status, u32 length, then for
 *   READ length bytes. Ops: 1 erase, 2 program, 3 read, 4 rebind the model. */
#include <string.h>

#include "thm_app_image.h"
#include "thm_flash.h"
#include "thm_hal.h"

#define MAX_REQUEST (THM_APP_REQ_HEADER + THM_APP_MAX_QUERY + THM_APP_MAX_TOOLS_JSON + THM_TOOLS_MAX_WIRE)
#define THM_APP_FLASH_CHUNK 4096u
#define FL_ERASE 1u
#define FL_PROGRAM 2u
#define FL_READ 3u
#define FL_REBIND 4u
#define FL_E_OP (-10)            /* unknown op or a length over the chunk */

static uint8_t req[MAX_REQUEST];
static uint8_t out[THM_APP_MAX_ANSWER];
static thm_app_answer err_ans;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void write_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) thm_hal_putc(p[i]);
}

static void put_u32(uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    write_bytes(b, 4);
}

/* Waits for "THRQ" or "THFL"; returns which (0 or 1), req[0..4) holds it. */
static int sync_magic(void)
{
    static const char *const magics[2] = {THM_APP_REQ_MAGIC, "THFL"};
    uint8_t win[4] = {0, 0, 0, 0};
    for (;;) {
        win[0] = win[1];
        win[1] = win[2];
        win[2] = win[3];
        win[3] = (uint8_t)thm_hal_getc();
        for (int k = 0; k < 2; k++) {
            if (!memcmp(win, magics[k], 4)) {
                memcpy(req, win, 4);
                return k;
            }
        }
    }
}

static void serve_flash(void)
{
    for (uint32_t i = 4; i < 16; i++) req[i] = (uint8_t)thm_hal_getc();
    uint32_t op = rd32(req + 4), off = rd32(req + 8), len = rd32(req + 12);
    int32_t st = THM_FLASH_OK;
    uint32_t out_len = 0;
    if (op == FL_ERASE) {
        st = thm_flash_erase(off, len);
    } else if (op == FL_PROGRAM && len <= THM_APP_FLASH_CHUNK) {
        for (uint32_t i = 0; i < len; i++) req[16 + i] = (uint8_t)thm_hal_getc();
        st = thm_flash_program(off, req + 16, len);
    } else if (op == FL_READ && len <= THM_APP_FLASH_CHUNK) {
        st = off <= thm_flash_size() && len <= thm_flash_size() - off ? THM_FLASH_OK : THM_FLASH_E_RANGE;
        out_len = st == THM_FLASH_OK ? len : 0;
    } else if (op == FL_REBIND) {
        st = thm_app_boot();
    } else {
        st = FL_E_OP;   /* a PROGRAM over the chunk: its body is then read as noise and skipped */
    }
    write_bytes((const uint8_t *)"THFA", 4);
    put_u32((uint32_t)st);
    put_u32(out_len);
    write_bytes(thm_flash_base() + off, out_len);
}

static void serve_prompt(void)
{
    for (uint32_t i = 4; i < THM_APP_REQ_HEADER; i++) req[i] = (uint8_t)thm_hal_getc();
    uint32_t q = rd32(req + 8), t = rd32(req + 12), w = rd32(req + 16);
    size_t n;
    if (q > THM_APP_MAX_QUERY || t > THM_APP_MAX_TOOLS_JSON || w > THM_TOOLS_MAX_WIRE) {
        thm_app_fail(&err_ans, THM_APP_E_REQUEST, "request: a length is out of bounds (body not read)");
        n = thm_app_pack_answer(&err_ans, out, sizeof(out));
    } else {
        uint32_t len = THM_APP_REQ_HEADER + q + t + w;
        for (uint32_t i = THM_APP_REQ_HEADER; i < len; i++) req[i] = (uint8_t)thm_hal_getc();
        n = thm_app_handle(req, len, out, sizeof(out));
    }
    write_bytes(out, n);
}

int thm_app_serve(void)
{
    for (;;) {
        if (sync_magic() == 0) serve_prompt();
        else serve_flash();
    }
    return 0;
}
