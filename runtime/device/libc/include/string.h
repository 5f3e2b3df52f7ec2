/* The firmware's <string.h>: only what the firmware itself defines. The
 * device build is -nostdinc (CMakeLists.txt): no C library's headers are
 * searched, so a call to anything not declared here fails to compile
 * instead of failing to link (the link is -nostdlib). The compiler's own
 * freestanding headers (stddef.h, stdint.h, arm_*.h) come from its
 * include folder. */
#ifndef THM_LIBC_STRING_H
#define THM_LIBC_STRING_H

#include <stddef.h>

/* runtime/device/hal/thm_libc.c (every firmware links it). */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* runtime/device/app/thm_app_strlen.c (linked into the app firmware only). */
size_t strlen(const char *s);

#endif /* THM_LIBC_STRING_H */
