/* The instruction counter: SysTick on Cortex-M, CNTVCT_EL0 on AArch64. */
#include "thm_board.h"
#include "thm_hal.h"

uint32_t thm_hal_counter_hz(void) { return THM_BOARD_EMULATED_CLOCK_HZ; }

#if defined(THM_BOARD_COUNTER_SYSTICK)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SYST_SPAN (1u << 24)             /* 24-bit down counter: reload + 1 ticks a wrap */

static volatile uint32_t thm_systick_wraps;

/* Counts wraps: at 25 MHz a 24-bit SysTick wraps every 0.67 s of emulated time. */
void thm_systick_handler(void) { thm_systick_wraps++; }

void thm_hal_counter_start(void)
{
    SYST_CSR = 0;
    thm_systick_wraps = 0;
    SYST_RVR = SYST_SPAN - 1;
    SYST_CVR = 0;                       /* any write clears it: counting restarts at RVR */
    SYST_CSR = 7;                       /* processor clock, interrupt on wrap, enable */
}

uint64_t thm_hal_uptime_ms(void) { return thm_hal_counter_read() * 1000u / THM_BOARD_EMULATED_CLOCK_HZ; }

uint64_t thm_hal_counter_read(void)
{
    for (;;) {
        uint32_t w = thm_systick_wraps;
        uint32_t v = SYST_CVR;
        uint32_t pend = SCB_ICSR & ICSR_PENDSTSET;
        if (w != thm_systick_wraps) continue;          /* the handler ran in between */
        if (pend && v > SYST_SPAN / 2) w++;            /* wrapped, handler not yet taken */
        return (uint64_t)w * SYST_SPAN + (SYST_SPAN - 1 - v);
    }
}

void thm_hal_spin2(uint32_t iterations)
{
    if (!iterations) return;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
}

#elif defined(THM_BOARD_COUNTER_CNTVCT) || defined(THM_BOARD_COUNTER_PMU)
#if defined(THM_BOARD_COUNTER_PMU)
/* PMU event counter 0 counting INST_RETIRED (0x08): one tick per instruction.
 * QEMU implements this event only under -icount. The counter is 32 bits; an
 * overflow (PMOVSCLR_EL0 bit 0) adds 2^32, so reads must come at least once
 * every 4G instructions. The generic timer (CNTVCT) would tick every 16
 * instructions with a start phase that varies from run to run. */
static uint64_t thm_pmu_high;

void thm_hal_counter_start(void)
{
    __asm__ volatile("msr pmcr_el0, %0" : : "r"((uint64_t)3));         /* E, reset event counters */
    __asm__ volatile("msr pmevtyper0_el0, %0" : : "r"((uint64_t)0x08)); /* INST_RETIRED */
    __asm__ volatile("msr pmovsclr_el0, %0" : : "r"((uint64_t)1));
    __asm__ volatile("msr pmcntenset_el0, %0\n\tisb" : : "r"((uint64_t)1));
    thm_pmu_high = 0;
}

uint64_t thm_hal_counter_read(void)
{
    uint64_t v, ovf;
    __asm__ volatile("isb\n\tmrs %0, pmevcntr0_el0\n\tmrs %1, pmovsclr_el0" : "=r"(v), "=r"(ovf) : : "memory");
    if (ovf & 1) {
        /* Re-read after clearing: v may predate the wrap the flag reports. */
        __asm__ volatile("msr pmovsclr_el0, %0\n\tisb" : : "r"((uint64_t)1) : "memory");
        __asm__ volatile("mrs %0, pmevcntr0_el0" : "=r"(v));
        thm_pmu_high += 1ull << 32;
    }
    return thm_pmu_high + (v & 0xffffffffu);
}
#else
static uint64_t thm_cntvct_base;

static uint64_t thm_cntvct(void)
{
    uint64_t v;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
}

void thm_hal_counter_start(void) { thm_cntvct_base = thm_cntvct(); }
uint64_t thm_hal_counter_read(void) { return thm_cntvct() - thm_cntvct_base; }
#endif

uint64_t thm_hal_uptime_ms(void)
{
    uint64_t v, f;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0\n\tmrs %1, cntfrq_el0" : "=r"(v), "=r"(f) : : "memory");
    return f ? v / f * 1000u + v % f * 1000u / f : 0;
}

void thm_hal_spin2(uint32_t iterations)
{
    uint64_t n = iterations;
    if (!n) return;
    __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
}
#else
#error "thm_board.h names no counter this HAL knows"
#endif
