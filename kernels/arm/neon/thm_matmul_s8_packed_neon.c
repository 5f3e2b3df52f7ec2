/* AArch64 NEON SDOT matmul on converter-packed weights (THM_LAYOUT_S8_R8K64,
 * runtime/thimble/kernels/layouts.py): y[M, N] = sat8(requantize(x . w^T + bias)).
 *
 * The layout puts a tile's 8 rows one after another per 64-k block, so one
 * pointer walks the tile with post-incremented four-register LD1 (one row's
 * 64 k per instruction), and zero padding to whole tiles and blocks leaves
 * no edge case in the loop. One assembly block runs all the tiles of a row
 * (or row pair): zero the sums, the K loop, a last block whose x comes from
 * a zero-padded copy (K % 64), then the reduction (ADDP, which also lines 4
 * columns up in one vector) and the exact requantize (thm_arm_neon_requant.h
 * has the argument; the same instructions here) straight into 8 bytes of y.
 *   M >= 2: 2 rows of x x 8 rows of w per 64 k: 2 + 8 LD1, 64 SDOT, SUBS +
 *           B.NE (76 instructions per 1024 MACs); v0..v15 accumulate.
 *   M = 1 (and an odd M's last row): 1 x 16, two tiles through two
 *           pointers: 1 + 16 LD1, 64 SDOT, SUBS + B.NE (83 per 1024 MACs);
 *           an odd last tile 1 x 8 (43 per 512).
 * The ragged last tile (N % 8) runs on stack copies of its parameters.
 * Exact for every int8 input (thm_matmul_s8_neon.c's argument: |lane| <= 2^28).
 */
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)

#include <string.h>

#include "thm_impl.h"

/* One row's 64 k: acc += x (v16..v19 or v20..v23) . w (4 registers). */
#define SDOT4(...) SDOT4_(__VA_ARGS__)   /* expands XA.. before counting */
#define SDOT4_(acc, x0, x1, x2, x3, w0, w1, w2, w3) \
    "sdot " acc ".4s, " x0 ".16b, " w0 ".16b\n" \
    "sdot " acc ".4s, " x1 ".16b, " w1 ".16b\n" \
    "sdot " acc ".4s, " x2 ".16b, " w2 ".16b\n" \
    "sdot " acc ".4s, " x3 ".16b, " w3 ".16b\n"
#define XA "v16", "v17", "v18", "v19"
#define XB "v20", "v21", "v22", "v23"
#define WA "v24", "v25", "v26", "v27"
#define WB "v28", "v29", "v30", "v31"
#define LDW_A "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[w]], #64\n"
#define LDW_B "ld1 {v28.16b, v29.16b, v30.16b, v31.16b}, [%[w]], #64\n"

/* 64 k of 1 x 8: x in v16..v19, rows into v0..v7. */
#define BLOCK_1X8(XPTR) \
    "ld1 {v16.16b, v17.16b, v18.16b, v19.16b}, [" XPTR "], #64\n" \
    LDW_A SDOT4("v0", XA, WA) LDW_B SDOT4("v1", XA, WB) \
    LDW_A SDOT4("v2", XA, WA) LDW_B SDOT4("v3", XA, WB) \
    LDW_A SDOT4("v4", XA, WA) LDW_B SDOT4("v5", XA, WB) \
    LDW_A SDOT4("v6", XA, WA) LDW_B SDOT4("v7", XA, WB)

/* 64 k of 1 x 16 (two tiles, at w and w2): x in v16..v19, rows into v0..v15. */
#define LDW2_A "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[w2]], #64\n"
#define LDW2_B "ld1 {v28.16b, v29.16b, v30.16b, v31.16b}, [%[w2]], #64\n"
#define BLOCK_1X16(XPTR) \
    BLOCK_1X8(XPTR) \
    LDW2_A SDOT4("v8", XA, WA) LDW2_B SDOT4("v9", XA, WB) \
    LDW2_A SDOT4("v10", XA, WA) LDW2_B SDOT4("v11", XA, WB) \
    LDW2_A SDOT4("v12", XA, WA) LDW2_B SDOT4("v13", XA, WB) \
    LDW2_A SDOT4("v14", XA, WA) LDW2_B SDOT4("v15", XA, WB)

/* 64 k of 2 x 8: x rows in v16..v19 and v20..v23, into v0..v7 and v8..v15. */
#define ROW_2X8(LDW, W, a0, a1) LDW SDOT4(a0, XA, W) SDOT4(a1, XB, W)
#define BLOCK_2X8(XP0, XP1) \
    "ld1 {v16.16b, v17.16b, v18.16b, v19.16b}, [" XP0 "], #64\n" \
    "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [" XP1 "], #64\n" \
    ROW_2X8(LDW_A, WA, "v0", "v8") ROW_2X8(LDW_B, WB, "v1", "v9") \
    ROW_2X8(LDW_A, WA, "v2", "v10") ROW_2X8(LDW_B, WB, "v3", "v11") \
    ROW_2X8(LDW_A, WA, "v4", "v12") ROW_2X8(LDW_B, WB, "v5", "v13") \
    ROW_2X8(LDW_A, WA, "v6", "v14") ROW_2X8(LDW_B, WB, "v7", "v15")

/* The 8 columns' parameters: v16/v17 bias, v18/v19 mult, v20/v21 left
 * shift, v22/v23 right shift (<= 0), v31 zero. */
#define EPI_PARAMS \
    "ldp q16, q17, [%[b]]\n" \
    "ldp q18, q19, [%[mu]], #32\n" \
    "ldp q20, q21, [%[sh]], #32\n" \
    "movi v31.4s, #0\n" \
    "smin v22.4s, v20.4s, v31.4s\n" "smin v23.4s, v21.4s, v31.4s\n" \
    "smax v20.4s, v20.4s, v31.4s\n" "smax v21.4s, v21.4s, v31.4s\n"

/* Accumulators a0..a7 (one per column) -> 8 int8 at [Y]. */
#define EPI_ROW(a0, a1, a2, a3, a4, a5, a6, a7, Y) \
    "addp v24.4s, " a0 ".4s, " a1 ".4s\n" "addp v25.4s, " a2 ".4s, " a3 ".4s\n" \
    "addp v26.4s, " a4 ".4s, " a5 ".4s\n" "addp v27.4s, " a6 ".4s, " a7 ".4s\n" \
    "addp v24.4s, v24.4s, v25.4s\n" "addp v25.4s, v26.4s, v27.4s\n" \
    "add v24.4s, v24.4s, v16.4s\n" "add v25.4s, v25.4s, v17.4s\n" \
    "sshl v24.4s, v24.4s, v20.4s\n" "sshl v25.4s, v25.4s, v21.4s\n" \
    "sqrdmulh v24.4s, v24.4s, v18.4s\n" "sqrdmulh v25.4s, v25.4s, v19.4s\n" \
    "and v26.16b, v24.16b, v22.16b\n" "and v27.16b, v25.16b, v23.16b\n" \
    "sshr v26.4s, v26.4s, #31\n" "sshr v27.4s, v27.4s, #31\n" \
    "sqadd v24.4s, v24.4s, v26.4s\n" "sqadd v25.4s, v25.4s, v27.4s\n" \
    "srshl v24.4s, v24.4s, v22.4s\n" "srshl v25.4s, v25.4s, v23.4s\n" \
    "sqxtn v24.4h, v24.4s\n" "sqxtn2 v24.8h, v25.4s\n" "sqxtn v24.8b, v24.8h\n" \
    "str d24, [" Y "], #8\n"

#define ZERO8(a, b, c, d, e, f, g, h) \
    "movi " a ".4s, #0\n" "movi " b ".4s, #0\n" "movi " c ".4s, #0\n" "movi " d ".4s, #0\n" \
    "movi " e ".4s, #0\n" "movi " f ".4s, #0\n" "movi " g ".4s, #0\n" "movi " h ".4s, #0\n"

#define ZERO16 \
    ZERO8("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7") \
    ZERO8("v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15")

/* The K loop: `blocks` MAIN blocks (x at the running pointer), then TAIL
 * (x from the zero-padded copy) when %[t] is set. Counts in %[n]. */
#define K_LOOP(MAIN, TAIL) \
    "cbz %[n], 2f\n" \
    "1:\n" MAIN "subs %[n], %[n], #1\n" "b.ne 1b\n" \
    "2:\n" \
    "cbz %[t], 3f\n" TAIL \
    "3:\n"

#define CLOBBERS_V0_V31 \
    "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", \
    "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", \
    "v25", "v26", "v27", "v28", "v29", "v30", "v31"

static const int32_t thm_zero8[8];

/* Row x (blocks full 64-k blocks, then `tail` blocks from xt) x `tiles`
 * consecutive 8-row tiles from w -> y[0 .. 8 * tiles - 1]. The tile loop is
 * in the assembly too (C around each tile cost 60 instructions, 0.015 per
 * MAC at K = 512): parameters and y advance by post-increment, the bias by
 * bstep (0 when it is the zero vector), and w simply walks on. */
static void thm_packed_1x8(const int8_t *x, const int8_t *xt, int64_t blocks, int64_t tail,
                           const int8_t *w, const int32_t *b, int64_t bstep, const int32_t *mu,
                           const int32_t *sh, int8_t *y, int64_t tiles)
{
    const int8_t *xp, *xtp;
    int64_t n;
    __asm__ volatile(
        "0:\n"
        "mov %[xp], %[x]\n" "mov %[xtp], %[xt]\n" "mov %[n], %[blocks]\n"
        ZERO8("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7")
        K_LOOP(BLOCK_1X8("%[xp]"), BLOCK_1X8("%[xtp]"))
        EPI_PARAMS
        "add %[b], %[b], %[bstep]\n"
        EPI_ROW("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "%[y]")
        "subs %[tiles], %[tiles], #1\n"
        "b.ne 0b\n"
        : [xp] "=&r"(xp), [xtp] "=&r"(xtp), [n] "=&r"(n), [w] "+r"(w), [b] "+r"(b),
          [mu] "+r"(mu), [sh] "+r"(sh), [y] "+r"(y), [tiles] "+r"(tiles)
        : [x] "r"(x), [xt] "r"(xt), [blocks] "r"(blocks), [t] "r"(tail), [bstep] "r"(bstep)
        : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18",
          "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",
          "v31");
}

/* Decode: row x x `pairs` pairs of tiles, 16 columns per pass (two tiles
 * read through two pointers, w and w2 = w + one tile): the x loads, the
 * loop's SUBS + B.NE and the pass's set-up are shared by 16 columns. */
static void thm_packed_1x16(const int8_t *x, const int8_t *xt, int64_t blocks, int64_t tail,
                            const int8_t *w, int64_t tile_bytes, const int32_t *b, int64_t bstep,
                            const int32_t *mu, const int32_t *sh, int8_t *y, int64_t pairs)
{
    const int8_t *xp, *xtp, *w2 = w + tile_bytes;
    int64_t n;
    __asm__ volatile(
        "0:\n"
        "mov %[xp], %[x]\n" "mov %[xtp], %[xt]\n" "mov %[n], %[blocks]\n"
        ZERO16
        K_LOOP(BLOCK_1X16("%[xp]"), BLOCK_1X16("%[xtp]"))
        EPI_PARAMS
        "add %[b], %[b], %[bstep]\n"
        EPI_ROW("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "%[y]")
        EPI_PARAMS
        "add %[b], %[b], %[bstep]\n"
        EPI_ROW("v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "%[y]")
        "mov %[w], %[w2]\n"
        "add %[w2], %[w2], %[tb]\n"
        "subs %[pairs], %[pairs], #1\n"
        "b.ne 0b\n"
        : [xp] "=&r"(xp), [xtp] "=&r"(xtp), [n] "=&r"(n), [w] "+r"(w), [w2] "+r"(w2),
          [b] "+r"(b), [mu] "+r"(mu), [sh] "+r"(sh), [y] "+r"(y), [pairs] "+r"(pairs)
        : [x] "r"(x), [xt] "r"(xt), [blocks] "r"(blocks), [t] "r"(tail), [bstep] "r"(bstep),
          [tb] "r"(tile_bytes)
        : CLOBBERS_V0_V31);
}

/* Rows x0, x1 (tails xt0, xt1) x `tiles` tiles -> y0[..], y1[..], as above. */
static void thm_packed_2x8(const int8_t *x0, const int8_t *x1, const int8_t *xt0,
                           const int8_t *xt1, int64_t blocks, int64_t tail, const int8_t *w,
                           const int32_t *b, int64_t bstep, const int32_t *mu, const int32_t *sh,
                           int8_t *y0, int8_t *y1, int64_t tiles)
{
    const int8_t *xp0, *xp1;
    int64_t n;
    __asm__ volatile(
        "0:\n"
        "mov %[xp0], %[x0]\n" "mov %[xp1], %[x1]\n" "mov %[n], %[blocks]\n"
        ZERO16
        K_LOOP(BLOCK_2X8("%[xp0]", "%[xp1]"),
               "mov %[xp0], %[xt0]\n" "mov %[xp1], %[xt1]\n" BLOCK_2X8("%[xp0]", "%[xp1]"))
        EPI_PARAMS
        "add %[b], %[b], %[bstep]\n"
        EPI_ROW("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "%[y0]")
        EPI_ROW("v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "%[y1]")
        "subs %[tiles], %[tiles], #1\n"
        "b.ne 0b\n"
        : [xp0] "=&r"(xp0), [xp1] "=&r"(xp1), [n] "=&r"(n), [w] "+r"(w), [b] "+r"(b),
          [mu] "+r"(mu), [sh] "+r"(sh), [y0] "+r"(y0), [y1] "+r"(y1), [tiles] "+r"(tiles)
        : [x0] "r"(x0), [x1] "r"(x1), [xt0] "r"(xt0), [xt1] "r"(xt1), [blocks] "r"(blocks),
          [t] "r"(tail), [bstep] "r"(bstep)
        : CLOBBERS_V0_V31);
}

/* One or two rows of x (rows = 1, 2) against every tile of w: the full tiles
 * in one call, the ragged last one (N % 8) with its parameters and outputs
 * on the stack. */
static void thm_packed_rows(const int8_t *x, int32_t rows, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, int8_t *y, int32_t K,
                            int32_t N)
{
    const int64_t full = K / 64, tail = (K % 64) != 0;
    int8_t xt[2][64];     /* the rows' last K % 64 bytes, zero-padded */
    if (tail) {           /* (the firmware's memset is a byte loop: only when needed) */
        memset(xt, 0, sizeof xt);
        for (int32_t i = 0; i < rows; i++)
            memcpy(xt[i], x + (size_t)i * K + full * 64, (size_t)(K % 64));
    }
    const int32_t tiles = N / 8, nv = N % 8, n = tiles * 8;
    const int64_t bstep = bias ? 32 : 0;
    const int32_t *b = bias ? bias : thm_zero8;
    const int64_t tile_bytes = (full + tail) * 512;
    if (rows == 2 && tiles > 0)
        thm_packed_2x8(x, x + K, xt[0], xt[1], full, tail, w, b, bstep, mult, shift, y, y + N,
                       tiles);
    if (rows == 1 && tiles >= 2)
        thm_packed_1x16(x, xt[0], full, tail, w, tile_bytes, b, bstep, mult, shift, y, tiles / 2);
    if (rows == 1 && tiles % 2) {
        const int32_t t = tiles - 1;
        thm_packed_1x8(x, xt[0], full, tail, w + t * tile_bytes, bias ? b + 8 * t : b, bstep,
                       mult + 8 * t, shift + 8 * t, y + 8 * t, 1);
    }
    if (nv == 0) return;
    int32_t pb[8] = {0}, pm[8] = {0}, ps[8] = {0};
    int8_t out[2][8];
    for (int32_t j = 0; j < nv; j++) {
        pb[j] = bias ? bias[n + j] : 0;
        pm[j] = mult[n + j];
        ps[j] = shift[n + j];
    }
    const int8_t *wt = w + tiles * tile_bytes;
    if (rows == 2)
        thm_packed_2x8(x, x + K, xt[0], xt[1], full, tail, wt, pb, 0, pm, ps, out[0], out[1], 1);
    else
        thm_packed_1x8(x, xt[0], full, tail, wt, pb, 0, pm, ps, out[0], 1);
    for (int32_t i = 0; i < rows; i++) memcpy(y + (size_t)i * N + n, out[i], (size_t)nv);
}

void thm_matmul_s8_packed_neon(const int8_t *x, const void *wp, const int32_t *bias,
                               const int32_t *mult, const int32_t *shift, int8_t *y,
                               int32_t M, int32_t K, int32_t N)
{
    int32_t m = 0;
    for (; m + 2 <= M; m += 2)
        thm_packed_rows(x + (size_t)m * K, 2, wp, bias, mult, shift, y + (size_t)m * N, K, N);
    if (m < M)
        thm_packed_rows(x + (size_t)m * K, 1, wp, bias, mult, shift, y + (size_t)m * N, K, N);
}

#endif /* __aarch64__ && __ARM_FEATURE_DOTPROD */
