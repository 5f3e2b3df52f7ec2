/* x86 host fast paths (compiled into the Python extension only) and the
 * CPUID checks that decide whether they may run. */
#ifndef THM_X86_H
#define THM_X86_H

#include <stdint.h>

int thm_x86_has_avx2(void);
int thm_x86_has_avx512vnni(void);

void thm_matmul_s8_avx2(const int8_t *x, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, int8_t *y,
                        int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_avx2(const int8_t *x, const int8_t *w, const int32_t *bias,
                            int32_t *y, int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_avx512vnni(const int8_t *x, const int8_t *w, const int32_t *bias,
                              const int32_t *mult, const int32_t *shift, int8_t *y,
                              int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_avx512vnni(const int8_t *x, const int8_t *w, const int32_t *bias,
                                  int32_t *y, int32_t M, int32_t K, int32_t N);

#endif /* THM_X86_H */
