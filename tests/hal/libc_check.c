/* The firmware's memcpy, memmove, memset and memcmp (runtime/device/hal/
 * thm_libc.c, renamed by the test's -D flags) against byte loops, at every
 * source and destination offset modulo 8 and lengths 0 .. 80, with guard
 * bytes around the destination: nothing outside [dst, dst + n) changes. */
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

void *t_memcpy(void *dst, const void *src, size_t n);
void *t_memmove(void *dst, const void *src, size_t n);
void *t_memset(void *dst, int c, size_t n);
int t_memcmp(const void *a, const void *b, size_t n);

static _Alignas(16) uint8_t src[128], dst[128], want[128];

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

int main(void)
{
    int bad = 0;
    for (size_t so = 0; so < 8; so++)
        for (size_t d0 = 0; d0 < 8; d0++)
            for (size_t n = 0; n <= 80; n++) {
                fill(src, sizeof src, (uint32_t)(so * 1000 + d0 * 100 + n));
                fill(dst, sizeof dst, 7u + (uint32_t)n);
                for (size_t i = 0; i < sizeof dst; i++) want[i] = dst[i];
                for (size_t i = 0; i < n; i++) want[8 + d0 + i] = src[so + i];
                if (t_memcpy(dst + 8 + d0, src + so, n) != dst + 8 + d0 || !same(dst, want, sizeof dst)) {
                    printf("memcpy src+%zu dst+%zu n=%zu\n", so, d0, n);
                    bad = 1;
                }
                fill(dst, sizeof dst, 9u + (uint32_t)n);
                for (size_t i = 0; i < sizeof dst; i++) want[i] = dst[i];
                for (size_t i = 0; i < n; i++) want[8 + d0 + i] = (uint8_t)(0xA5 + so);
                if (t_memset(dst + 8 + d0, (int)(0xA5 + so), n) != dst + 8 + d0 || !same(dst, want, sizeof dst)) {
                    printf("memset dst+%zu n=%zu\n", d0, n);
                    bad = 1;
                }
                /* overlapping moves, both directions */
                fill(dst, sizeof dst, 11u + (uint32_t)n);
                uint8_t tmp[128];
                for (size_t i = 0; i < sizeof dst; i++) want[i] = dst[i];
                for (size_t i = 0; i < n; i++) tmp[i] = dst[16 + so + i];
                for (size_t i = 0; i < n; i++) want[16 + d0 + i] = tmp[i];
                t_memmove(dst + 16 + d0, dst + 16 + so, n);
                if (!same(dst, want, sizeof dst)) {
                    printf("memmove src+%zu dst+%zu n=%zu\n", so, d0, n);
                    bad = 1;
                }
                if (n && t_memcmp(src + so, src + so, n) != 0) bad = 1;
            }
    puts(bad ? "FAIL" : "OK");
    return bad;
}
