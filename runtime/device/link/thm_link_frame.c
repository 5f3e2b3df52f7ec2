#include "thm_link_frame.h"

#include <string.h>

#include "thm_crc32.h"
#include "thm_le.h"

void thm_link_decoder_init(thm_link_decoder *d) { memset(d, 0, sizeof *d); }

static void drop(thm_link_decoder *d, uint32_t n) {
    if (n > d->fill) n = d->fill;
    memmove(d->buf, d->buf + n, d->fill - n);
    d->fill -= n;
}

/* Drop bytes up to the next MAGIC0 after position `from`. */
static void rescan(thm_link_decoder *d, uint32_t from) {
    uint32_t i = from;
    while (i < d->fill && d->buf[i] != THM_LINK_MAGIC0) i++;
    drop(d, i);
}

void thm_link_decoder_idle(thm_link_decoder *d) {
    drop(d, d->used);
    d->used = 0;
    if (d->fill) rescan(d, 1);
}

int thm_link_decode(thm_link_decoder *d, const uint8_t *data, uint32_t n, uint32_t *taken) {
    drop(d, d->used);
    d->used = 0;
    uint32_t room = (uint32_t)sizeof d->buf - d->fill;
    uint32_t k = n < room ? n : room;
    memcpy(d->buf + d->fill, data, k);
    d->fill += k;
    *taken = k;
    for (;;) {
        rescan(d, 0);
        if (d->fill < 2) return THM_FRAME_NONE;
        if (d->buf[1] != THM_LINK_MAGIC1) { rescan(d, 1); continue; }
        if (d->fill < 2 + THM_LINK_HDR_SIZE) return THM_FRAME_NONE;
        const uint8_t *h = d->buf + 2;
        uint32_t len = thm_le16(h + THM_LINK_HDR_LENGTH);
        if (len > THM_LINK_MAX_PAYLOAD) {
            d->cmd = 0;       /* an impossible length: the header is the damaged part and names no frame */
            d->seq = 0;
            rescan(d, 1);
            return THM_FRAME_E_LENGTH;
        }
        uint32_t total = 2 + THM_LINK_HDR_SIZE + len + THM_LINK_CRC_SIZE;
        if (d->fill < total) return THM_FRAME_NONE;
        uint32_t crc = thm_crc32(0, h, THM_LINK_HDR_SIZE + len);
        if (crc != thm_le32(h + THM_LINK_HDR_SIZE + len)) {
            /* the header read as one: name its frame, so the host tells its own request from an old one
             * (read before rescan moves the buffer) */
            d->cmd = h[THM_LINK_HDR_CMD];
            d->seq = thm_le16(h + THM_LINK_HDR_SEQ);
            rescan(d, 1);
            return THM_FRAME_E_CRC;
        }
        d->cmd = h[THM_LINK_HDR_CMD];
        d->flags = h[THM_LINK_HDR_FLAGS];
        d->seq = thm_le16(h + THM_LINK_HDR_SEQ);
        d->length = (uint16_t)len;
        d->payload = h + THM_LINK_HDR_SIZE;
        d->used = total;
        return THM_FRAME_OK;
    }
}

uint32_t thm_link_encode(uint8_t *out, uint8_t cmd, uint16_t seq, const uint8_t *payload, uint32_t length) {
    if (length > THM_LINK_MAX_PAYLOAD) return 0;
    out[0] = THM_LINK_MAGIC0;
    out[1] = THM_LINK_MAGIC1;
    uint8_t *h = out + 2;
    h[THM_LINK_HDR_CMD] = cmd;
    h[THM_LINK_HDR_FLAGS] = 0;
    thm_put16(h + THM_LINK_HDR_SEQ, seq);
    thm_put16(h + THM_LINK_HDR_LENGTH, length);
    if (length) memcpy(h + THM_LINK_HDR_SIZE, payload, length);
    thm_put32(h + THM_LINK_HDR_SIZE + length, thm_crc32(0, h, THM_LINK_HDR_SIZE + length));
    return 2 + THM_LINK_HDR_SIZE + length + THM_LINK_CRC_SIZE;
}
