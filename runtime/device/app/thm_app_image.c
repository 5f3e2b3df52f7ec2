/* The installed image: read in place from the model flash. */
#include <string.h>

#include "thm_app_image.h"
#include "thm_flash.h"

static void put_msg(char *msg, uint32_t cap, const char *s)
{
    uint32_t n = 0;
    if (!cap) return;
    for (; s[n] && n + 1 < cap; n++) msg[n] = s[n];
    msg[n] = 0;
}

int thm_app_find_image(const uint8_t **base, uint64_t *size, char *msg, uint32_t msg_cap)
{
    const uint8_t *p = thm_flash_base();
    uint64_t cap = thm_flash_size();
    if (cap < 64 || memcmp(p, "THMB", 4)) {
        put_msg(msg, msg_cap, "no model installed");
        return -1;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[16 + i];   /* header image_size, u64 LE */
    if (n < 64 || n > cap) {
        put_msg(msg, msg_cap, "installed image is larger than the model flash");
        return -1;
    }
    *base = p;
    *size = n;
    return 0;
}
