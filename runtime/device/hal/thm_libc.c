/* The few libc functions a freestanding build still needs: GCC emits calls to
 * memcpy/memset/memmove/memcmp for struct copies and loops. There is no malloc:
 * the firmware links with -nostdlib, so any use of it fails to link. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>   /* the firmware's own (runtime/device/libc): checks these match it */

/* Stop GCC from turning these very loops back into calls to themselves. */
#define THM_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))

THM_NO_LIBCALL void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
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
