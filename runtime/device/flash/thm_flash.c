/* Emulated NOR flash over the weights region, written through to the host
 * file thm_flash.bin with semihosting (see thm_flash.h). */
#include "thm_flash.h"
#include "thm_hal.h"

#define MODE_RPLUS_B 3          /* "r+b": the file must exist; never truncated */
#define CHUNK 256u              /* bytes per mirrored write */

_Static_assert(THM_FLASH_BYTES % THM_FLASH_SECTOR == 0, "flash size is whole sectors");

static uint8_t *const flash = (uint8_t *)(uintptr_t)THM_BOARD_WEIGHTS_BASE;
static int mirror_fd = -1;

const uint8_t *thm_flash_base(void) { return flash; }
uint32_t thm_flash_size(void) { return THM_FLASH_BYTES; }

static int mirror(uint32_t off, uint32_t n)
{
    if (mirror_fd < 0) mirror_fd = thm_semi_open(THM_FLASH_FILE, MODE_RPLUS_B);
    if (mirror_fd < 0) return THM_FLASH_E_MIRROR;
    if (thm_semi_seek(mirror_fd, off)) return THM_FLASH_E_MIRROR;
    while (n) {
        uint32_t k = n < CHUNK ? n : CHUNK;
        if (thm_semi_write(mirror_fd, flash + off, k)) return THM_FLASH_E_MIRROR;
        off += k;
        n -= k;
    }
    return THM_FLASH_OK;
}

static int in_range(uint32_t off, uint32_t n) { return off <= THM_FLASH_BYTES && n <= THM_FLASH_BYTES - off; }

int thm_flash_erase(uint32_t off, uint32_t n)
{
    if (!in_range(off, n) || off % THM_FLASH_SECTOR || n % THM_FLASH_SECTOR) return THM_FLASH_E_RANGE;
    for (uint32_t i = 0; i < n; i++) flash[off + i] = 0xFF;
    return mirror(off, n);
}

int thm_flash_program(uint32_t off, const void *data, uint32_t n)
{
    if (!in_range(off, n) || (n && !data)) return THM_FLASH_E_RANGE;
    const uint8_t *d = data;
#ifdef THM_DEFECT_FLASH_BIT
    /* a deliberate defect for `thimble selftest`'s own test: bit 0 of every
     * 64th byte never programs. Never defined in a real build. */
    for (uint32_t i = 0; i < n; i++) flash[off + i] &= (uint8_t)(d[i] & ((off + i) % 64 == 5 ? 0xFE : 0xFF));
#else
    for (uint32_t i = 0; i < n; i++) flash[off + i] &= d[i];
#endif
    return mirror(off, n);
}

const char *thm_flash_strerror(int err)
{
    switch (err) {
    case THM_FLASH_OK: return "ok";
    case THM_FLASH_E_RANGE: return "flash range out of bounds or not on sector bounds";
    case THM_FLASH_E_MIRROR: return "flash backing file missing or not writable";
    default: return "unknown flash error";
    }
}
