/* UART: CMSDK APB UART (MPS2/MPS3 boards) or PL011 (virt). Sending polls
 * (a byte leaves within a few instructions). Receiving sleeps with WFI while
 * nothing has arrived, woken by the UART's receive interrupt (the board's
 * THM_BOARD_UART_RX_IRQ), so an idle board does not spin its core (nor an
 * emulated board its host's). No handler ever runs for that interrupt: it is
 * masked at the core (PRIMASK / DAIF.I), and WFI wakes on a pending interrupt
 * even when masked. Without THM_BOARD_UART_RX_IRQ the HAL polls.
 *
 * The wait is race-free: clear the UART's interrupt and its pending state,
 * then look at the RX status, then WFI. A byte that arrives after the look
 * leaves the interrupt pending, and WFI returns at once.
 *
 * Before it sleeps, a read polls THM_UART_POLLS times: during a deploy the
 * next byte is already on its way (at 921600 baud one comes every ~11 us,
 * a few thousand cycles), and sleeping between bytes costs a wake-up per
 * byte. On real silicon that is latency; under QEMU it is most of a
 * deploy's time (each wake a thread handoff in the emulator): polling first
 * took watch-tiny's deploy from 11.4 to 17.4 kB/s over QEMU's UART
 * (watch_m55). An idle board still sleeps after the polls.
 *
 * Instruction counts are not affected: nothing counted waits for the UART. */
#include "thm_board.h"
#include "thm_hal.h"

#define THM_UART_POLLS 4096u      /* status reads before a WFI (a few tens of us) */
#define REG(off) (*(volatile uint32_t *)(uintptr_t)(THM_BOARD_UART_BASE + (off)))

#if defined(THM_BOARD_UART_CMSDK)
/* DATA 0x0, STATE 0x4 (bit0 TX full, bit1 RX full), CTRL 0x8 (bit0 TX en, bit1 RX en,
 * bit3 RX interrupt en), INTSTATUS/INTCLEAR 0xC (bit1 RX, write 1 to clear),
 * BAUDDIV 0x10 (QEMU wants >= 16). */
#define CMSDK_RX_FULL 2u
#define CMSDK_INT_RX 2u
#if defined(THM_BOARD_UART_RX_IRQ)
#define CMSDK_CTRL (3u | 8u)                  /* TX, RX, RX interrupt */
/* The NVIC's set-enable, clear-enable and clear-pending registers (v7-M/v8-M). */
#define NVIC_ISER (*(volatile uint32_t *)(0xE000E100u + 4u * (THM_BOARD_UART_RX_IRQ / 32u)))
#define NVIC_ICER (*(volatile uint32_t *)(0xE000E180u + 4u * (THM_BOARD_UART_RX_IRQ / 32u)))
#define NVIC_ICPR (*(volatile uint32_t *)(0xE000E280u + 4u * (THM_BOARD_UART_RX_IRQ / 32u)))
#define NVIC_BIT (1u << (THM_BOARD_UART_RX_IRQ % 32u))

/* Sleep until a byte may have arrived. The RX interrupt is enabled in the
 * NVIC only while PRIMASK is set, so it never reaches a handler (the vector
 * table has none). PRIMASK goes back to the caller's (clear: nothing in
 * the firmware sets it) between waits, so that a SysTick wrap that woke the
 * core is counted by its handler instead of waking every further WFI at once. */
static void thm_uart_wait_rx(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) : : "memory");
    REG(0x0C) = CMSDK_INT_RX;
    NVIC_ICPR = NVIC_BIT;
    NVIC_ISER = NVIC_BIT;
    __asm__ volatile("dsb\n\tisb" : : : "memory");
    if (!(REG(0x04) & CMSDK_RX_FULL)) __asm__ volatile("wfi" : : : "memory");
    NVIC_ICER = NVIC_BIT;
    __asm__ volatile("dsb\n\tisb" : : : "memory");
    __asm__ volatile("msr primask, %0" : : "r"(primask) : "memory");
}
#else
#define CMSDK_CTRL 3u                         /* TX, RX; polled */
static void thm_uart_wait_rx(void) {}
#endif

void thm_hal_uart_init(void)
{
    REG(0x10) = 16;
    REG(0x08) = CMSDK_CTRL;
}
void thm_hal_putc(int c)
{
    while (REG(0x04) & 1u) {
    }
    REG(0x00) = (uint32_t)(c & 0xff);
}
int thm_hal_getc(void)
{
    for (uint32_t polls = 0; !(REG(0x04) & CMSDK_RX_FULL); polls++)
        if (polls >= THM_UART_POLLS) thm_uart_wait_rx();
    return (int)(REG(0x00) & 0xff);
}
#elif defined(THM_BOARD_UART_PL011)
/* DR 0x0, FR 0x18 (bit5 TX full, bit4 RX empty), IMSC 0x38 (interrupt mask set),
 * ICR 0x44 (interrupt clear); RX interrupt bit 4, RX timeout bit 6. QEMU's
 * PL011 needs no other setup. */
#define PL011_RX_EMPTY (1u << 4)
#define PL011_INT_RX ((1u << 4) | (1u << 6))
#if defined(THM_BOARD_UART_RX_IRQ)
#if !defined(THM_BOARD_GIC_DIST_BASE) || !defined(THM_BOARD_GIC_CPU_BASE)
#error "a PL011 receive interrupt needs the board's GIC (THM_BOARD_GIC_*)"
#endif
/* GICv2 distributor and CPU interface registers. */
#define GICD(off) (*(volatile uint32_t *)(uintptr_t)(THM_BOARD_GIC_DIST_BASE + (off)))
#define GICD_B(off) (*(volatile uint8_t *)(uintptr_t)(THM_BOARD_GIC_DIST_BASE + (off)))
#define GICC(off) (*(volatile uint32_t *)(uintptr_t)(THM_BOARD_GIC_CPU_BASE + (off)))
#define GIC_WORD (4u * (THM_BOARD_UART_RX_IRQ / 32u))
#define GIC_BIT (1u << (THM_BOARD_UART_RX_IRQ % 32u))

/* The interrupt is routed up to the core and left pending there: the boot
 * code never clears DAIF.I, so no handler runs (every vector is a fault
 * exit) and it only ends WFI. */
void thm_hal_uart_init(void)
{
    REG(0x38) = PL011_INT_RX;
    GICD_B(0x400 + THM_BOARD_UART_RX_IRQ) = 0x80;   /* IPRIORITYR: mid priority */
    GICD_B(0x800 + THM_BOARD_UART_RX_IRQ) = 1;      /* ITARGETSR: CPU 0 */
    GICD(0x100 + GIC_WORD) = GIC_BIT;               /* ISENABLER */
    GICD(0x000) = 1;                                /* CTLR: distributor on */
    GICC(0x004) = 0xff;                             /* PMR: let every priority through */
    GICC(0x000) = 1;                                /* CTLR: CPU interface on */
    __asm__ volatile("dsb sy\n\tisb" : : : "memory");
}

static void thm_uart_wait_rx(void)
{
    REG(0x44) = PL011_INT_RX;                       /* the UART drops its line ... */
    GICD(0x280 + GIC_WORD) = GIC_BIT;               /* ... and ICPENDR the latched pending state */
    __asm__ volatile("dsb sy" : : : "memory");
    if (REG(0x18) & PL011_RX_EMPTY) __asm__ volatile("wfi" : : : "memory");
}
#else
void thm_hal_uart_init(void) {}
static void thm_uart_wait_rx(void) {}
#endif

void thm_hal_putc(int c)
{
    while (REG(0x18) & (1u << 5)) {
    }
    REG(0x00) = (uint32_t)(c & 0xff);
}
int thm_hal_getc(void)
{
    for (uint32_t polls = 0; REG(0x18) & PL011_RX_EMPTY; polls++)
        if (polls >= THM_UART_POLLS) thm_uart_wait_rx();
    return (int)(REG(0x00) & 0xff);
}
#else
#error "thm_board.h names no UART this HAL knows"
#endif

void thm_hal_puts(const char *s)
{
    while (*s) thm_hal_putc(*s++);
}
