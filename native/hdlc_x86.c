/* x86-64 SIMD paths for the framing core, chosen at run time with __builtin_cpu_supports.
 *
 * Each function carries its own target attribute, so the file builds with the default flags
 * and one binary runs on any x86-64; hdlc.c only calls in here when hdlc_x86_detect() said so.
 *
 * - FCS: carry-less multiply folding for reflected CRCs.  A 16-byte block X followed by D bits
 *   equals, modulo P, lo(X)*x^(D+64) + hi(X)*x^D; with bit-reflected operands PCLMULQDQ yields
 *   that product shifted by one, hence the constants x^(D+63) mod P and x^(D-1) mod P, computed
 *   at start-up for both polynomials.  The last folded block and the tail go through the
 *   slice-by-8 tables, which avoids a Barrett reduction.
 * - Escaping: each 16-byte block gets a mask of bytes to escape; blocks without any are copied,
 *   others are expanded 8 bytes at a time with PSHUFB (a 256-entry table per mask gives where
 *   every input byte lands and where 0x7D goes).
 * - Unescaping: the mirror image, compressing 8 bytes at a time by the mask of bytes to keep;
 *   AVX2 does it on 32-byte blocks.
 * - With AVX-512 VBMI2 both directions use VPCOMPRESSB on 64-byte blocks instead, and byte-masked
 *   loads and stores for a frame's flag block and the input's tail; with VPCLMULQDQ the FCS folds
 *   four 512-bit registers (256 bytes) per step.
 * - Inside a frame the unescape loops never let the next load wait on this block's masks: the
 *   position moves by a whole block and only a flag, an escape in the last byte or an escape
 *   pair leaves the loop (measured: a data-dependent step cost a third of the AVX-512 speed).
 */
#include "hdlc.h"
#include "hdlc_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#define T_SSSE3 __attribute__((target("ssse3")))
#define T_AVX2 __attribute__((target("avx2,popcnt")))
#define T_CLMUL __attribute__((target("pclmul,sse4.1")))
#define T_VPCLMUL __attribute__((target("avx512f,avx512bw,vpclmulqdq,pclmul,sse4.1")))
#define T_AVX512 \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2,popcnt")))

/* ---- constants ---------------------------------------------------------------------------- */
typedef struct {
    uint64_t k128_lo, k128_hi; /* fold by 128 bits */
    uint64_t k512_lo, k512_hi; /* fold by 512 bits (four accumulators) */
    uint64_t k2048_lo, k2048_hi; /* fold by 2048 bits (four 512-bit accumulators) */
    uint64_t kz[4][2];           /* fold 512-bit accumulator j by (3 - j) * 512 bits */
    uint64_t kl[4][2];           /* fold lane j of a 512-bit register by (3 - j) * 128 bits */
} fold_consts;

static fold_consts c16, c32;
static uint8_t exp_idx[256][16], exp_esc[256][16], cmp_idx[256][16];
static uint8_t popc8[256];

/* x^n mod P in normal bit order (bit d <-> x^d); P has degree w. */
static uint64_t xpow_mod(unsigned n, uint64_t P, unsigned w)
{
    uint64_t r = 1;
    while (n--) {
        r <<= 1;
        if (r >> w & 1)
            r ^= P;
    }
    return r;
}

/* reflect a polynomial of degree < 64 into 64 bits: x^d -> bit 63-d */
static uint64_t refl64(uint64_t v)
{
    uint64_t r = 0;
    for (int d = 0; d < 64; d++)
        if (v >> d & 1)
            r |= 1ull << (63 - d);
    return r;
}

static void make_consts(fold_consts *c, uint64_t P, unsigned w)
{
    c->k128_lo = refl64(xpow_mod(128 + 63, P, w));
    c->k128_hi = refl64(xpow_mod(128 - 1, P, w));
    c->k512_lo = refl64(xpow_mod(512 + 63, P, w));
    c->k512_hi = refl64(xpow_mod(512 - 1, P, w));
    c->k2048_lo = refl64(xpow_mod(2048 + 63, P, w));
    c->k2048_hi = refl64(xpow_mod(2048 - 1, P, w));
    for (unsigned j = 0; j < 3; j++) {
        unsigned dz = (3 - j) * 512, dl = (3 - j) * 128;
        c->kz[j][0] = refl64(xpow_mod(dz + 63, P, w));
        c->kz[j][1] = refl64(xpow_mod(dz - 1, P, w));
        c->kl[j][0] = refl64(xpow_mod(dl + 63, P, w));
        c->kl[j][1] = refl64(xpow_mod(dl - 1, P, w));
    }
}

static void make_shuffles(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned j = 0, k = 0;
        memset(exp_idx[m], 0x80, 16);
        memset(cmp_idx[m], 0x80, 16);
        for (unsigned i = 0; i < 8; i++) {
            if (m >> i & 1) {
                exp_esc[m][j] = 0xFF;
                exp_idx[m][j++] = 0x80;
            } else {
                cmp_idx[m][k++] = (uint8_t)i; /* for compression m is the mask of bytes to drop */
            }
            exp_idx[m][j++] = (uint8_t)i;
        }
        popc8[m] = (uint8_t)__builtin_popcount(m);
    }
}

unsigned hdlc_x86_detect(void)
{
    unsigned f = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("ssse3"))
        f |= HDLC_SIMD_SSSE3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        f |= HDLC_SIMD_AVX2;
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        f |= HDLC_SIMD_PCLMUL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") &&
        __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi2") &&
        __builtin_cpu_supports("popcnt"))
        f |= HDLC_SIMD_AVX512;
    if ((f & HDLC_SIMD_PCLMUL) && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("vpclmulqdq"))
        f |= HDLC_SIMD_VPCLMUL;
    make_consts(&c16, 0x11021, 16);     /* x^16 + x^12 + x^5 + 1 */
    make_consts(&c32, 0x104C11DB7ull, 32);
    make_shuffles();
    return f;
}

/* ---- FCS by folding ------------------------------------------------------------------------ */
T_CLMUL static inline __attribute__((always_inline)) __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* shuffle indices for the tail: SHIFT + 16 + j holds j, the bytes around it 0x80 (zero) */
static const uint8_t SHIFT[48] = {
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};

/* Fold the last whole 16-byte blocks into x, then the last r < 16 bytes: x || tail is
 * A * x^128 + B, A the first r bytes of x (right-aligned in a block, leading zero bytes do not
 * change a polynomial) and B the 16 bytes after them, so it folds like one more block.  The
 * bytes before p[0] were already consumed, so the tail is read with one 16-byte load ending at
 * p + r.  Leaves exactly 16 bytes for the table finish. */
T_CLMUL static inline __attribute__((always_inline)) const uint8_t *fold_tail(__m128i x, __m128i k128, const uint8_t *p, size_t n,
                                         uint8_t last[16])
{
    while (n >= 16) {
        x = _mm_xor_si128(fold(x, k128), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    if (n) {
        __m128i ia = _mm_loadu_si128((const __m128i *)(SHIFT + n));      /* i >= 16-n: i-(16-n) */
        __m128i ib = _mm_loadu_si128((const __m128i *)(SHIFT + 16 + n)); /* i < 16-n: i+n */
        __m128i end = _mm_loadu_si128((const __m128i *)(p + n - 16));
        __m128i a = _mm_shuffle_epi8(x, ia);
        __m128i b = _mm_blendv_epi8(end, _mm_shuffle_epi8(x, ib), ia);
        x = _mm_xor_si128(fold(a, k128), b);
        p += n;
    }
    _mm_storeu_si128((__m128i *)last, x);
    return p;
}

/* crc0 of p[0..n) after XORing `init` (w/8 bytes, little-endian) into the first bytes; n >= 64.
 * Returns the folded 16 bytes in `last`; the caller finishes with the tables. */
T_CLMUL static const uint8_t *fold_all(const fold_consts *c, uint32_t init, const uint8_t *p,
                                        size_t *np, uint8_t last[16])
{
    size_t n = *np;
    __m128i k512 = _mm_set_epi64x((long long)c->k512_hi, (long long)c->k512_lo);
    __m128i k128 = _mm_set_epi64x((long long)c->k128_hi, (long long)c->k128_lo);
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)init));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    p += 64;
    n -= 64;
    while (n >= 64) {
        x0 = _mm_xor_si128(fold(x0, k512), _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold(x1, k512), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold(x2, k512), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold(x3, k512), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    /* the four accumulators at once, each by its own distance (384, 256, 128 bits) */
    __m128i x = _mm_xor_si128(_mm_xor_si128(fold(x0, _mm_loadu_si128((const __m128i *)c->kl[0])),
                                            fold(x1, _mm_loadu_si128((const __m128i *)c->kl[1]))),
                              _mm_xor_si128(fold(x2, k128), x3));
    return fold_tail(x, k128, p, n, last);
}

uint16_t hdlc_x86_crc16(uint16_t c, const uint8_t *p, size_t n)
{
    uint8_t last[16];
    fold_all(&c16, c, p, &n, last);
    return hdlc_crc16_tab(0, last, 16);
}

uint32_t hdlc_x86_crc32(uint32_t c, const uint8_t *p, size_t n)
{
    uint8_t last[16];
    fold_all(&c32, c, p, &n, last);
    return hdlc_crc32_tab(0, last, 16);
}

/* The same fold on 512-bit registers: four of them (256 bytes per step) keep VPCLMULQDQ's
 * latency hidden; what is left goes 64 bytes, then 16, then the tail. */
T_VPCLMUL static inline __m512i fold512(__m512i x, __m512i k, __m512i data)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), data, 0x96);
}

T_VPCLMUL static void fold_all_512(const fold_consts *c, uint32_t init, const uint8_t *p, size_t n,
                                   uint8_t last[16])
{
    const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)c->k2048_hi,
                                                                (long long)c->k2048_lo));
    const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)c->k512_hi,
                                                               (long long)c->k512_lo));
    const __m128i k128 = _mm_set_epi64x((long long)c->k128_hi, (long long)c->k128_lo);
    __m512i x = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)init)));
    p += 64;
    n -= 64;
    if (n >= 192) {
        __m512i x1 = _mm512_loadu_si512(p), x2 = _mm512_loadu_si512(p + 64);
        __m512i x3 = _mm512_loadu_si512(p + 128);
        p += 192;
        n -= 192;
        while (n >= 256) {
            x = fold512(x, k2048, _mm512_loadu_si512(p));
            x1 = fold512(x1, k2048, _mm512_loadu_si512(p + 64));
            x2 = fold512(x2, k2048, _mm512_loadu_si512(p + 128));
            x3 = fold512(x3, k2048, _mm512_loadu_si512(p + 192));
            p += 256;
            n -= 256;
        }
        /* the four accumulators in one step, each by its own distance, not three in a row */
        x = _mm512_ternarylogic_epi64(
            fold512(x, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)c->kz[0])), x3),
            fold512(x1, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)c->kz[1])),
                    _mm512_setzero_si512()),
            fold512(x2, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)c->kz[2])),
                    _mm512_setzero_si512()),
            0x96);
    }
    while (n >= 64) {
        x = fold512(x, k512, _mm512_loadu_si512(p));
        p += 64;
        n -= 64;
    }
    /* the four lanes likewise: lanes 0-2 folded by 384/256/128 bits at once, lane 3 kept */
    __m512i kl = _mm512_loadu_si512(c->kl);
    __m512i z = _mm512_mask_blend_epi64(0xC0, fold512(x, kl, _mm512_setzero_si512()), x);
    __m256i h = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1));
    __m128i y = _mm_xor_si128(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    fold_tail(y, k128, p, n, last);
}

uint16_t hdlc_x86_crc16_512(uint16_t c, const uint8_t *p, size_t n)
{
    uint8_t last[16];
    fold_all_512(&c16, c, p, n, last);
    return hdlc_crc16_tab(0, last, 16);
}

uint32_t hdlc_x86_crc32_512(uint32_t c, const uint8_t *p, size_t n)
{
    uint8_t last[16];
    fold_all_512(&c32, c, p, n, last);
    return hdlc_crc32_tab(0, last, 16);
}

/* ---- which bytes need escaping / dropping ------------------------------------------------- */
typedef struct {
    __m128i accm_bytes; /* accm little-endian in bytes 0..3 */
    int mode;           /* 0: ACCM 0, 1: ACCM all ones, 2: any other */
} ctl;

T_SSSE3 static inline ctl make_ctl(uint32_t accm)
{
    ctl k;
    k.accm_bytes = _mm_cvtsi32_si128((int)accm);
    k.mode = accm == 0 ? 0 : accm == 0xFFFFFFFFu ? 1 : 2;
    return k;
}

/* 0xFF where v holds a control byte (< 0x20) flagged in the ACCM */
T_SSSE3 static inline __m128i flagged_ctrl(__m128i v, const ctl *k)
{
    __m128i lt32 = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
    if (k->mode == 1)
        return lt32;
    __m128i which = _mm_shuffle_epi8(k->accm_bytes, _mm_and_si128(_mm_srli_epi16(v, 3), _mm_set1_epi8(3)));
    __m128i bits = _mm_shuffle_epi8(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128),
                                    _mm_and_si128(v, _mm_set1_epi8(7)));
    __m128i set = _mm_cmpeq_epi8(_mm_and_si128(which, bits), bits);
    return _mm_and_si128(set, lt32);
}

/* ---- escaping ----------------------------------------------------------------------------- */
T_SSSE3 static inline __attribute__((always_inline)) uint8_t *expand8(uint8_t *o, __m128i xv, unsigned m)
{
    __m128i e = _mm_loadu_si128((const __m128i *)exp_esc[m]);
    __m128i s = _mm_shuffle_epi8(xv, _mm_loadu_si128((const __m128i *)exp_idx[m]));
    s = _mm_or_si128(_mm_andnot_si128(e, s), _mm_and_si128(e, _mm_set1_epi8(0x7D)));
    _mm_storeu_si128((__m128i *)o, s);
    return o + 8 + popc8[m];
}

T_SSSE3 static size_t escape_ssse3(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm)
{
    ctl k = make_ctl(accm);
    uint8_t *o = out;
    size_t i = 0;
    const __m128i f7e = _mm_set1_epi8(0x7E), f7d = _mm_set1_epi8(0x7D), x20 = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i sp = _mm_or_si128(_mm_cmpeq_epi8(v, f7e), _mm_cmpeq_epi8(v, f7d));
        if (k.mode)
            sp = _mm_or_si128(sp, flagged_ctrl(v, &k));
        unsigned m = (unsigned)_mm_movemask_epi8(sp);
        if (!m) {
            _mm_storeu_si128((__m128i *)o, v);
            o += 16;
            continue;
        }
        __m128i xv = _mm_xor_si128(v, _mm_and_si128(sp, x20));
        o = expand8(o, xv, m & 0xFF);
        o = expand8(o, _mm_srli_si128(xv, 8), m >> 8);
    }
    return (size_t)(o - out) + hdlc_escape_lut(o, in + i, n - i, accm);
}

/* ACCM 0 with few escapes: scan 32 bytes at a time, expand only blocks that need it. */
T_AVX2 static size_t escape_avx2_accm0(uint8_t *out, const uint8_t *in, size_t n)
{
    uint8_t *o = out;
    size_t i = 0;
    const __m256i f7e = _mm256_set1_epi8(0x7E), f7d = _mm256_set1_epi8(0x7D);
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(in + i));
        __m256i sp = _mm256_or_si256(_mm256_cmpeq_epi8(v, f7e), _mm256_cmpeq_epi8(v, f7d));
        uint32_t m = (uint32_t)_mm256_movemask_epi8(sp);
        if (!m) {
            _mm256_storeu_si256((__m256i *)o, v);
            o += 32;
            continue;
        }
        __m256i xv = _mm256_xor_si256(v, _mm256_and_si256(sp, _mm256_set1_epi8(0x20)));
        __m128i lo = _mm256_castsi256_si128(xv), hi = _mm256_extracti128_si256(xv, 1);
        o = expand8(o, lo, m & 0xFF);
        o = expand8(o, _mm_srli_si128(lo, 8), (m >> 8) & 0xFF);
        o = expand8(o, hi, (m >> 16) & 0xFF);
        o = expand8(o, _mm_srli_si128(hi, 8), m >> 24);
    }
    return (size_t)(o - out) + escape_ssse3(o, in + i, n - i, 0);
}

/* AVX-512 VBMI2: lay every byte out as the pair (0x7D, byte ^ 0x20 if escaped), then VPCOMPRESSB
 * keeps the data bytes and only the 0x7D of escaped ones.  No branch depends on where in a block
 * the escapes are; 64-byte blocks without any are stored as they are, and the tail is read and
 * written with byte masks, so no byte-sized loop is left. */
T_AVX512 static inline __mmask64 special64(__m512i v, uint32_t accm, __m512i accm_b, __m512i bitsel)
{
    __mmask64 m = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7E)) |
                  _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7D));
    if (accm) {
        __mmask64 lt = _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20));
        if (accm != 0xFFFFFFFFu) {
            __m512i which = _mm512_shuffle_epi8(accm_b, _mm512_and_si512(_mm512_srli_epi16(v, 3),
                                                                         _mm512_set1_epi8(3)));
            __m512i bits = _mm512_shuffle_epi8(bitsel, _mm512_and_si512(v, _mm512_set1_epi8(7)));
            lt &= _mm512_test_epi8_mask(which, bits);
        }
        m |= lt;
    }
    return m;
}

/* Escape 32 bytes of xv (XORed with 0x20 where escaped; `pairs` picks the half), m the escaped
 * ones, valid the bytes present; returns the bytes made (all stored, exactly if masked). */
T_AVX512 static inline size_t expand32(uint8_t *o, __m512i xv, uint32_t m, uint32_t valid,
                                       __m512i pairs, int masked)
{
    __m512i w = _mm512_permutexvar_epi8(pairs, xv);
    w = _mm512_mask_blend_epi8(0x5555555555555555ull, w, _mm512_set1_epi8(0x7D));
    uint64_t keep = _pdep_u64(valid, 0xAAAAAAAAAAAAAAAAull) | _pdep_u64(m, 0x5555555555555555ull);
    size_t made = (size_t)_mm_popcnt_u64(keep);
    w = _mm512_maskz_compress_epi8(keep, w);
    if (masked)
        _mm512_mask_storeu_epi8(o, made == 64 ? ~0ull : (1ull << made) - 1, w);
    else
        _mm512_storeu_si512(o, w);
    return made;
}

T_AVX512 static size_t escape_avx512(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm)
{
    uint8_t *o = out;
    size_t i = 0;
    const __m512i accm_b = _mm512_broadcast_i32x4(_mm_cvtsi32_si128((int)accm));
    const __m512i bitsel = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4,
                                                                8, 16, 32, 64, -128));
    const __m512i c20 = _mm512_set1_epi8(0x20);
    uint8_t ix[64];
    for (int k = 0; k < 64; k++)
        ix[k] = (uint8_t)(k >> 1);
    const __m512i pairs = _mm512_loadu_si512(ix); /* byte 2k and 2k+1 <- input byte k */
    const __m512i pairs_hi = _mm512_add_epi8(pairs, _mm512_set1_epi8(32));
    for (; i + 64 <= n; i += 64) {
        __m512i v = _mm512_loadu_si512(in + i);
        __mmask64 m = special64(v, accm, accm_b, bitsel);
        if (!m) {
            _mm512_storeu_si512(o, v);
            o += 64;
            continue;
        }
        /* a whole 64-byte store per half stays inside hdlc_encode_bound: 32 input bytes
         * follow each half */
        __m512i xv = _mm512_mask_blend_epi8(m, v, _mm512_xor_si512(v, c20));
        o += expand32(o, xv, (uint32_t)m, 0xFFFFFFFFu, pairs, 0);
        o += expand32(o, xv, (uint32_t)(m >> 32), 0xFFFFFFFFu, pairs_hi, 0);
    }
    for (; i < n; i += 32) { /* the last 0..63 bytes, exact byte masks for both load and store */
        size_t r = n - i < 32 ? n - i : 32;
        uint32_t valid = r == 32 ? 0xFFFFFFFFu : (1u << r) - 1;
        __m512i v = _mm512_maskz_loadu_epi8(valid, in + i);
        uint32_t m = (uint32_t)special64(v, accm, accm_b, bitsel) & valid;
        __m512i xv = _mm512_mask_blend_epi8(m, v, _mm512_xor_si512(v, c20));
        o += expand32(o, xv, m, valid, pairs, 1);
    }
    return (size_t)(o - out);
}

size_t hdlc_x86_escape(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm, unsigned features)
{
    if (features & HDLC_SIMD_AVX512)
        return escape_avx512(out, in, n, accm);
    if (accm == 0 && (features & HDLC_SIMD_AVX2))
        return escape_avx2_accm0(out, in, n);
    return escape_ssse3(out, in, n, accm);
}

/* ---- unescaping --------------------------------------------------------------------------- */
T_SSSE3 static inline __attribute__((always_inline)) uint8_t *compress8(uint8_t *o, __m128i v, unsigned drop)
{
    _mm_storeu_si128((__m128i *)o, _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)cmp_idx[drop])));
    return o + 8 - popc8[drop];
}

T_SSSE3 static void unescape_ssse3(uint8_t *out, const uint8_t *in, size_t n, size_t room,
                                   uint32_t accm, size_t *used, size_t *made, uint64_t *dropped)
{
    ctl k = make_ctl(accm);
    uint8_t *o = out;
    size_t i = 0;
    uint64_t nd = 0;
    const __m128i f7e = _mm_set1_epi8(0x7E), f7d = _mm_set1_epi8(0x7D), x20 = _mm_set1_epi8(0x20);
    while (i + 16 <= n && (size_t)(o - out) + 16 <= room) {
        __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, f7e)))
            break;
        __m128i ev = _mm_cmpeq_epi8(v, f7d);
        unsigned esc = (unsigned)_mm_movemask_epi8(ev);
        unsigned drop = 0;
        if (k.mode)
            drop = (unsigned)_mm_movemask_epi8(flagged_ctrl(v, &k));
        if (!(esc | drop)) {
            _mm_storeu_si128((__m128i *)o, v);
            o += 16;
            i += 16;
            continue;
        }
        /* an escape must be followed, inside the block, by the byte it escapes; one in the
         * last byte is left for the next block (which then starts with it) */
        size_t adv = 16;
        unsigned gone = esc | drop;
        if (esc & 0x8000) {
            adv = 15;
            drop &= 0x7FFF;
        }
        if ((esc << 1) & (esc | drop) & 0xFFFF)
            break;
        __m128i xv = _mm_xor_si128(v, _mm_and_si128(_mm_slli_si128(ev, 1), x20));
        o = compress8(o, xv, gone & 0xFF);
        o = compress8(o, _mm_srli_si128(xv, 8), gone >> 8);
        nd += popc8[drop & 0xFF] + popc8[drop >> 8];
        i += adv;
    }
    *used = i;
    *made = (size_t)(o - out);
    *dropped += nd;
}

/* AVX2: 32-byte blocks with the same steady state as the AVX-512 loop below (i never waits for
 * the masks); blocks with escapes or dropped bytes are compressed 8 bytes at a time.  A flag
 * block is done up to the flag, and a run's last block is checked against `room` exactly. */
typedef struct {
    __m256i ev;       /* 0xFF at escapes */
    uint32_t f, e, d; /* flags, escapes, flagged control bytes */
} masks256;

T_AVX2 static inline __attribute__((always_inline)) masks256
classify256(__m256i v, uint32_t accm, __m256i accm_b, __m256i bitsel)
{
    masks256 k;
    k.ev = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7D));
    k.f = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7E)));
    k.e = (uint32_t)_mm256_movemask_epi8(k.ev);
    k.d = 0;
    if (accm) {
        __m256i lt = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1F)), v);
        if (accm != 0xFFFFFFFFu) {
            __m256i which = _mm256_shuffle_epi8(accm_b, _mm256_and_si256(_mm256_srli_epi16(v, 3),
                                                                         _mm256_set1_epi8(3)));
            __m256i bits = _mm256_shuffle_epi8(bitsel, _mm256_and_si256(v, _mm256_set1_epi8(7)));
            lt = _mm256_and_si256(lt, _mm256_cmpeq_epi8(_mm256_and_si256(which, bits), bits));
        }
        k.d = (uint32_t)_mm256_movemask_epi8(lt);
    }
    return k;
}

/* v without the `gone` bytes, each byte after an escape XORed with 0x20; stores reach o + 40 */
T_AVX2 static inline __attribute__((always_inline)) uint8_t *
drop256(uint8_t *o, __m256i v, __m256i ev, uint32_t gone)
{
    /* 0x20 where the byte before was an escape: ev moved up one byte across the lanes */
    __m256i prev = _mm256_alignr_epi8(ev, _mm256_permute2x128_si256(ev, ev, 0x08), 15);
    __m256i xv = _mm256_xor_si256(v, _mm256_and_si256(prev, _mm256_set1_epi8(0x20)));
    __m128i lo = _mm256_castsi256_si128(xv), hi = _mm256_extracti128_si256(xv, 1);
    /* where each 8-byte piece lands, from POPCNT off the chain through o (a table lookup per
     * piece made the four stores wait on each other) */
    uint32_t keep = ~gone;
    size_t a = (size_t)__builtin_popcount(keep & 0xFF), b = a + (size_t)__builtin_popcount(keep & 0xFF00);
    size_t c = b + (size_t)__builtin_popcount(keep & 0xFF0000);
    _mm_storeu_si128((__m128i *)o, _mm_shuffle_epi8(lo, _mm_loadu_si128((const __m128i *)cmp_idx[gone & 0xFF])));
    _mm_storeu_si128((__m128i *)(o + a), _mm_shuffle_epi8(_mm_srli_si128(lo, 8),
                                                          _mm_loadu_si128((const __m128i *)cmp_idx[(gone >> 8) & 0xFF])));
    _mm_storeu_si128((__m128i *)(o + b), _mm_shuffle_epi8(hi, _mm_loadu_si128((const __m128i *)cmp_idx[(gone >> 16) & 0xFF])));
    _mm_storeu_si128((__m128i *)(o + c), _mm_shuffle_epi8(_mm_srli_si128(hi, 8),
                                                          _mm_loadu_si128((const __m128i *)cmp_idx[gone >> 24])));
    return o + (size_t)__builtin_popcount(keep);
}

T_AVX2 static void unescape_avx2(uint8_t *out, const uint8_t *in, size_t n, size_t room,
                                 uint32_t accm, size_t *used, size_t *made, uint64_t *dropped)
{
    uint8_t *o = out;
    size_t i = 0;
    uint64_t nd = 0;
    const __m256i accm_b = _mm256_broadcastsi128_si256(_mm_cvtsi32_si128((int)accm));
    const __m256i bitsel = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128,
                                            1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    while (i + 32 <= n) {
        while (i + 32 <= n && (size_t)(o - out) + 32 <= room) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(in + i));
            masks256 k = classify256(v, accm, accm_b, bitsel);
            if (k.f | (k.e >> 31) | ((k.e << 1) & (k.e | k.d)))
                break;
            i += 32;
            if (!(k.e | k.d)) {
                _mm256_storeu_si256((__m256i *)o, v);
                o += 32;
                continue;
            }
            o = drop256(o, v, k.ev, k.e | k.d);
            nd += (uint64_t)__builtin_popcount(k.d);
        }
        if (i + 32 > n)
            break;
        /* one block the steady state left: up to a flag (an escape just before it, an abort, is
         * left to the byte path), or the last of a run near `room`; an escape pair stops here */
        __m256i v = _mm256_loadu_si256((const __m256i *)(in + i));
        masks256 k = classify256(v, accm, accm_b, bitsel);
        unsigned lim = k.f ? (unsigned)__builtin_ctz(k.f) : 32;
        uint32_t in_lim = lim == 32 ? 0xFFFFFFFFu : (1u << lim) - 1;
        uint32_t e = k.e & in_lim, d = k.d & in_lim;
        if ((e << 1) & (e | d))
            break;
        unsigned adv = lim && (e >> (lim - 1) & 1) ? lim - 1 : lim;
        uint32_t gone = e | d | ~in_lim;
        if ((size_t)(o - out) + 32 - (size_t)__builtin_popcount(gone) > room)
            break;
        o = drop256(o, v, k.ev, gone);
        nd += (uint64_t)__builtin_popcount(d);
        i += adv;
        if (lim < 32) /* at the flag; a block that ends in an escape goes on from it */
            break;
    }
    *used = i;
    *made = (size_t)(o - out);
    *dropped += nd;
}

/* AVX-512 VBMI2: 64 bytes at a time, VPCOMPRESSB drops escapes and flagged control bytes.
 * A block holding a flag is done up to the flag, and the input's tail is read with a byte
 * mask, so a frame of any length ends here without a byte loop. */
T_AVX512 static void unescape_avx512(uint8_t *out, const uint8_t *in, size_t n, size_t room,
                                     uint32_t accm, size_t *used, size_t *made, uint64_t *dropped)
{
    uint8_t *o = out;
    size_t i = 0;
    uint64_t nd = 0;
    const __m512i accm_b = _mm512_broadcast_i32x4(_mm_cvtsi32_si128((int)accm));
    const __m512i bitsel = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4,
                                                                8, 16, 32, 64, -128));
    const __m512i c20 = _mm512_set1_epi8(0x20);
    while (i < n) {
        /* the steady state inside a frame: whole blocks, no flag, every escape paired inside
         * the block.  No branch on the data but the exit, and i does not wait for the masks. */
        while (i + 64 <= n && (size_t)(o - out) + 64 <= room) {
            __m512i v = _mm512_loadu_si512(in + i);
            uint64_t f = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7E));
            uint64_t e = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7D));
            uint64_t d = 0;
            if (accm) {
                d = _mm512_cmplt_epu8_mask(v, c20);
                if (accm != 0xFFFFFFFFu) {
                    __m512i which = _mm512_shuffle_epi8(
                        accm_b, _mm512_and_si512(_mm512_srli_epi16(v, 3), _mm512_set1_epi8(3)));
                    __m512i bits = _mm512_shuffle_epi8(bitsel, _mm512_and_si512(v, _mm512_set1_epi8(7)));
                    d &= _mm512_test_epi8_mask(which, bits);
                }
            }
            if (f | (e >> 63) | ((e << 1) & (e | d)))
                break;
            uint64_t keep = ~(e | d);
            __m512i xv = _mm512_mask_blend_epi8(e << 1, v, _mm512_xor_si512(v, c20));
            _mm512_storeu_si512(o, _mm512_maskz_compress_epi8(keep, xv));
            o += (size_t)_mm_popcnt_u64(keep);
            nd += (uint64_t)_mm_popcnt_u64(d);
            i += 64;
        }
        if (i >= n)
            break;
        size_t r = n - i;
        uint64_t valid = r >= 64 ? ~0ull : (1ull << r) - 1;
        __m512i v = r >= 64 ? _mm512_loadu_si512(in + i) : _mm512_maskz_loadu_epi8(valid, in + i);
        uint64_t f = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7E)) & valid;
        size_t lim = f ? (size_t)__builtin_ctzll(f) : (r >= 64 ? 64 : r);
        uint64_t in_lim = lim == 64 ? ~0ull : (1ull << lim) - 1;
        uint64_t e = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(0x7D)) & in_lim;
        uint64_t d = 0;
        if (accm) {
            d = _mm512_cmplt_epu8_mask(v, c20);
            if (accm != 0xFFFFFFFFu) {
                __m512i which = _mm512_shuffle_epi8(accm_b, _mm512_and_si512(_mm512_srli_epi16(v, 3),
                                                                             _mm512_set1_epi8(3)));
                __m512i bits = _mm512_shuffle_epi8(bitsel, _mm512_and_si512(v, _mm512_set1_epi8(7)));
                d &= _mm512_test_epi8_mask(which, bits);
            }
            d &= in_lim;
        }
        if (!(e | d)) {
            if ((size_t)(o - out) + lim > room)
                break;
            _mm512_storeu_si512(o, v);
            o += lim;
            i += lim;
            if (lim < 64)
                break;
            continue;
        }
        /* an escape must be followed, inside the block, by the byte it escapes: one just before
         * the limit is left for the next block or the byte path (it then starts with it) */
        size_t adv = lim && (e >> (lim - 1) & 1) ? lim - 1 : lim;
        if ((e << 1) & (e | d))
            break;
        uint64_t keep = ~(e | d) & in_lim;
        if ((size_t)(o - out) + (size_t)_mm_popcnt_u64(keep) > room)
            break;
        __m512i xv = _mm512_mask_blend_epi8(e << 1, v, _mm512_xor_si512(v, c20));
        _mm512_storeu_si512(o, _mm512_maskz_compress_epi8(keep, xv));
        o += (size_t)_mm_popcnt_u64(keep);
        nd += (uint64_t)_mm_popcnt_u64(d);
        i += adv;
        if (lim < 64)
            break;
    }
    *used = i;
    *made = (size_t)(o - out);
    *dropped += nd;
}

void hdlc_x86_unescape(uint8_t *out, const uint8_t *in, size_t n, size_t room, uint32_t accm,
                       unsigned features, size_t *used, size_t *made, uint64_t *dropped)
{
    size_t u = 0, m = 0, u2 = 0, m2 = 0;
    if (features & HDLC_SIMD_AVX512)
        unescape_avx512(out, in, n, room, accm, &u, &m, dropped);
    else if (features & HDLC_SIMD_AVX2)
        unescape_avx2(out, in, n, room, accm, &u, &m, dropped);
    if (u == n || in[u] == 0x7E) {
        *used = u;
        *made = m;
        return;
    }
    unescape_ssse3(out + m, in + u, n - u, room - m, accm, &u2, &m2, dropped);
    *used = u + u2;
    *made = m + m2;
}

#else /* not x86-64 with GCC/Clang: the portable paths only */

unsigned hdlc_x86_detect(void) { return 0; }
uint16_t hdlc_x86_crc16(uint16_t c, const uint8_t *p, size_t n) { return hdlc_crc16_tab(c, p, n); }
uint32_t hdlc_x86_crc32(uint32_t c, const uint8_t *p, size_t n) { return hdlc_crc32_tab(c, p, n); }
uint16_t hdlc_x86_crc16_512(uint16_t c, const uint8_t *p, size_t n) { return hdlc_crc16_tab(c, p, n); }
uint32_t hdlc_x86_crc32_512(uint32_t c, const uint8_t *p, size_t n) { return hdlc_crc32_tab(c, p, n); }
size_t hdlc_x86_escape(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm, unsigned features)
{
    (void)features;
    return hdlc_escape_lut(out, in, n, accm);
}
void hdlc_x86_unescape(uint8_t *out, const uint8_t *in, size_t n, size_t room, uint32_t accm,
                       unsigned features, size_t *used, size_t *made, uint64_t *dropped)
{
    (void)out, (void)in, (void)n, (void)room, (void)accm, (void)features, (void)dropped;
    *used = *made = 0;
}
#endif
