/* Fuzz harness (c): the link server and its flash journal under hostile
 * frames and power cuts. The input is a script of chunks:
 *   a byte 0xC0 | k   cut the power at the k-th flash erase or program
 *                     from now (k = 0: the next one): it stops half way (half
 *                     the bytes programmed, or the first half of the range
 *                     erased and the rest as it was), the server starts
 *                     again from what the flash holds
 *   a byte 0x80..0xBF then cmd (1 byte), seq (2), length (2, LE) and the
 *                     payload: one frame with a good CRC (thm_link_encode),
 *                     so mutations reach the commands, not only the CRC check;
 *                     with bit 0 set (FIX_RUN), a RUN frame's length and CRC
 *                     name the request the server has staged
 *   a byte n < 0x80   the next n bytes arrive on the serial port as they are
 * The flash is RAM with NOR rules (programming ANDs, erase sets 0xFF), 4 KiB
 * sectors, two 16 KiB slots. After the script (and a last power cycle):
 *   1. no slot the journal calls VALID holds bytes that fail its hash (checked
 *      after every cut too);
 *   2. a cut never takes away the newest commit made before it (the model
 *      that was serving keeps serving);
 *   3. a clean deploy of a small image (HELLO, BEGIN, DATA, COMMIT, frames
 *      made here with the server's own codec) completes and makes it active,
 *      with its bytes in the slot.
 * Throughout: every reply is one well-formed frame; COMMIT's check and RUN's
 * handler (fakes of the app's) are only ever handed bytes that hash right,
 * RUN the active slot's; the server's counters stay within its buffers.
 * Any failing aborts (a finding). */
#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "thm_crc32.h"
#include "thm_le.h"
#include "thm_link_frame.h"
#include "thm_link_server.h"
#include "thm_sha256.h"

#define SECTOR 4096u
#define FLASH_BYTES (2 * SECTOR + 2 * 16384u)
#define SHA_OFF 32
#define IMAGE_BYTES 3000u
#define FIX_RUN 1u
#define REFUSED 0xEEu             /* byte 64 of an image COMMIT's check refuses */

/* An invariant broke: say which (abort() alone prints nothing), then abort,
 * which the driver turns into a saved crash- reproducer. */
static void fail(const char *why)
{
    fprintf(stderr, "link harness: %s\n", why);
    abort();
}

static uint8_t flash[FLASH_BYTES], sector_buf[SECTOR];
static int cut_after = -1;          /* erases and programs left before the power fails; -1: never */
static jmp_buf power_fail;
static const uint8_t *in;           /* what the port delivers next */
static size_t in_left;

static int fl_erase(void *ctx, uint32_t off, uint32_t n)
{
    (void)ctx;
    if (off > FLASH_BYTES || n > FLASH_BYTES - off || off % SECTOR || n % SECTOR) return -1;
    /* an erase is as long as a power cut can land in it (the journal's
     * compaction and every slot sector start with one): half done, the
     * sector holds erased bytes and old ones, which load must survive */
    if (cut_after == 0) { memset(flash + off, 0xFF, n / 2); cut_after = -1; longjmp(power_fail, 1); }
    memset(flash + off, 0xFF, n);
    if (cut_after > 0) cut_after--;
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

/* Every reply is one whole frame that the host's decoder takes as it is. */
static int port_write(void *ctx, const uint8_t *buf, uint32_t n)
{
    static thm_link_decoder d;
    uint32_t taken = 0;
    (void)ctx;
    thm_link_decoder_init(&d);
    if (n > THM_LINK_FRAME_MAX || thm_link_decode(&d, buf, n, &taken) != THM_FRAME_OK || taken != n || d.used != n ||
        !(d.cmd & THM_LINK_REPLY))
        fail("the server sent a malformed reply");
    return 0;
}

static const thm_link_port port = {0, port_read, port_write};
static const thm_link_flash fl = {0, FLASH_BYTES, SECTOR, 2, fl_erase, fl_program, fl_read};
static thm_link_server server;

static void check_server_state(void);

/* Feed bytes until the server has taken them all; 0, or 1 if the power failed. */
static int feed(const uint8_t *d, size_t n)
{
    in = d;
    in_left = n;
    if (setjmp(power_fail)) return 1;
    while (in_left) {
        if (thm_link_server_poll(&server, 0) < 0) break;
        check_server_state();
    }
    return 0;
}

static int fake_check(void *ctx, uint32_t off, uint32_t size);
static int fake_run(void *ctx, const thm_link_run_in *in, thm_link_run_out *out);

static void power_on(void)
{
    /* a journal the server cannot load is a finding too: it must format or recover */
    if (thm_link_server_init(&server, &port, &fl, sector_buf, "fuzz", fake_run, 0) != 0) fail("the server cannot start from the flash");
    thm_link_server_set_check(&server, fake_check, 0);
}

/* The image hash (its own SHA-256 field read as zeros) of size bytes at flash offset off. */
static void flash_hash(uint32_t off, uint32_t size, uint8_t out[32])
{
    thm_sha256_ctx c;
    static const uint8_t zeros[32];
    const uint8_t *p = flash + off;
    if (size < SHA_OFF + 32 || off > FLASH_BYTES || size > FLASH_BYTES - off) fail("an image outside the flash");
    thm_sha256_init(&c);
    thm_sha256_update(&c, p, SHA_OFF);
    thm_sha256_update(&c, zeros, 32);
    thm_sha256_update(&c, p + SHA_OFF + 32, size - SHA_OFF - 32);
    thm_sha256_final(&c, out);
}

static void slot_hash(uint32_t slot, uint32_t size, uint8_t out[32])
{
    flash_hash(server.journal.slot_base + slot * server.journal.slot_size, size, out);
}

/* COMMIT's application check (as the board's thm_app_check): it is handed
 * bytes that already hash right, and refuses an image whose byte 64 is
 * REFUSED (the refused_commit seed), so the E_IMAGE path and a cut after it
 * are fuzzed too. */
static int fake_check(void *ctx, uint32_t off, uint32_t size)
{
    (void)ctx;
    uint8_t got[32];
    flash_hash(off, size, got);
    if (memcmp(got, server.x_sha, 32)) fail("COMMIT's check was handed bytes that fail the hash");
    return size > 64 && flash[off + 64] == REFUSED;
}

/* RUN's handler (as the board's model runtime): it must be handed the active
 * slot, bytes that hash right, and a request within bounds. It answers with
 * as many bytes as the request's first two say (le16; beyond MAX_OUTPUT the
 * server must refuse the answer), or fails when its third byte is 0xFF. */
static int fake_run(void *ctx, const thm_link_run_in *in, thm_link_run_out *out)
{
    (void)ctx;
    if (in->slot != thm_link_journal_active(&server.journal)) fail("RUN was handed a slot that is not active");
    if (!in->request_len || in->request_len > THM_LINK_MAX_REQUEST) fail("RUN was handed a request out of bounds");
    if (in->slot >= 0) {
        uint8_t got[32];
        flash_hash(in->image_offset, in->image_size, got);
        if (memcmp(got, in->sha256, 32)) fail("RUN was handed an image that fails its hash");
    }
    uint32_t want = in->request_len >= 2 ? (uint32_t)(in->request[0] | in->request[1] << 8) % (THM_LINK_MAX_OUTPUT + 64u) : 0;
    for (uint32_t i = 0; i < want && i < THM_LINK_MAX_OUTPUT; i++) out->out[i] = (uint8_t)(i * 7u + in->request_len);
    out->out_len = want;
    out->gen_tokens = want / 4;
    return in->request_len >= 3 && in->request[2] == 0xFF;
}

/* The server's counters stay within its buffers. Its request, output, frame
 * and sector buffers sit side by side in one struct (and the sector buffer
 * is the board's), where ASan sees no red zone between them: an overflow
 * from one into the next is caught here, by the count that would cause it. */
static void check_server_state(void)
{
    const thm_link_server *s = &server;
    if (s->r_fill > s->r_total || s->r_total > THM_LINK_MAX_REQUEST) fail("the staged request outgrew its buffer");
    if (s->o_len > THM_LINK_MAX_OUTPUT) fail("RUN's output outgrew its buffer");
    if (s->dec.used > s->dec.fill || s->dec.fill > sizeof s->dec.buf) fail("the frame decoder outgrew its buffer");
    if (s->xfer && (s->x_slot >= server.journal.slots || s->x_size > s->journal.slot_size ||
                    s->x_journaled > s->x_programmed || s->x_programmed > s->x_next || s->x_next > s->x_size ||
                    s->x_next - s->x_programmed > SECTOR))
        fail("the transfer's counters left the slot or the sector buffer");
}

static void check_valid_slots(void)
{
    for (uint32_t s = 0; s < server.journal.slots; s++) {
        const thm_link_slot *sl = &server.journal.slot[s];
        if (sl->state != THM_LINK_SLOT_VALID) continue;
        uint8_t got[32];
        if (sl->image_size < SHA_OFF + 32 || sl->image_size > server.journal.slot_size) fail("a VALID slot with an impossible size");
        slot_hash(s, sl->image_size, got);
        if (memcmp(got, sl->sha256, 32)) fail("a VALID slot whose bytes fail its hash");
        /* only COMMIT (after the check) and ROLLBACK (of a slot once committed) make a slot VALID */
        const uint8_t *img = flash + server.journal.slot_base + s * server.journal.slot_size;
        if (sl->image_size > 64 && img[64] == REFUSED) fail("an image COMMIT's check refused is VALID");
    }
}

/* The newest commit the journal holds (0: none). The journal applies a
 * record only once it reads back from the flash, so this is what a cut
 * must not take away. */
static uint32_t newest_commit(void)
{
    int a = thm_link_journal_active(&server.journal);
    return a < 0 ? 0 : server.journal.slot[a].seqno;
}

/* The power failed during a chunk that began with `before` the newest
 * commit: start again from the flash. A/B: a cut may lose the deploy in
 * flight, never the model that was serving (commits and ROLLBACK only ever
 * add a newer sequence number, so the newest can only grow). */
static void restart_after_cut(uint32_t before)
{
    check_valid_slots();
    power_on();
    check_valid_slots();
    if (newest_commit() < before) fail("a power cut lost the newest commit");
}

static void clean_deploy(void)
{
    static uint8_t image[IMAGE_BYTES], frames[8 * THM_LINK_FRAME_MAX], payload[THM_LINK_MAX_PAYLOAD];
    uint32_t x = 12345, n = 0;
    for (uint32_t i = 0; i < IMAGE_BYTES; i++) image[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    image[64] = 0;                     /* never REFUSED: COMMIT's check takes it */
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
    if (feed(frames, n)) fail("the power failed with no cut armed");
    int a = thm_link_journal_active(&server.journal);
    if (a < 0 || memcmp(server.journal.slot[a].sha256, image + SHA_OFF, 32) ||
        server.journal.slot[a].image_size != IMAGE_BYTES)
        fail("a clean deploy after the faults did not complete");
    uint8_t got[32];
    slot_hash((uint32_t)a, IMAGE_BYTES, got);
    if (memcmp(got, image + SHA_OFF, 32)) fail("the clean deploy's slot fails its hash");
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
            const uint8_t *payload = data + i + 5;
            static uint8_t fixed[THM_LINK_RUN_SIZE];
            if ((b & FIX_RUN) && data[i] == THM_LINK_CMD_RUN && len == THM_LINK_RUN_SIZE) {
                /* name the staged request as it is, so mutated requests get past RUN's CRC to the handler */
                thm_put32(fixed + THM_LINK_RUN_REQ_LEN, server.r_total);
                thm_put32(fixed + THM_LINK_RUN_REQ_CRC,
                          thm_crc32(0, server.req, server.r_total <= THM_LINK_MAX_REQUEST ? server.r_total : 0));
                payload = fixed;
            }
            uint32_t n = thm_link_encode(frame, data[i], thm_le16(data + i + 1), payload, len);
            i += 5 + len;
            uint32_t before = newest_commit();
            if (n && feed(frame, n)) restart_after_cut(before);
            continue;
        }
        size_t n = b < size - i ? b : size - i;
        uint32_t before = newest_commit();
        if (feed(data + i, n)) restart_after_cut(before);
        i += n;
    }
    cut_after = -1;
    uint32_t before = newest_commit();
    power_on();                        /* a last power cycle: what survives is what the flash holds */
    check_valid_slots();
    if (newest_commit() < before) fail("the last power cycle lost the newest commit");
    clean_deploy();
    check_valid_slots();
    return 0;
}
