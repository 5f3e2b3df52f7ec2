/* Semihosting calls: BKPT 0xAB on Cortex-M, HLT 0xF000 on AArch64. Parameter
 * blocks are arrays of pointer-sized words, as the spec defines per state. */
#include "thm_hal.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0A
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static uintptr_t thm_semi_call(uintptr_t op, const void *arg)
{
#if defined(__aarch64__)
    register uintptr_t x0 __asm__("x0") = op;
    register const void *x1 __asm__("x1") = arg;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    return x0;
#else
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
#endif
}

static size_t thm_strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

int thm_semi_open(const char *path, int mode)
{
    uintptr_t blk[3] = {(uintptr_t)path, (uintptr_t)mode, (uintptr_t)thm_strlen(path)};
    return (int)(intptr_t)thm_semi_call(SYS_OPEN, blk);
}

int thm_semi_close(int fd)
{
    uintptr_t blk[1] = {(uintptr_t)fd};
    return (int)(intptr_t)thm_semi_call(SYS_CLOSE, blk);
}

int thm_semi_write(int fd, const void *buf, size_t n)
{
    uintptr_t blk[3] = {(uintptr_t)fd, (uintptr_t)buf, (uintptr_t)n};
    return thm_semi_call(SYS_WRITE, blk) == 0 ? 0 : -1;   /* returns bytes NOT written */
}

int thm_semi_read(int fd, void *buf, size_t n)
{
    uintptr_t blk[3] = {(uintptr_t)fd, (uintptr_t)buf, (uintptr_t)n};
    uintptr_t left = thm_semi_call(SYS_READ, blk);
    return left > n ? -1 : (int)(n - left);
}

int thm_semi_seek(int fd, size_t off)
{
    uintptr_t blk[2] = {(uintptr_t)fd, (uintptr_t)off};
    return thm_semi_call(SYS_SEEK, blk) == 0 ? 0 : -1;
}

void thm_semi_write0(const char *s)
{
    thm_semi_call(SYS_WRITE0, s);
}

void thm_hal_exit(int code)
{
    uintptr_t blk[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)(intptr_t)code};
    thm_semi_call(SYS_EXIT_EXTENDED, blk);
    for (;;) {
    }
}
