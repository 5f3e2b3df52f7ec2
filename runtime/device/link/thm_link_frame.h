/* Frame codec: MAGIC | cmd flags seq length | payload | CRC-32(header+payload).
 * No escaping: the decoder resynchronises by scanning for MAGIC and accepts a
 * frame only when its length is in bounds and its CRC matches. */
#ifndef THM_LINK_FRAME_H
#define THM_LINK_FRAME_H

#include <stdint.h>
#include "thm_link_format.h"

#define THM_LINK_FRAME_MAX (2 + THM_LINK_HDR_SIZE + THM_LINK_MAX_PAYLOAD + THM_LINK_CRC_SIZE)

enum {
    THM_FRAME_NONE = 0,       /* need more bytes */
    THM_FRAME_OK = 1,         /* a frame is in dec->frame */
    THM_FRAME_E_LENGTH = -1,  /* a header announced more than MAX_PAYLOAD: resyncing; cmd, seq 0 */
    THM_FRAME_E_CRC = -2,     /* a complete candidate failed its CRC: resyncing; cmd, seq as its header gave */
};

typedef struct {
    uint8_t buf[THM_LINK_FRAME_MAX];   /* bytes not yet consumed, starting at a MAGIC candidate */
    uint32_t fill;
    uint32_t used;                     /* bytes of the frame last returned, dropped at the next call */
    /* the last frame returned (valid until the next call) */
    uint8_t cmd, flags;
    uint16_t seq, length;
    const uint8_t *payload;
} thm_link_decoder;

void thm_link_decoder_init(thm_link_decoder *d);
/* Take up to n bytes from data (*taken says how many) and return at most one
 * frame or error. Call again with the rest until it returns THM_FRAME_NONE. */
int thm_link_decode(thm_link_decoder *d, const uint8_t *data, uint32_t n, uint32_t *taken);
/* The line went idle with a partial frame buffered: drop one byte and rescan,
 * so a corrupted length field cannot stall the receiver. */
void thm_link_decoder_idle(thm_link_decoder *d);
/* Encode into out (THM_LINK_FRAME_MAX bytes); returns the frame size, or 0
 * when length > MAX_PAYLOAD. */
uint32_t thm_link_encode(uint8_t *out, uint8_t cmd, uint16_t seq, const uint8_t *payload, uint32_t length);

#endif /* THM_LINK_FRAME_H */
