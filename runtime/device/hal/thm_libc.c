/* The few libc functions a freestanding build still needs: GCC emits calls to
 * memcpy/memset/memmove/memcmp for struct copies and loops. There is no malloc:
 * the firmware links with -nostdlib, so any use of it fails to link. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>   /* the firmware's own (runtime/device/libc): checks these match it */

/* Stop GCC from turning these very loops back into calls to themselves. */
#define THM_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))

/* A word that may alias any object (these functions copy whatever they are given). */
typedef uint32_t __attribute__((may_alias)) thm_word;

/* Word copies where source and destination share their alignment, 16 bytes a
 * step: the runtime copies whole buffers (a decode step's 32 KiB of logits,
 * the attention's query rows, grammar states), and byte by byte that was
 * half a million instructions a decoded token on the watch. Only aligned
 * words: the glasses run with the MMU off, where an unaligned access faults. */
THM_NO_LIBCALL void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d ^ (uintptr_t)s) & 3u) == 0) {
        for (; n && ((uintptr_t)d & 3u); n--) *d++ = *s++;
        thm_word *dw = (thm_word *)(void *)d;
        const thm_word *sw = (const thm_word *)(const void *)s;
        for (; n >= 16; n -= 16, dw += 4, sw += 4) {
            const uint32_t a = sw[0], b = sw[1], c = sw[2], e = sw[3];
            dw[0] = a; dw[1] = b; dw[2] = c; dw[3] = e;
        }
        for (; n >= 4; n -= 4) *dw++ = *sw++;
        d = (uint8_t *)dw;
        s = (const uint8_t *)sw;
    }
    while (n--) *d++ = *s++;
    return dst;
}

THM_NO_LIBCALL void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

THM_NO_LIBCALL void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    for (; n && ((uintptr_t)d & 3u); n--) *d++ = (uint8_t)c;
    const uint32_t w = (uint8_t)c * 0x01010101u;
    thm_word *dw = (thm_word *)(void *)d;
    for (; n >= 4; n -= 4) *dw++ = w;
    d = (uint8_t *)dw;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

THM_NO_LIBCALL int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}
