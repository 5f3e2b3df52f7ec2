/* Cortex-M startup (M4F, M55, any ARMv7-M / v8-M Mainline core): the vector
 * table, FPU/MVE enable, .data copy and .bss clear, then main(). Its return
 * value becomes the emulator's exit code; any fault exits with
 * THM_HAL_EXIT_FAULT instead of hanging. */
#include <stdint.h>

#include "thm_hal.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
int main(void);
void thm_systick_handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void thm_reset_handler(void) __attribute__((noreturn));
void thm_reset_handler(void)
{
    /* CP10 and CP11 full access: the FPU and, on v8.1-M, MVE share them. Must
     * happen before any floating-point or vector instruction. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" : : : "memory");
    for (uint32_t *d = __data_start, *s = __data_load; d < __data_end;) *d++ = *s++;
    for (uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
    thm_hal_exit(main());
}

static void thm_fault_handler(void) { thm_hal_exit(THM_HAL_EXIT_FAULT); }

/* Exceptions 0..15; no peripheral interrupts are used. */
__attribute__((section(".vectors"), used))
static void (*const thm_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    thm_reset_handler,
    thm_fault_handler,  /* NMI */
    thm_fault_handler,  /* HardFault */
    thm_fault_handler,  /* MemManage */
    thm_fault_handler,  /* BusFault */
    thm_fault_handler,  /* UsageFault */
    thm_fault_handler,  /* SecureFault (v8-M) */
    0, 0, 0,
    thm_fault_handler,  /* SVCall */
    thm_fault_handler,  /* DebugMonitor */
    0,
    thm_fault_handler,  /* PendSV */
    thm_systick_handler,
};
