/* A test-only firmware (target thm_flash_test, never shipped): the flash
 * driver (runtime/device/flash) behind service commands on the UART, so
 * tests/device/test_device_flash.py can check its NOR rules, bounds,
 * persistence and power cuts byte by byte. The shipped app reaches the
 * flash only through the serial link (thm_app_link.c), whose journal never
 * issues a bad erase or program, so those refusals are tested here.
 *
 *   "THFL", u32 op, u32 offset, u32 length, then for PROGRAM length bytes
 *   (<= CHUNK) -> "THFA", i32 status, u32 length, then for READ length bytes.
 *   Ops: 1 erase, 2 program, 3 read. Bytes before the magic are skipped. */
#include <string.h>

#include "thm_board.h"
#include "thm_flash.h"
#include "thm_hal.h"

#define CHUNK 4096u
#define OP_ERASE 1u
#define OP_PROGRAM 2u
#define OP_READ 3u
#define E_OP (-10)               /* unknown op or a length over the chunk */

static uint8_t buf[CHUNK];

static uint32_t get_u32(void)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)(uint8_t)thm_hal_getc() << (8 * i);
    return v;
}

static void put_bytes(const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) thm_hal_putc(p[i]);
}

static void put_u32(uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(b, 4);
}

static void sync_magic(void)
{
    uint8_t win[4] = {0, 0, 0, 0};
    while (memcmp(win, "THFL", 4)) {
        memmove(win, win + 1, 3);
        win[3] = (uint8_t)thm_hal_getc();
    }
}

static void serve_one(void)
{
    uint32_t op = get_u32(), off = get_u32(), len = get_u32();
    int32_t st;
    uint32_t out_len = 0;
    if (op == OP_ERASE) {
        st = thm_flash_erase(off, len);
    } else if (op == OP_PROGRAM && len <= CHUNK) {
        for (uint32_t i = 0; i < len; i++) buf[i] = (uint8_t)thm_hal_getc();
        st = thm_flash_program(off, buf, len);
    } else if (op == OP_READ && len <= CHUNK) {
        st = off <= thm_flash_size() && len <= thm_flash_size() - off ? THM_FLASH_OK : THM_FLASH_E_RANGE;
        out_len = st == THM_FLASH_OK ? len : 0;
    } else {
        st = E_OP;   /* a PROGRAM over the chunk: its body is then read as noise and skipped */
    }
    put_bytes((const uint8_t *)"THFA", 4);
    put_u32((uint32_t)st);
    put_u32(out_len);
    put_bytes(thm_flash_base() + off, out_len);
}

int main(void)
{
    thm_hal_uart_init();
    thm_hal_puts("thimble flash test " THM_BOARD_NAME ": ready\r\n");
    for (;;) {
        sync_magic();
        serve_one();
    }
}
