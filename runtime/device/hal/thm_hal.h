/* thimble's board HAL: the few things firmware needs from a board.
 *
 * Small on purpose; the conformance firmware, the serial server and the model
 * runtime all build on it. Which UART and which counter are compiled in comes
 * from the generated thm_board.h (THM_BOARD_UART_*, THM_BOARD_COUNTER_*).
 *
 *   UART        CMSDK APB UART (MPS2/MPS3) or PL011 (virt). Sending polls;
 *               receiving sleeps in WFI until the UART's receive interrupt
 *               (THM_BOARD_UART_RX_IRQ; polls without one). The interrupt
 *               only wakes the core: no handler runs for it.
 *   counter     SysTick (Cortex-M, 24-bit, wraps counted by its interrupt),
 *               the PMU's INST_RETIRED event (AArch64, one tick per
 *               instruction) or CNTVCT_EL0 (AArch64, 16 instructions a tick
 *               with a start phase that varies). Under QEMU -icount shift=0
 *               they advance with executed instructions, so counts repeat
 *               exactly run to run.
 *   semihosting host file I/O and the exit code (QEMU needs
 *               -semihosting-config enable=on,target=native; without a
 *               debugger or QEMU a semihosting call stops the core).
 */
#ifndef THM_HAL_H
#define THM_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes the firmware reports besides main()'s own. */
#define THM_HAL_EXIT_FAULT 0x7f   /* an unexpected exception (HardFault, sync abort, ...) */

void thm_hal_uart_init(void);
void thm_hal_putc(int c);                 /* blocks while the TX FIFO is full */
int thm_hal_getc(void);                   /* blocks (asleep) until a byte arrives; returns 0..255 */
void thm_hal_puts(const char *s);         /* no newline added */

/* Instruction counter. Start once; read returns ticks since start (64-bit, never
 * wraps in practice). thm_hal_counter_hz() is the tick rate of the emulated
 * clock; under -icount shift=0 one tick = 1e9 / hz instructions for SysTick and
 * CNTVCT, one instruction for the PMU (the host calibrates with thm_hal_spin2). */
void thm_hal_counter_start(void);
uint64_t thm_hal_counter_read(void);
uint32_t thm_hal_counter_hz(void);
/* Milliseconds since thm_hal_counter_start, counting while the core sleeps in
 * WFI (SysTick's clock on Cortex-M; the generic timer on AArch64, whose PMU
 * counts instructions only): time, for timeouts, never for measurements. */
uint64_t thm_hal_uptime_ms(void);

/* Semihosting. Modes as in the Arm semihosting spec (0 "r", 1 "rb", 4 "w",
 * 5 "wb", 8 "a", 9 "ab"). Functions return -1 on failure. */
int thm_semi_open(const char *path, int mode);
int thm_semi_close(int fd);
int thm_semi_write(int fd, const void *buf, size_t n);   /* 0 on success (all n written) */
int thm_semi_read(int fd, void *buf, size_t n);          /* bytes read, -1 on error */
int thm_semi_seek(int fd, size_t off);                   /* 0 on success (absolute offset) */
void thm_semi_write0(const char *s);                     /* to the host's stdout */

/* Ends the emulation with this exit code (SYS_EXIT_EXTENDED); spins if no host. */
void thm_hal_exit(int code) __attribute__((noreturn));

/* Run `iterations` of a loop of exactly two instructions (calibrates the counter). */
void thm_hal_spin2(uint32_t iterations);

#endif /* THM_HAL_H */
