/* The HAL calls the app makes (its step counters), for host fuzz builds:
 * a counter that never moves keeps every run the same. */
#include <stdint.h>

void thm_hal_counter_start(void) {}
uint64_t thm_hal_counter_read(void) { return 0; }
uint32_t thm_hal_counter_hz(void) { return 1000000000u; }
uint64_t thm_hal_uptime_ms(void) { return 0; }
