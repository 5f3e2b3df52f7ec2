/* strlen for the freestanding build (the model runtime names tensors with
 * it; the HAL's libc has only the mem* functions). Weak, so a HAL strlen
 * added later takes its place without a clash. */
#include <stddef.h>

__attribute__((weak, optimize("no-tree-loop-distribute-patterns"))) size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}
