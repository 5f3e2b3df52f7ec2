/* AArch64 bare-metal startup (QEMU virt enters at EL1 with the MMU off): stack,
 * FP/SIMD enable, exception vectors, an identity-mapped MMU (with it off all
 * data accesses are Device memory, where unaligned or vector accesses fault),
 * .bss clear, then main(); its return value becomes the exit code. */
    .section .text.boot, "ax"
    .global _start
_start:
    ldr x0, =__stack_top
    mov sp, x0
    mov x0, #(3 << 20)              /* CPACR_EL1.FPEN: no FP/SIMD traps */
    msr cpacr_el1, x0
    ldr x0, =thm_vectors
    msr vbar_el1, x0
    isb

    ldr x0, =0xff00                 /* MAIR attr0 Device-nGnRnE, attr1 Normal write-back */
    msr mair_el1, x0
    /* TCR: T0SZ 25 (39-bit VA, walk starts at level 1), inner/outer WB, inner
     * shareable, 4 KiB granule, EPD1 (no TTBR1 walks), IPS 36 bits. */
    ldr x0, =(25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (1 << 32))
    msr tcr_el1, x0
    adrp x0, thm_page_table
    msr ttbr0_el1, x0
    isb
    tlbi vmalle1
    dsb sy
    isb
    mrs x0, sctlr_el1
    orr x0, x0, #(1 << 0)           /* M: MMU on */
    orr x0, x0, #(1 << 2)           /* C: data cache */
    orr x0, x0, #(1 << 12)          /* I: instruction cache */
    bic x0, x0, #(1 << 1)           /* A: no alignment faults */
    msr sctlr_el1, x0
    isb

    ldr x0, =__bss_start
    ldr x1, =__bss_end
1:  cmp x0, x1
    b.hs 2f
    str xzr, [x0], #8
    b 1b
2:  bl main
    bl thm_hal_exit

/* Level-1 table, 1 GiB blocks: 0-1 GiB Device (UART, GIC), 1-3 GiB Normal (RAM). */
    .section .rodata.pagetable, "a"
    .balign 4096
thm_page_table:
    .quad 0x00000000 | 0x401                 /* AF, attr0, block */
    .quad 0x40000000 | 0x705                 /* AF, inner shareable, attr1, block */
    .quad 0x80000000 | 0x705
    .fill 509, 8, 0

/* Every exception is unexpected: report it as a fault exit. */
    .section .text.vectors, "ax"
    .balign 2048
thm_vectors:
    .rept 16
    .balign 128
    mov w0, #0x7f                   /* THM_HAL_EXIT_FAULT */
    b thm_hal_exit
    .endr
