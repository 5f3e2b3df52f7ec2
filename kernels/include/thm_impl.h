/* Internal: the per-instruction-set implementations behind the public API.
 * thm_isa.c picks one (at run time on x86 hosts, at build time on boards);
 * arguments have already been checked by the public function. */
#ifndef THM_IMPL_H
#define THM_IMPL_H

#include <stddef.h>
#include <stdint.h>

typedef void (*thm_matmul_s32_fn)(const int8_t *x, const int8_t *w, const int32_t *bias,
                                  int32_t *y, int32_t M, int32_t K, int32_t N);
typedef void (*thm_matmul_s8_fn)(const int8_t *x, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, int8_t *y,
                                 int32_t M, int32_t K, int32_t N);

/* Portable C: always present, the fallback of every fast path. */
void thm_matmul_s8_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, int8_t *y,
                            int32_t M, int32_t K, int32_t N);
void thm_matmul_s8_s32_portable(const int8_t *x, const int8_t *w, const int32_t *bias,
                                int32_t *y, int32_t M, int32_t K, int32_t N);

/* The selected implementation (thm_isa.c). */
extern thm_matmul_s8_fn thm_impl_matmul_s8;
extern thm_matmul_s32_fn thm_impl_matmul_s8_s32;

/* Shared argument checks. */
static inline int thm_shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }

#endif /* THM_IMPL_H */
