/* What the board supplies to the link server: a byte port (the UART) and a
 * flash. Both are plain function tables so the same server runs on a board,
 * under QEMU and in the host build (TCP socket + file-backed flash). */
#ifndef THM_LINK_PORT_H
#define THM_LINK_PORT_H

#include <stdint.h>

typedef struct {
    void *ctx;
    /* Read up to cap bytes, waiting at most timeout_ms for the first one.
     * Returns bytes read (0 on timeout), or < 0 when the port is closed. */
    int (*read)(void *ctx, uint8_t *buf, uint32_t cap, uint32_t timeout_ms);
    /* Write all n bytes; 0 on success, < 0 when the port is closed. */
    int (*write)(void *ctx, const uint8_t *buf, uint32_t n);
} thm_link_port;

typedef struct {
    void *ctx;
    uint32_t size;      /* bytes of flash given to the link (journal + slots) */
    uint32_t sector;    /* erase unit, bytes; a multiple of THM_LINK_DATA_CHUNK */
    /* model slots, 1 .. THM_LINK_MAX_SLOTS. Two (A/B): a deploy writes the
     * slot not in use, so a cut deploy or a refused image leaves the old model
     * answering. One: the slot is the whole flash and a deploy replaces the
     * model (it is gone from the first erase until the new one commits): for
     * flash that holds one model and not two (watch_m4's 16 MiB, an int4 Needle). */
    uint32_t slots;
    /* off and n multiples of sector; afterwards every byte reads 0xFF */
    int (*erase)(void *ctx, uint32_t off, uint32_t n);
    /* NOR semantics: each byte becomes old & data; 0 on success */
    int (*program)(void *ctx, uint32_t off, const uint8_t *data, uint32_t n);
    int (*read)(void *ctx, uint32_t off, uint8_t *buf, uint32_t n);
} thm_link_flash;

#endif /* THM_LINK_PORT_H */
