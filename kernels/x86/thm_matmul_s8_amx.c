/* AMX-INT8 int8 matmul (prefill): y[M, N] = x[M, K] . w[N, K]^T (+ bias),
 * int32 or requantized int8 out. docs/kernels-x86.md has the design and the
 * figures.
 *
 * Exact: tdpbssd multiplies signed bytes by signed bytes and adds each group
 * of four products into an int32 element of the destination tile, wrapping,
 * never saturating; |x . w| <= 2^30 for K <= 65536, so the sum is the
 * reference's. Both operands enter as they are (no +128 bias and no row-sum
 * correction, unlike vpdpbusd), and the epilogue (bias, requantization,
 * saturation) is the AVX-512 VNNI one (thm_vnni_finish, thm_x86_simd.h), so
 * those bits are shared with the path the tests already hold to the reference.
 *
 * Tiles (palette 1, all eight 16 rows x 64 bytes): C0..C3 = tmm0..3 int32
 * [16][16], A0, A1 = tmm4, 5: 16 rows of x by 64 k, read straight from x with
 * the row stride K; B0, B1 = tmm6, 7: 64 k by 16 output channels, as tdpbssd
 * wants them, row r = the 16 channels' k 4r .. 4r + 3 (16 x 4 bytes). A 2 x 2
 * block (32 rows x 32 channels) uses every A and B tile twice per 64 k.
 *
 * Weights are packed per call into a stack panel [K/64][2][16][64] for 32
 * channels by up to THM_AMX_KC k: one 16 x 16 dword transpose per 64 k of 16
 * channels (the VNNI panel's transpose, without its +128), zero past K and
 * past N, so a padding k or channel contributes 0 whatever the other operand
 * holds there. Packing is per call, not once at load: the API takes w as the
 * caller's [N, K] (the model binds image weights in place, read-only, and has
 * no host layout for them), and the pack reads w once per row block while the
 * tile work is M / 16 times that, so at M >= 16 it is a small share (measured
 * in docs/kernels-x86.md).
 *
 * An A tile read from x may run past x's end (the last rows, or the last 64 k
 * of the last row when K is not a multiple of 64): such tiles are copied
 * through a 1 KiB stack buffer with masked loads (zero past M and past K).
 * Bytes past K inside x are other rows' bytes, multiplied by B's zero rows.
 *
 * Tile instructions are written as inline asm with a "memory" clobber, so the
 * compiler sees that tileloadd reads the packed panel it just wrote and that
 * tilestored writes the buffer the epilogue reads (the intrinsics' asm does
 * not say so). Tile state: LDTILECFG on entry, TILERELEASE on exit, so no
 * tile state outlives a call (and the OS need not save it across switches).
 *
 * Stack: 32 KiB panel + 16 KiB partial sums (K > THM_AMX_KC) + 4 KiB of
 * epilogue tiles + 1 KiB copy. No other memory.
 */
#include <immintrin.h>
#include <string.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define THM_AMX THM_TARGET_AVX512VNNI

#define THM_AMX_NB 32       /* panel width: two B tiles of 16 channels */
#define THM_AMX_KC 1024     /* panel depth (multiple of 64): 32 KiB */
#define THM_AMX_MC 128      /* rows per block when K needs partial sums (16 KiB) */

#define THM_TILE_LOAD(t, base, stride)                                                   \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"((const void *)(base)),       \
                     "r"((long)(stride)) : "memory")
#define THM_TILE_STORE(t, base, stride)                                                  \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"((void *)(base)),         \
                     "r"((long)(stride)) : "memory")
#define THM_TILE_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::)
/* AT&T order: B, A, then the accumulator C += A . B */
#define THM_TILE_DP(c, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) thm_amx_cfg;

static void thm_amx_configure(void)
{
    thm_amx_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) c.colsb[t] = 64, c.rows[t] = 16;
    __asm__ volatile("ldtilecfg %0" ::"m"(c));
}

static void thm_amx_release(void) { __asm__ volatile("tilerelease" ::: "memory"); }

/* Panel P[kb][t][16][64] for channels [0, ncols) of w and k in [k0, k0 + kc):
 * tile (kb, t) row r = channels 16t .. 16t + 15, each its k 64kb + 4r .. + 3. */
static THM_AMX void thm_amx_pack(const int8_t *w, size_t ldw, int32_t ncols, int32_t k0, int32_t kc,
                                 int32_t nt, uint8_t *P)
{
    for (int32_t kb = 0; kb * 64 < kc; kb++) {
        const int32_t rem = kc - kb * 64;
        const __mmask64 km = rem >= 64 ? ~(__mmask64)0 : (__mmask64)(~0ULL >> (64 - rem));
        for (int32_t t = 0; t < nt; t++) {
            __m512i r[16];
#pragma GCC unroll 16
            for (int c = 0; c < 16; c++) {
                const int32_t n = t * 16 + c;
                r[c] = n < ncols ? _mm512_maskz_loadu_epi8(km, w + (size_t)n * ldw + k0 + kb * 64)
                                 : _mm512_setzero_si512();
            }
            thm_vnni_transpose16(r);
            uint8_t *dst = P + ((size_t)kb * 2 + (size_t)t) * 1024;
#pragma GCC unroll 16
            for (int d = 0; d < 16; d++) _mm512_store_si512((void *)(dst + d * 64), r[d]);
        }
    }
}

/* Where the A tile of rows [r0, r0 + 16) at k koff comes from: x itself when
 * all 16 x 64 bytes lie inside x [M, K], else a zero-padded copy in buf. */
static inline THM_AMX const int8_t *thm_amx_a(const int8_t *x, int32_t M, int32_t K, int32_t r0,
                                             int32_t koff, int8_t *buf, size_t *ld)
{
    if ((size_t)(r0 + 15) * (size_t)K + (size_t)koff + 64 <= (size_t)M * (size_t)K) {
        *ld = (size_t)K;
        return x + (size_t)r0 * K + koff;
    }
    const int32_t rem = K - koff;
    const __mmask64 km = rem >= 64 ? ~(__mmask64)0 : (__mmask64)(~0ULL >> (64 - rem));
    for (int32_t r = 0; r < 16; r++) {
        const __m512i v = r0 + r < M ? _mm512_maskz_loadu_epi8(km, x + (size_t)(r0 + r) * K + koff)
                                     : _mm512_setzero_si512();
        _mm512_storeu_si512((void *)(buf + r * 64), v);
    }
    *ld = 64;
    return buf;
}

/* C tiles -> y (or the partial sums): rows [m, m + mr) of the panel's
 * channels, mr <= 32; tiles C0, C1 = rows 0..15 (channels 0..15, 16..31),
 * C2, C3 = rows 16..31. */
static THM_AMX void thm_amx_finish(const int32_t *tile, int32_t mr, const thm_vnni_out *o)
{
    static const int32_t zero[16];
    for (int32_t h = 0; h * 16 < mr; h++) {
        const int32_t rows = mr - h * 16 < 16 ? mr - h * 16 : 16;
        thm_vnni_out oh = *o;
        oh.y8 = o->y8 ? o->y8 + (size_t)h * 16 * o->ldy : 0;
        oh.y32 = o->y32 ? o->y32 + (size_t)h * 16 * o->ldy : 0;
        for (int32_t t = 0; t * 16 < o->ncols; t++) {
            __m512i acc[16];
            for (int32_t i = 0; i < rows; i++)
                acc[i] = _mm512_loadu_si512((const void *)(tile + (h * 16 + i) * 32 + t * 16));
            thm_vnni_finish(acc, zero, rows, &oh, t * 16);
        }
    }
}

/* Rows [m, m + mr) (mr <= 32) times the panel over [k0, k0 + kc), nt column
 * tiles. cin: partial sums to start from ([32][32] rows at cin, stride
 * THM_AMX_NB), or 0; cout: where to leave them, or 0 to finish into o. */
static THM_AMX void thm_amx_block(const int8_t *x, int32_t M, int32_t K, int32_t m, int32_t mr,
                                  int32_t k0, int32_t kc, const uint8_t *P, int32_t nt,
                                  const int32_t *cin, int32_t *cout, const thm_vnni_out *o)
{
    _Alignas(64) int8_t abuf[2][16 * 64];
    _Alignas(64) int32_t tile[32 * 32];
    const long ldc = THM_AMX_NB * 4;
    const int two_rows = mr > 16, two_cols = nt > 1;
    if (cin) {
        THM_TILE_LOAD(0, cin, ldc);
        THM_TILE_LOAD(1, cin + 16, ldc);
        THM_TILE_LOAD(2, cin + 16 * THM_AMX_NB, ldc);
        THM_TILE_LOAD(3, cin + 16 * THM_AMX_NB + 16, ldc);
    } else {
        THM_TILE_ZERO(0);
        THM_TILE_ZERO(1);
        THM_TILE_ZERO(2);
        THM_TILE_ZERO(3);
    }
    const int32_t nkb = (kc + 63) / 64;
    for (int32_t kb = 0; kb < nkb; kb++) {
        size_t ld0, ld1;
        const int8_t *a0 = thm_amx_a(x, M, K, m, k0 + kb * 64, abuf[0], &ld0);
        const uint8_t *b = P + (size_t)kb * 2048;
        THM_TILE_LOAD(4, a0, ld0);
        THM_TILE_LOAD(6, b, 64);
        THM_TILE_DP(0, 4, 6);
        if (two_cols) {
            THM_TILE_LOAD(7, b + 1024, 64);
            THM_TILE_DP(1, 4, 7);
        }
        if (two_rows) {
            const int8_t *a1 = thm_amx_a(x, M, K, m + 16, k0 + kb * 64, abuf[1], &ld1);
            THM_TILE_LOAD(5, a1, ld1);
            THM_TILE_DP(2, 5, 6);
            if (two_cols) THM_TILE_DP(3, 5, 7);
        }
    }
    int32_t *dst = cout ? cout : tile;
    THM_TILE_STORE(0, dst, ldc);
    THM_TILE_STORE(1, dst + 16, ldc);
    THM_TILE_STORE(2, dst + 16 * THM_AMX_NB, ldc);
    THM_TILE_STORE(3, dst + 16 * THM_AMX_NB + 16, ldc);
    if (!cout) thm_amx_finish(tile, mr, o);
}

static THM_AMX void thm_amx_matmul_tiles(const int8_t *x, const int8_t *w, const int32_t *bias,
                                         const int32_t *mult, const int32_t *shift, int8_t *y8,
                                         int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    _Alignas(64) uint8_t P[THM_AMX_KC * THM_AMX_NB];       /* [KC/64][2][16][64] */
    _Alignas(64) int32_t part[THM_AMX_MC * THM_AMX_NB];    /* [MC][32] partial sums */
    const int one_chunk = K <= THM_AMX_KC;
    const int32_t Mc = one_chunk ? M : THM_AMX_MC;          /* one chunk: w packed once */

    thm_amx_configure();
    for (int32_t m0 = 0; m0 < M; m0 += Mc) {
        const int32_t mc = M - m0 < Mc ? M - m0 : Mc;
        for (int32_t n0 = 0; n0 < N; n0 += THM_AMX_NB) {
            thm_vnni_out o;
            o.ncols = N - n0 < THM_AMX_NB ? N - n0 : THM_AMX_NB;
            o.bias = bias ? bias + n0 : 0;
            o.mult = mult ? mult + n0 : 0;
            o.shift = shift ? shift + n0 : 0;
            o.ldy = (size_t)N;
            const int32_t nt = o.ncols > 16 ? 2 : 1;
            for (int32_t k0 = 0; k0 < K; k0 += THM_AMX_KC) {
                const int32_t kc = K - k0 < THM_AMX_KC ? K - k0 : THM_AMX_KC;
                const int first = k0 == 0, last = k0 + kc == K;
                thm_amx_pack(w + (size_t)n0 * K, (size_t)K, o.ncols, k0, kc, nt, P);
                for (int32_t m = 0; m < mc; m += 32) {
                    const int32_t mr = mc - m < 32 ? mc - m : 32;
                    const size_t off = (size_t)(m0 + m) * N + n0;
                    o.y8 = y8 ? y8 + off : 0;
                    o.y32 = y32 ? y32 + off : 0;
                    int32_t *pm = part + (size_t)m * THM_AMX_NB;
                    thm_amx_block(x, M, K, m0 + m, mr, k0, kc, P, nt, first ? 0 : pm,
                                  last ? 0 : pm, &o);
                }
            }
        }
    }
    thm_amx_release();
}

/* M >= 16 on tiles; fewer rows go to the AVX-512 VNNI dot path, which needs
 * no packing (a 16-row tile would be mostly padding). */
static void thm_amx_matmul(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
                           const int32_t *shift, int8_t *y8, int32_t *y32, int32_t M, int32_t K,
                           int32_t N)
{
    if (M < THM_AMX_MIN_M) {
        if (y8) thm_matmul_s8_avx512vnni(x, w, bias, mult, shift, y8, M, K, N);
        else thm_matmul_s8_s32_avx512vnni(x, w, bias, y32, M, K, N);
        return;
    }
    thm_amx_matmul_tiles(x, w, bias, mult, shift, y8, y32, M, K, N);
}

THM_MATMUL_ENTRIES(amx, thm_amx_matmul)
