/* Fuzz harness (c): the link server and its flash journal under hostile
 * frames and power cuts. The input is a script of chunks:
 *   a byte 0xC0 | k   cut the power at the k-th flash program from now
 *                     (k = 0: now): the program stops half way, the server
 *                     starts again from what the flash holds
 *   a byte 0x80..0xBF then cmd (1 byte), seq (2), length (2, LE) and the
 *                     payload: one frame with a good CRC (thm_link_encode),
 *                     so mutations reach the commands, not only the CRC check
 *   a byte n < 0x80   the next n bytes arrive on the serial port as they are
 * The flash is RAM with NOR rules (programming ANDs, erase sets 0xFF), 4 KiB
 * sectors, two 16 KiB slots. After the script (and a last power cycle):
 *   1. no slot the journal calls VALID holds bytes that fail its hash;
 *   2. a clean deploy of a small image (HELLO, BEGIN, DATA, COMMIT, frames
 *      made here with the server's own codec) completes and makes it active,
 *      with its bytes in the slot. Either failing aborts (a finding). */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "thm_le.h"
#include "thm_link_frame.h"
#include "thm_link_server.h"
#include "thm_sha256.h"

#define SECTOR 4096u
#define FLASH_BYTES (2 * SECTOR + 2 * 16384u)
#define SHA_OFF 32
#define IMAGE_BYTES 3000u

static uint8_t flash[FLASH_BYTES], sector_buf[SECTOR];
static int cut_after = -1;          /* programs left before the power fails; -1: never */
static jmp_buf power_fail;
static const uint8_t *in;           /* what the port delivers next */
static size_t in_left;

static int fl_erase(void *ctx, uint32_t off, uint32_t n)
{
    (void)ctx;
    if (off > FLASH_BYTES || n > FLASH_BYTES - off || off % SECTOR || n % SECTOR) return -1;
    memset(flash + off, 0xFF, n);
    return 0;
}

static int fl_program(void *ctx, uint32_t off, const uint8_t *d, uint32_t n)
{
    (void)ctx;
    if (off > FLASH_BYTES || n > FLASH_BYTES - off) return -1;
    uint32_t keep = n;
    if (cut_after == 0) keep = n / 2;          /* the cut lands half way through this program */
    for (uint32_t i = 0; i < keep; i++) flash[off + i] &= d[i];
    if (cut_after == 0) { cut_after = -1; longjmp(power_fail, 1); }
    if (cut_after > 0) cut_after--;
    return 0;
}

static int fl_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t n)
{
    (void)ctx;
    if (off > FLASH_BYTES || n > FLASH_BYTES - off) return -1;
    memcpy(buf, flash + off, n);
    return 0;
}

static int port_read(void *ctx, uint8_t *buf, uint32_t cap, uint32_t timeout_ms)
{
    (void)ctx; (void)timeout_ms;
    uint32_t n = in_left < cap ? (uint32_t)in_left : cap;
    memcpy(buf, in, n);
    in += n;
    in_left -= n;
    return (int)n;
}

static int port_write(void *ctx, const uint8_t *buf, uint32_t n) { (void)ctx; (void)buf; (void)n; return 0; }

static const thm_link_port port = {0, port_read, port_write};
static const thm_link_flash fl = {0, FLASH_BYTES, SECTOR, fl_erase, fl_program, fl_read};
static thm_link_server server;

/* Feed bytes until the server has taken them all; 0, or 1 if the power failed. */
static int feed(const uint8_t *d, size_t n)
{
    in = d;
    in_left = n;
    if (setjmp(power_fail)) return 1;
    while (in_left)
        if (thm_link_server_poll(&server, 0) < 0) break;
    return 0;
}

static void power_on(void)
{
    /* a journal the server cannot load is a finding too: it must format or recover */
    if (thm_link_server_init(&server, &port, &fl, sector_buf, "fuzz", 0, 0) != 0) abort();
}

static void slot_hash(uint32_t slot, uint32_t size, uint8_t out[32])
{
    thm_sha256_ctx c;
    static const uint8_t zeros[32];
    const uint8_t *p = flash + server.journal.slot_base + slot * server.journal.slot_size;
    thm_sha256_init(&c);
    thm_sha256_update(&c, p, SHA_OFF);
    thm_sha256_update(&c, zeros, 32);
    thm_sha256_update(&c, p + SHA_OFF + 32, size - SHA_OFF - 32);
    thm_sha256_final(&c, out);
}

static void check_valid_slots(void)
{
    for (uint32_t s = 0; s < THM_LINK_MAX_SLOTS; s++) {
        const thm_link_slot *sl = &server.journal.slot[s];
        if (sl->state != THM_LINK_SLOT_VALID) continue;
        uint8_t got[32];
        if (sl->image_size < SHA_OFF + 32 || sl->image_size > server.journal.slot_size) abort();
        slot_hash(s, sl->image_size, got);
        if (memcmp(got, sl->sha256, 32)) abort();          /* a valid slot whose bytes fail its hash */
    }
}

static void clean_deploy(void)
{
    static uint8_t image[IMAGE_BYTES], frames[8 * THM_LINK_FRAME_MAX], payload[THM_LINK_MAX_PAYLOAD];
    uint32_t x = 12345, n = 0;
    for (uint32_t i = 0; i < IMAGE_BYTES; i++) image[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    memset(image + SHA_OFF, 0, 32);
    thm_sha256_ctx c;
    thm_sha256_init(&c);
    thm_sha256_update(&c, image, IMAGE_BYTES);
    thm_sha256_final(&c, image + SHA_OFF);
    uint16_t seq = 0x4000;             /* far from the fuzzed sequence numbers */
    n += thm_link_encode(frames + n, THM_LINK_CMD_HELLO, seq++, 0, 0);
    thm_put32(payload + THM_LINK_BEGIN_IMAGE_SIZE, IMAGE_BYTES);
    memcpy(payload + THM_LINK_BEGIN_SHA256, image + SHA_OFF, 32);
    n += thm_link_encode(frames + n, THM_LINK_CMD_BEGIN, seq++, payload, THM_LINK_BEGIN_SIZE);
    for (uint32_t off = 0; off < IMAGE_BYTES; off += THM_LINK_DATA_CHUNK) {
        uint32_t k = IMAGE_BYTES - off < THM_LINK_DATA_CHUNK ? IMAGE_BYTES - off : THM_LINK_DATA_CHUNK;
        memset(payload, 0, THM_LINK_DATA_SIZE);
        thm_put32(payload + THM_LINK_DATA_OFFSET, off);
        memcpy(payload + THM_LINK_DATA_SIZE, image + off, k);
        n += thm_link_encode(frames + n, THM_LINK_CMD_DATA, seq++, payload, THM_LINK_DATA_SIZE + k);
    }
    n += thm_link_encode(frames + n, THM_LINK_CMD_COMMIT, seq++, 0, 0);
    thm_link_server_abort(&server);    /* a new session: the host starts with HELLO and BEGIN */
    if (feed(frames, n)) abort();      /* no power cut is armed */
    int a = thm_link_journal_active(&server.journal);
    if (a < 0 || memcmp(server.journal.slot[a].sha256, image + SHA_OFF, 32) ||
        server.journal.slot[a].image_size != IMAGE_BYTES)
        abort();                       /* a clean deploy after the faults did not complete */
    uint8_t got[32];
    slot_hash((uint32_t)a, IMAGE_BYTES, got);
    if (memcmp(got, image + SHA_OFF, 32)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(flash, 0xFF, sizeof flash);
    cut_after = -1;
    power_on();
    size_t i = 0;
    while (i < size) {
        uint8_t b = data[i++];
        if (b >= 0xC0) {
            cut_after = b & 0x3F;
            continue;
        }
        if (b >= 0x80) {
            static uint8_t frame[THM_LINK_FRAME_MAX];
            if (size - i < 5) break;
            uint32_t len = thm_le16(data + i + 3);
            if (len > THM_LINK_MAX_PAYLOAD) len = THM_LINK_MAX_PAYLOAD;
            if (len > size - i - 5) len = (uint32_t)(size - i - 5);
            uint32_t n = thm_link_encode(frame, data[i], thm_le16(data + i + 1), data + i + 5, len);
            i += 5 + len;
            if (n && feed(frame, n)) { check_valid_slots(); power_on(); }
            continue;
        }
        size_t n = b < size - i ? b : size - i;
        if (feed(data + i, n)) { check_valid_slots(); power_on(); }
        i += n;
    }
    cut_after = -1;
    power_on();                        /* a last power cycle: what survives is what the flash holds */
    check_valid_slots();
    clean_deploy();
    check_valid_slots();
    return 0;
}
