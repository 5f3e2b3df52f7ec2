/* The device side of the serial link: a state machine fed by a byte port,
 * writing model images into the inactive flash slot (see docs/protocol.md).
 * No malloc: the whole state lives in thm_link_server (about 20 KiB: the
 * staged request and the output are the app's limits; the sector buffer is
 * the caller's). */
#ifndef THM_LINK_SERVER_H
#define THM_LINK_SERVER_H

#include <stdint.h>
#include "thm_link_format.h"
#include "thm_link_frame.h"
#include "thm_link_journal.h"
#include "thm_link_port.h"

/* What a RUN request hands the application (the model runtime). */
typedef struct {
    const uint8_t *request;    /* request_len bytes staged by REQ frames, untrusted: parse with bounds */
    uint32_t request_len;      /* 1..THM_LINK_MAX_REQUEST */
    int slot;                  /* the active slot, -1 when none */
    uint32_t image_offset;     /* its flash offset (read the image in place from there) */
    uint32_t image_size;       /* bytes */
    const uint8_t *sha256;     /* 32 bytes: the active image's hash */
} thm_link_run_in;

typedef struct {
    uint8_t *out;              /* THM_LINK_MAX_OUTPUT bytes to fill */
    uint32_t out_len;          /* set by the handler, <= THM_LINK_MAX_OUTPUT */
    uint32_t prompt_tokens, gen_tokens;
    uint64_t prefill_insns, insns_per_token;
} thm_link_run_out;

/* Returns 0 on success; any other value is answered with E_RUN. */
typedef int (*thm_link_run_fn)(void *ctx, const thm_link_run_in *in, thm_link_run_out *out);

/* COMMIT's last step before the A/B switch: 0 when the application can run
 * the image now in flash at image_offset (image_size bytes, its hash already
 * verified); anything else is answered with E_IMAGE and nothing is committed,
 * so a SHA-valid image the runtime refuses never replaces a working model. */
typedef int (*thm_link_check_fn)(void *ctx, uint32_t image_offset, uint32_t image_size);

/* A TEST operation the server leaves to the application (IDENT, KERNEL,
 * MEMORY, STACK; it answers FLASH, SLOTS and FILL itself). */
typedef struct {
    uint32_t op, arg0, arg1;
    const uint8_t *staged;     /* KERNEL: the staged request (checked against arg0/arg1), else NULL */
    uint32_t staged_len;
} thm_link_test_in;

typedef struct {
    uint8_t *out;              /* THM_LINK_MAX_OUTPUT bytes, read by the host with OUT */
    uint32_t out_len;
    uint8_t status;            /* THM_LINK_ST_OK, or the failing check's status */
    uint32_t v0, v1;
    uint64_t v2;
} thm_link_test_out;

/* Returns 0 when it answered (status says how the check went), < 0 for an
 * op it does not know (answered E_CMD). */
typedef int (*thm_link_test_fn)(void *ctx, const thm_link_test_in *in, thm_link_test_out *out);

typedef struct {
    thm_link_port port;
    thm_link_flash flash;
    thm_link_journal journal;
    thm_link_decoder dec;
    char board[THM_LINK_BOARD_NAME];
    thm_link_run_fn run;
    void *run_ctx;
    thm_link_check_fn check;   /* NULL: every image that hashes right is committed */
    void *check_ctx;
    thm_link_test_fn test;     /* NULL: only the TEST ops the server answers itself */
    void *test_ctx;
    uint8_t *sector_buf;       /* flash.sector bytes, supplied by the board */
    /* the transfer in progress (RAM; the journal holds what survives a reset) */
    int xfer;                  /* 1 after BEGIN until COMMIT/ABORT */
    uint32_t x_slot, x_size, x_next, x_programmed, x_journaled;
    uint8_t x_sha[32];
    int resyncing;             /* an error was reported; stay quiet until a good frame */
    /* the staged request (REQ) and the last RUN's output (OUT) */
    uint32_t r_total, r_fill;  /* announced length; bytes staged contiguously from 0 */
    uint32_t o_len;            /* output bytes of the last RUN */
    int o_valid;               /* a RUN has answered since the last REQ at offset 0 */
    uint8_t req[THM_LINK_MAX_REQUEST];
    uint8_t out[THM_LINK_MAX_OUTPUT];
    uint8_t tx[THM_LINK_FRAME_MAX];
    uint8_t reply[THM_LINK_MAX_PAYLOAD];
    uint8_t rx[256];
} thm_link_server;

/* 0, or a THM_JOURNAL_E_* code when the flash geometry or contents are unusable. */
int thm_link_server_init(thm_link_server *s, const thm_link_port *port, const thm_link_flash *flash,
                         uint8_t *sector_buf, const char *board, thm_link_run_fn run, void *run_ctx);
/* Install the COMMIT check (after init; init clears it). */
void thm_link_server_set_check(thm_link_server *s, thm_link_check_fn check, void *ctx);
/* Install the application's TEST handler (after init). */
void thm_link_server_set_test(thm_link_server *s, thm_link_test_fn test, void *ctx);
/* Read what the port has (waiting up to timeout_ms) and answer every frame.
 * Returns 0, or < 0 when the port closed. */
int thm_link_server_poll(thm_link_server *s, uint32_t timeout_ms);
/* Drop the RAM transfer state, as a new connection does not: kept for resume. */
void thm_link_server_abort(thm_link_server *s);

#endif /* THM_LINK_SERVER_H */
