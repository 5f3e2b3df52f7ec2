/* Emulated model flash: a region of the board's weights memory that behaves
 * like NOR flash (erase sets a whole sector to 0xFF; program can only clear
 * bits) and persists across a restart of QEMU.
 *
 * Persistence: QEMU's working folder holds thm_flash.bin, exactly
 * THM_FLASH_BYTES long; the emulator loads it into the region at reset
 * (-device loader, the way a factory programs flash), and every erase and
 * program here is written through to it with semihosting before the call
 * returns. A QEMU killed in the middle of a write leaves the file with part
 * of the write done, as a power cut leaves real flash. Without the file,
 * writes fail with THM_FLASH_E_MIRROR (never silently lost at a restart). */
#ifndef THM_FLASH_H
#define THM_FLASH_H

#include <stddef.h>
#include <stdint.h>

#include "thm_board.h"

/* the real chip class's budget within the emulated region, at most 64 MiB
 * (thimble.boards.board: Board.flash_bytes, one place for the host and here) */
#define THM_FLASH_BYTES THM_BOARD_FLASH_BYTES
#define THM_FLASH_SECTOR THM_BOARD_FLASH_SECTOR_BYTES
#define THM_FLASH_SLOTS THM_BOARD_MODEL_SLOTS   /* the link's model slots in it: 2 (A/B) or 1 */
#define THM_FLASH_FILE "thm_flash.bin"

enum {
    THM_FLASH_OK = 0,
    THM_FLASH_E_RANGE = -1,    /* outside the flash, or an erase not on sector bounds */
    THM_FLASH_E_MIRROR = -2,   /* the host file is missing or a write to it failed */
};

const uint8_t *thm_flash_base(void);      /* read in place (XIP) */
uint32_t thm_flash_size(void);            /* THM_FLASH_BYTES */
/* Erase [off, off + n): both multiples of THM_FLASH_SECTOR. */
int thm_flash_erase(uint32_t off, uint32_t n);
/* Program n bytes at off: each flash byte becomes old & data (NOR semantics). */
int thm_flash_program(uint32_t off, const void *data, uint32_t n);
const char *thm_flash_strerror(int err);

#endif /* THM_FLASH_H */
