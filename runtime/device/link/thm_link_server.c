#include "thm_link_server.h"

#include <string.h>

#include "thm_crc32.h"
#include "thm_le.h"
#include "thm_sha256.h"

#define SHA_OFF 32    /* the image header's own hash field: THM_IMAGE_SHA256_OFFSET */
#define MIN_IMAGE 128 /* an image is at least its header */

static int send(thm_link_server *s, uint8_t cmd, uint16_t seq, const uint8_t *p, uint32_t n) {
    uint32_t k = thm_link_encode(s->tx, (uint8_t)(cmd | THM_LINK_REPLY), seq, p, n);
    return s->port.write(s->port.ctx, s->tx, k);
}

static int error(thm_link_server *s, uint16_t seq, uint8_t cmd, uint8_t status) {
    uint8_t p[THM_LINK_ERROR_SIZE] = {0};
    p[THM_LINK_ERROR_STATUS] = status;
    p[THM_LINK_ERROR_CMD] = cmd;
    return send(s, THM_LINK_CMD_ERROR, seq, p, sizeof p);
}

static int status_reply(thm_link_server *s, uint8_t cmd, uint16_t seq, uint8_t status, uint32_t slot) {
    uint8_t p[THM_LINK_STATUS_R_SIZE] = {0};
    p[THM_LINK_STATUS_R_STATUS] = status;
    p[THM_LINK_STATUS_R_SLOT] = (uint8_t)slot;
    return send(s, cmd, seq, p, sizeof p);
}

static uint32_t slot_off(const thm_link_server *s, uint32_t slot) {
    return s->journal.slot_base + slot * s->journal.slot_size;
}

static int on_hello(thm_link_server *s, uint16_t seq) {
    uint8_t *p = s->reply;
    const uint32_t slots = s->journal.slots;
    memset(p, 0, THM_LINK_HELLO_R_SIZE + slots * THM_LINK_SLOT_INFO_SIZE);
    int active = thm_link_journal_active(&s->journal);
    thm_put16(p + THM_LINK_HELLO_R_VERSION, THM_LINK_VERSION);
    thm_put16(p + THM_LINK_HELLO_R_MAX_PAYLOAD, THM_LINK_MAX_PAYLOAD);
    thm_put16(p + THM_LINK_HELLO_R_WINDOW, THM_LINK_WINDOW);
    p[THM_LINK_HELLO_R_SLOT_COUNT] = (uint8_t)slots;
    p[THM_LINK_HELLO_R_ACTIVE] = active < 0 ? 0xFF : (uint8_t)active;
    thm_put32(p + THM_LINK_HELLO_R_SLOT_SIZE, s->journal.slot_size);
    thm_put32(p + THM_LINK_HELLO_R_SECTOR, s->flash.sector);
    thm_put32(p + THM_LINK_HELLO_R_MAX_REQUEST, THM_LINK_MAX_REQUEST);
    thm_put32(p + THM_LINK_HELLO_R_MAX_OUTPUT, THM_LINK_MAX_OUTPUT);
    memcpy(p + THM_LINK_HELLO_R_BOARD, s->board, THM_LINK_BOARD_NAME);
    for (uint32_t i = 0; i < slots; i++) {
        const thm_link_slot *sl = &s->journal.slot[i];
        uint8_t *e = p + THM_LINK_HELLO_R_SIZE + i * THM_LINK_SLOT_INFO_SIZE;
        e[THM_LINK_SLOT_INFO_STATE] = (int)i == active ? THM_LINK_SLOT_ACTIVE : sl->state;
        if (sl->state == THM_LINK_SLOT_EMPTY) continue;
        thm_put32(e + THM_LINK_SLOT_INFO_SEQNO, sl->seqno);
        thm_put32(e + THM_LINK_SLOT_INFO_IMAGE_SIZE, sl->image_size);
        thm_put32(e + THM_LINK_SLOT_INFO_WRITTEN, sl->written);
        memcpy(e + THM_LINK_SLOT_INFO_SHA256, sl->sha256, 32);
    }
    return send(s, THM_LINK_CMD_HELLO, seq, p, THM_LINK_HELLO_R_SIZE + slots * THM_LINK_SLOT_INFO_SIZE);
}

static int begin_reply(thm_link_server *s, uint16_t seq, uint8_t status, uint32_t slot, uint32_t resume) {
    uint8_t p[THM_LINK_BEGIN_R_SIZE] = {0};
    p[THM_LINK_BEGIN_R_STATUS] = status;
    p[THM_LINK_BEGIN_R_SLOT] = (uint8_t)slot;
    thm_put32(p + THM_LINK_BEGIN_R_RESUME, resume);
    return send(s, THM_LINK_CMD_BEGIN, seq, p, sizeof p);
}

static int on_begin(thm_link_server *s, uint16_t seq, const uint8_t *p) {
    uint32_t size = thm_le32(p + THM_LINK_BEGIN_IMAGE_SIZE);
    const uint8_t *sha = p + THM_LINK_BEGIN_SHA256;
    if (size < MIN_IMAGE || size > s->journal.slot_size) return error(s, seq, THM_LINK_CMD_BEGIN, THM_LINK_ST_E_SIZE);
    int active = thm_link_journal_active(&s->journal);
    if (active >= 0) {
        const thm_link_slot *a = &s->journal.slot[active];
        if (a->image_size == size && !memcmp(a->sha256, sha, 32))
            return begin_reply(s, seq, THM_LINK_ST_SAME, (uint32_t)active, size);
    }
    /* A/B: the slot not in use. One slot: the model in use is replaced (the
     * PROGRESS record below retires it before its first sector is erased). */
    uint32_t t = active < 0 || s->journal.slots == 1 ? 0 : 1 - (uint32_t)active;
    const thm_link_slot *sl = &s->journal.slot[t];
    int same = sl->image_size == size && !memcmp(sl->sha256, sha, 32);
    if (s->xfer && s->x_slot == t && s->x_size == size && !memcmp(s->x_sha, sha, 32)) {
        /* the device stayed up: resume from RAM, sector buffer included */
    } else if (same && (sl->state == THM_LINK_SLOT_PARTIAL || sl->state == THM_LINK_SLOT_VALID)) {
        s->x_programmed = s->x_journaled = s->x_next = sl->written;   /* persisted: survives a reset */
    } else {
        /* forget what the slot held before its first sector is erased */
        if (thm_link_journal_progress(&s->journal, t, size, 0, sha))
            return error(s, seq, THM_LINK_CMD_BEGIN, THM_LINK_ST_E_FLASH);
        s->x_programmed = s->x_journaled = s->x_next = 0;
    }
    s->xfer = 1;
    s->x_slot = t;
    s->x_size = size;
    memcpy(s->x_sha, sha, 32);
    return begin_reply(s, seq, THM_LINK_ST_OK, t, s->x_next);
}

static int ack(thm_link_server *s, uint16_t seq, uint8_t status) {
    uint8_t p[THM_LINK_ACK_SIZE] = {0};
    p[THM_LINK_ACK_STATUS] = status;
    thm_put32(p + THM_LINK_ACK_NEXT, s->x_next);
    return send(s, THM_LINK_CMD_DATA, seq, p, sizeof p);
}

/* Program the buffered sector, check it by reading back, journal every
 * PROGRESS_EVERY sectors and at the end of the image. */
static int flush_sector(thm_link_server *s) {
    const thm_link_flash *f = &s->flash;
    uint32_t off = slot_off(s, s->x_slot) + s->x_programmed, n = s->x_next - s->x_programmed;
    if (f->erase(f->ctx, off, f->sector) || f->program(f->ctx, off, s->sector_buf, n)) return -1;
    uint8_t back[64];
    for (uint32_t i = 0; i < n; i += sizeof back) {
        uint32_t k = n - i < sizeof back ? n - i : (uint32_t)sizeof back;
        if (f->read(f->ctx, off + i, back, k) || memcmp(back, s->sector_buf + i, k)) return -1;
    }
    s->x_programmed = s->x_next;
    if (s->x_programmed - s->x_journaled >= THM_LINK_PROGRESS_EVERY * f->sector || s->x_programmed == s->x_size) {
        if (thm_link_journal_progress(&s->journal, s->x_slot, s->x_size, s->x_programmed, s->x_sha)) return -1;
        s->x_journaled = s->x_programmed;
    }
    return 0;
}

static int on_data(thm_link_server *s, uint16_t seq, const uint8_t *p, uint32_t len) {
    if (!s->xfer) return error(s, seq, THM_LINK_CMD_DATA, THM_LINK_ST_E_STATE);
    uint32_t off = thm_le32(p + THM_LINK_DATA_OFFSET), n = len - THM_LINK_DATA_SIZE;
    if (off % THM_LINK_DATA_CHUNK || off >= s->x_size || n > s->x_size - off ||
        (n != THM_LINK_DATA_CHUNK && off + n != s->x_size))
        return error(s, seq, THM_LINK_CMD_DATA, THM_LINK_ST_E_LENGTH);
    if (off < s->x_next) return ack(s, seq, THM_LINK_ST_OK);        /* a duplicate */
    if (off > s->x_next) return ack(s, seq, THM_LINK_ST_E_GAP);     /* a frame was lost */
    memcpy(s->sector_buf + (off - s->x_programmed), p + THM_LINK_DATA_SIZE, n);
    s->x_next += n;
    if (s->x_next - s->x_programmed == s->flash.sector || s->x_next == s->x_size) {
        if (flush_sector(s)) {
            s->x_next = s->x_programmed;
            return error(s, seq, THM_LINK_CMD_DATA, THM_LINK_ST_E_FLASH);
        }
    }
    return ack(s, seq, THM_LINK_ST_OK);
}

/* SHA-256 of the slot's image with its hash field zeroed, as the image format defines it. */
static int slot_hash_ok(thm_link_server *s, uint32_t slot, uint32_t size, const uint8_t want[32]) {
    const thm_link_flash *f = &s->flash;
    thm_sha256_ctx c;
    thm_sha256_init(&c);
    uint8_t *buf = s->sector_buf, got[32];
    for (uint32_t i = 0; i < size; i += f->sector) {
        uint32_t k = size - i < f->sector ? size - i : f->sector;
        if (f->read(f->ctx, slot_off(s, slot) + i, buf, k)) return 0;
        if (i == 0) {
            if (memcmp(buf + SHA_OFF, want, 32)) return 0;    /* the image must name the hash it was sent under */
            memset(buf + SHA_OFF, 0, 32);
        }
        thm_sha256_update(&c, buf, k);
    }
    thm_sha256_final(&c, got);
    return !memcmp(got, want, 32);
}

static int on_commit(thm_link_server *s, uint16_t seq) {
    if (!s->xfer || s->x_next != s->x_size) return error(s, seq, THM_LINK_CMD_COMMIT, THM_LINK_ST_E_STATE);
    uint32_t t = s->x_slot;
    s->xfer = 0;
    if (!slot_hash_ok(s, t, s->x_size, s->x_sha)) {
        /* never resume onto bytes that do not hash: the next deploy starts over */
        thm_link_journal_progress(&s->journal, t, s->x_size, 0, s->x_sha);
        return status_reply(s, THM_LINK_CMD_COMMIT, seq, THM_LINK_ST_E_HASH, t);
    }
    if (s->check && s->check(s->check_ctx, slot_off(s, t), s->x_size)) {
        /* the bytes are right but unusable: the next deploy starts over, the active slot stays */
        thm_link_journal_progress(&s->journal, t, s->x_size, 0, s->x_sha);
        return status_reply(s, THM_LINK_CMD_COMMIT, seq, THM_LINK_ST_E_IMAGE, t);
    }
    if (thm_link_journal_commit(&s->journal, t, s->x_size, s->x_sha))
        return status_reply(s, THM_LINK_CMD_COMMIT, seq, THM_LINK_ST_E_FLASH, t);
    return status_reply(s, THM_LINK_CMD_COMMIT, seq, THM_LINK_ST_OK, t);
}

static int on_rollback(thm_link_server *s, uint16_t seq) {
    int a = thm_link_journal_active(&s->journal);
    /* one slot: there is no other model to go back to */
    if (a < 0 || s->journal.slots < 2) return status_reply(s, THM_LINK_CMD_ROLLBACK, seq, THM_LINK_ST_E_STATE, 0xFF);
    uint32_t o = 1 - (uint32_t)a;
    const thm_link_slot *sl = &s->journal.slot[o];
    if (sl->state != THM_LINK_SLOT_VALID) return status_reply(s, THM_LINK_CMD_ROLLBACK, seq, THM_LINK_ST_E_STATE, o);
    if (s->xfer && s->x_slot == o) s->xfer = 0;
    if (thm_link_journal_commit(&s->journal, o, sl->image_size, sl->sha256))
        return status_reply(s, THM_LINK_CMD_ROLLBACK, seq, THM_LINK_ST_E_FLASH, o);
    return status_reply(s, THM_LINK_CMD_ROLLBACK, seq, THM_LINK_ST_OK, o);
}

/* Stage request bytes. Offset 0 starts a new request; later parts must
 * name the same total and not leave a hole, so the staged bytes are always
 * one contiguous prefix (r_fill). A resent part is rewritten in place. */
static int on_req(thm_link_server *s, uint16_t seq, const uint8_t *p, uint32_t len) {
    uint32_t off = thm_le32(p + THM_LINK_REQ_OFFSET), total = thm_le32(p + THM_LINK_REQ_TOTAL);
    uint32_t n = len - THM_LINK_REQ_SIZE;
    if (total == 0 || total > THM_LINK_MAX_REQUEST) return error(s, seq, THM_LINK_CMD_REQ, THM_LINK_ST_E_PROMPT);
    if (off > total || n > total - off) return error(s, seq, THM_LINK_CMD_REQ, THM_LINK_ST_E_LENGTH);
    if (off == 0) {
        s->r_total = total;
        s->r_fill = 0;
        s->o_valid = 0;
    } else if (total != s->r_total || off > s->r_fill) {
        return error(s, seq, THM_LINK_CMD_REQ, THM_LINK_ST_E_STATE);
    }
    memcpy(s->req + off, p + THM_LINK_REQ_SIZE, n);
    if (off + n > s->r_fill) s->r_fill = off + n;
    uint8_t r[THM_LINK_REQ_R_SIZE] = {0};
    r[THM_LINK_REQ_R_STATUS] = THM_LINK_ST_OK;
    thm_put32(r + THM_LINK_REQ_R_NEXT, s->r_fill);
    return send(s, THM_LINK_CMD_REQ, seq, r, sizeof r);
}

static int on_run(thm_link_server *s, uint16_t seq, const uint8_t *p) {
    uint32_t rl = thm_le32(p + THM_LINK_RUN_REQ_LEN), rc = thm_le32(p + THM_LINK_RUN_REQ_CRC);
    if (rl == 0 || rl != s->r_total || s->r_fill != s->r_total || thm_crc32(0, s->req, rl) != rc)
        return error(s, seq, THM_LINK_CMD_RUN, THM_LINK_ST_E_STATE);
    if (!s->run) return error(s, seq, THM_LINK_CMD_RUN, THM_LINK_ST_E_RUN);
    int a = thm_link_journal_active(&s->journal);
    thm_link_run_in in = {s->req, rl, a, 0, 0, 0};
    if (a >= 0) {
        in.image_offset = slot_off(s, (uint32_t)a);
        in.image_size = s->journal.slot[a].image_size;
        in.sha256 = s->journal.slot[a].sha256;
    }
    thm_link_run_out out = {s->out, 0, 0, 0, 0, 0};
    s->o_valid = 0;
    if (s->run(s->run_ctx, &in, &out) || out.out_len > THM_LINK_MAX_OUTPUT)
        return error(s, seq, THM_LINK_CMD_RUN, THM_LINK_ST_E_RUN);
    s->o_len = out.out_len;
    s->o_valid = 1;
    uint32_t part = s->o_len < THM_LINK_RUN_PART ? s->o_len : THM_LINK_RUN_PART;
    uint8_t *r = s->reply;
    memset(r, 0, THM_LINK_RUN_R_SIZE);
    r[THM_LINK_RUN_R_STATUS] = THM_LINK_ST_OK;
    thm_put16(r + THM_LINK_RUN_R_PART_LEN, part);
    thm_put32(r + THM_LINK_RUN_R_OUT_LEN, s->o_len);
    thm_put32(r + THM_LINK_RUN_R_PROMPT_TOKENS, out.prompt_tokens);
    thm_put32(r + THM_LINK_RUN_R_GEN_TOKENS, out.gen_tokens);
    thm_put64(r + THM_LINK_RUN_R_PREFILL_INSNS, out.prefill_insns);
    thm_put64(r + THM_LINK_RUN_R_INSNS_PER_TOKEN, out.insns_per_token);
    memcpy(r + THM_LINK_RUN_R_SIZE, s->out, part);
    return send(s, THM_LINK_CMD_RUN, seq, r, THM_LINK_RUN_R_SIZE + part);
}

static int on_out(thm_link_server *s, uint16_t seq, const uint8_t *p) {
    uint32_t off = thm_le32(p + THM_LINK_OUT_OFFSET);
    if (!s->o_valid) return error(s, seq, THM_LINK_CMD_OUT, THM_LINK_ST_E_STATE);
    if (off > s->o_len) return error(s, seq, THM_LINK_CMD_OUT, THM_LINK_ST_E_LENGTH);
    uint32_t n = s->o_len - off < THM_LINK_OUT_PART ? s->o_len - off : THM_LINK_OUT_PART;
    uint8_t *r = s->reply;
    thm_put32(r + THM_LINK_OUT_R_OFFSET, off);
    thm_put32(r + THM_LINK_OUT_R_OUT_LEN, s->o_len);
    memcpy(r + THM_LINK_OUT_R_SIZE, s->out + off, n);
    return send(s, THM_LINK_CMD_OUT, seq, r, THM_LINK_OUT_R_SIZE + n);
}

/* FLASH: the journal's idle log sector is the one scratch sector the link
 * owns that no model and no live journal record is in: erased, programmed
 * with two patterns (each byte its offset's low bits, then inverted), read
 * back, and left erased. A cut during the test leaves bytes there that are
 * never a valid GEN record (no JOURNAL_MAGIC at its start), so the log in
 * charge stays in charge. */
static uint32_t flash_test(thm_link_server *s, uint32_t *bytes) {
    const thm_link_flash *f = &s->flash;
    uint32_t off = (1 - s->journal.log) * f->sector, n = f->sector;
    uint8_t *buf = s->sector_buf, back[64];
    *bytes = n;
    for (uint32_t pass = 0; pass < 3; pass++) {
        if (f->erase(f->ctx, off, n)) return 0;
        for (uint32_t i = 0; i < n; i += sizeof back) {
            if (f->read(f->ctx, off + i, back, sizeof back)) return i;
            for (uint32_t k = 0; k < sizeof back; k++)
                if (back[k] != 0xFF) return i + k;
        }
        if (pass == 2) break;                       /* left erased */
        for (uint32_t i = 0; i < n; i++) buf[i] = (uint8_t)(pass ? ~(i ^ (i >> 8)) : (i ^ (i >> 8)));
        if (pass == 0) buf[0] = buf[1] = 0x00;      /* never the journal's magic */
        if (f->program(f->ctx, off, buf, n)) return 0;
        for (uint32_t i = 0; i < n; i += sizeof back) {
            if (f->read(f->ctx, off + i, back, sizeof back)) return i;
            for (uint32_t k = 0; k < sizeof back; k++)
                if (back[k] != buf[i + k]) return i + k;
        }
    }
    return THM_LINK_TEST_NO_FAULT;
}

static int on_test(thm_link_server *s, uint16_t seq, const uint8_t *p) {
    thm_link_test_in in = {p[THM_LINK_TEST_OP], thm_le32(p + THM_LINK_TEST_ARG0), thm_le32(p + THM_LINK_TEST_ARG1),
                           0, 0};
    thm_link_test_out out = {s->out, 0, THM_LINK_ST_OK, 0, 0, 0};
    s->o_valid = 0;
    switch (in.op) {
    case THM_LINK_TEST_FLASH:
        if (s->xfer) return error(s, seq, THM_LINK_CMD_TEST, THM_LINK_ST_E_STATE);   /* the sector buffer is in use */
        out.v1 = flash_test(s, &out.v0);
        if (out.v1 != THM_LINK_TEST_NO_FAULT) out.status = THM_LINK_ST_E_FLASH;
        break;
    case THM_LINK_TEST_SLOTS:
        if (s->xfer) return error(s, seq, THM_LINK_CMD_TEST, THM_LINK_ST_E_STATE);
        for (uint32_t i = 0; i < s->journal.slots; i++) {
            const thm_link_slot *sl = &s->journal.slot[i];
            if (sl->state != THM_LINK_SLOT_VALID) continue;
            out.v0++;
            if (!slot_hash_ok(s, i, sl->image_size, sl->sha256)) out.v1 |= 1u << i;
        }
        if (out.v1) out.status = THM_LINK_ST_E_HASH;
        break;
    case THM_LINK_TEST_FILL:
        if (in.arg0 > THM_LINK_MAX_OUTPUT) return error(s, seq, THM_LINK_CMD_TEST, THM_LINK_ST_E_LENGTH);
        for (uint32_t i = 0; i < in.arg0; i++) s->out[i] = (uint8_t)(i * 7 + 1);
        out.out_len = in.arg0;
        break;
    default:
        if (in.op == THM_LINK_TEST_KERNEL) {
            /* the job is the staged request, named by length and CRC as RUN names it */
            if (in.arg0 == 0 || in.arg0 != s->r_total || s->r_fill != s->r_total ||
                thm_crc32(0, s->req, in.arg0) != in.arg1)
                return error(s, seq, THM_LINK_CMD_TEST, THM_LINK_ST_E_STATE);
            in.staged = s->req;
            in.staged_len = in.arg0;
        }
        if (!s->test || s->test(s->test_ctx, &in, &out) < 0) return error(s, seq, THM_LINK_CMD_TEST, THM_LINK_ST_E_CMD);
        if (out.out_len > THM_LINK_MAX_OUTPUT) return error(s, seq, THM_LINK_CMD_TEST, THM_LINK_ST_E_RUN);
        break;
    }
    s->o_len = out.out_len;
    s->o_valid = 1;
    uint8_t *r = s->reply;
    memset(r, 0, THM_LINK_TEST_R_SIZE);
    r[THM_LINK_TEST_R_STATUS] = out.status;
    r[THM_LINK_TEST_R_OP] = (uint8_t)in.op;
    thm_put32(r + THM_LINK_TEST_R_OUT_LEN, out.out_len);
    thm_put32(r + THM_LINK_TEST_R_V0, out.v0);
    thm_put32(r + THM_LINK_TEST_R_V1, out.v1);
    thm_put64(r + THM_LINK_TEST_R_V2, out.v2);
    return send(s, THM_LINK_CMD_TEST, seq, r, THM_LINK_TEST_R_SIZE);
}

static int dispatch(thm_link_server *s) {
    const thm_link_decoder *d = &s->dec;
    uint32_t n = d->length;
    const uint8_t *p = d->payload;
    switch (d->cmd) {
    case THM_LINK_CMD_HELLO:
        return n ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_hello(s, d->seq);
    case THM_LINK_CMD_BEGIN:
        return n != THM_LINK_BEGIN_SIZE ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_begin(s, d->seq, p);
    case THM_LINK_CMD_DATA:
        return n <= THM_LINK_DATA_SIZE || n > THM_LINK_DATA_SIZE + THM_LINK_DATA_CHUNK
                   ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_data(s, d->seq, p, n);
    case THM_LINK_CMD_COMMIT:
        return n ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_commit(s, d->seq);
    case THM_LINK_CMD_ROLLBACK:
        return n ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_rollback(s, d->seq);
    case THM_LINK_CMD_REQ:
        return n < THM_LINK_REQ_SIZE || n > THM_LINK_REQ_SIZE + THM_LINK_REQ_CHUNK
                   ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_req(s, d->seq, p, n);
    case THM_LINK_CMD_RUN:
        return n != THM_LINK_RUN_SIZE ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_run(s, d->seq, p);
    case THM_LINK_CMD_OUT:
        return n != THM_LINK_OUT_SIZE ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_out(s, d->seq, p);
    case THM_LINK_CMD_TEST:
        return n != THM_LINK_TEST_SIZE ? error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH) : on_test(s, d->seq, p);
    case THM_LINK_CMD_ABORT:
        if (n) return error(s, d->seq, d->cmd, THM_LINK_ST_E_LENGTH);
        s->xfer = 0;
        return status_reply(s, THM_LINK_CMD_ABORT, d->seq, THM_LINK_ST_OK, 0);
    default:
        return error(s, d->seq, d->cmd, THM_LINK_ST_E_CMD);
    }
}

int thm_link_server_init(thm_link_server *s, const thm_link_port *port, const thm_link_flash *flash,
                         uint8_t *sector_buf, const char *board, thm_link_run_fn run, void *run_ctx) {
    memset(s, 0, sizeof *s);
    s->port = *port;
    s->flash = *flash;
    s->sector_buf = sector_buf;
    s->run = run;
    s->run_ctx = run_ctx;
    for (uint32_t i = 0; board && board[i] && i < THM_LINK_BOARD_NAME; i++) s->board[i] = board[i];
    thm_link_decoder_init(&s->dec);
    return thm_link_journal_load(&s->journal, &s->flash);
}

void thm_link_server_set_check(thm_link_server *s, thm_link_check_fn check, void *ctx) {
    s->check = check;
    s->check_ctx = ctx;
}

void thm_link_server_set_test(thm_link_server *s, thm_link_test_fn test, void *ctx) {
    s->test = test;
    s->test_ctx = ctx;
}

void thm_link_server_abort(thm_link_server *s) { s->xfer = 0; }

int thm_link_server_poll(thm_link_server *s, uint32_t timeout_ms) {
    int n = s->port.read(s->port.ctx, s->rx, sizeof s->rx, timeout_ms);
    if (n < 0) return -1;
    if (n == 0) {
        if (s->dec.fill) thm_link_decoder_idle(&s->dec);   /* a stalled partial frame: rescan past it */
        n = 0;
    }
    uint32_t off = 0;
    for (;;) {
        uint32_t taken = 0;
        int r = thm_link_decode(&s->dec, s->rx + off, (uint32_t)n - off, &taken);
        off += taken;
        if (r == THM_FRAME_OK) {
            s->resyncing = 0;
            if (dispatch(s) < 0) return -1;
        } else if (r < 0) {
            /* E_CRC names the frame its header gave, E_LENGTH none (seq 0): the decoder set both */
            if (!s->resyncing &&
                error(s, s->dec.seq, s->dec.cmd, r == THM_FRAME_E_LENGTH ? THM_LINK_ST_E_LENGTH : THM_LINK_ST_E_CRC) < 0)
                return -1;
            s->resyncing = 1;
        } else if (off >= (uint32_t)n) {
            return 0;
        }
    }
}
