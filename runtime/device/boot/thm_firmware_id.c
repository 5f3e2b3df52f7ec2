/* The firmware's identity, kept in every image (KEEP(*(.thm_id)) in the
 * family's linker script) so `thimble flash` can tell, from the ELF's
 * loadable bytes alone, which board a firmware was built for before it
 * writes anything to a target: an ELF for another board is refused, not
 * flashed. One NUL-terminated ASCII line, fields separated by ';':
 *   thimble-firmware;board=NAME;
 * (runtime/thimble/firmware/elf.py, firmware_id, is its reader). */
#include "thm_board.h"

__attribute__((section(".thm_id"), used))
const char thm_firmware_id[] = "thimble-firmware;board=" THM_BOARD_NAME ";";
