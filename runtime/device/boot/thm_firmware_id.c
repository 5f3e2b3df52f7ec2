/* The firmware's identity, kept in every image (KEEP(*(.thm_id)) in the
 * family's linker script) so `thimble flash` can tell, from the ELF's
 * loadable bytes alone, which board a firmware was built for before it
 * writes anything to a target (an ELF for another board is refused, not
 * flashed), and `thimble selftest` can ask a running board what it runs
 * (TEST IDENT). One NUL-terminated ASCII line, fields separated by ';':
 *   thimble-firmware;board=NAME;src=HASH;cc=COMPILER;
 * src: thimble.firmware.sources.source_hash of the C it was compiled from.
 * (runtime/thimble/firmware/elf.py, firmware_id, is its reader.) */
#include "thm_board.h"
#include "thm_source_hash.h"

__attribute__((section(".thm_id"), used))
const char thm_firmware_id[] = "thimble-firmware;board=" THM_BOARD_NAME ";src=" THM_SOURCE_HASH ";cc=gcc-" __VERSION__ ";";
