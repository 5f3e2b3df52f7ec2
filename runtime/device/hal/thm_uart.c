/* Polled UART: CMSDK APB UART (MPS2/MPS3 boards) or PL011 (virt). */
#include "thm_board.h"
#include "thm_hal.h"

#define REG(off) (*(volatile uint32_t *)(uintptr_t)(THM_BOARD_UART_BASE + (off)))

#if defined(THM_BOARD_UART_CMSDK)
/* DATA 0x0, STATE 0x4 (bit0 TX full, bit1 RX full), CTRL 0x8 (bit0 TX en, bit1 RX en),
 * BAUDDIV 0x10 (QEMU wants >= 16). */
void thm_hal_uart_init(void)
{
    REG(0x10) = 16;
    REG(0x08) = 3;
}
void thm_hal_putc(int c)
{
    while (REG(0x04) & 1u) {
    }
    REG(0x00) = (uint32_t)(c & 0xff);
}
int thm_hal_getc(void)
{
    while (!(REG(0x04) & 2u)) {
    }
    return (int)(REG(0x00) & 0xff);
}
#elif defined(THM_BOARD_UART_PL011)
/* DR 0x0, FR 0x18 (bit5 TX full, bit4 RX empty); QEMU's PL011 needs no setup. */
void thm_hal_uart_init(void) {}
void thm_hal_putc(int c)
{
    while (REG(0x18) & (1u << 5)) {
    }
    REG(0x00) = (uint32_t)(c & 0xff);
}
int thm_hal_getc(void)
{
    while (REG(0x18) & (1u << 4)) {
    }
    return (int)(REG(0x00) & 0xff);
}
#else
#error "thm_board.h names no UART this HAL knows"
#endif

void thm_hal_puts(const char *s)
{
    while (*s) thm_hal_putc(*s++);
}
