/* RFC 1662 async HDLC-like framing: FCS (appendix C), ACCM escaping (§4.2) and the deframer.
 *
 * Portable C99 here; the x86 SIMD paths live in hdlc_x86.c and are picked at run time.  The
 * deframer follows the byte-level rules written down in pppstack/hdlc/_python.py: runs between
 * flags, flagged control bytes dropped (§7.1), escapes undone, then the run is classified when
 * the closing flag arrives.  Speed comes from moving whole runs of ordinary bytes at once.
 */
#include "hdlc.h"
#include "hdlc_impl.h"

#include <stdlib.h>
#include <string.h>

#define FLAG 0x7E
#define ESC 0x7D

/* ---- FCS: slice-by-16 tables for the reflected polynomials of RFC 1662 §C.2/§C.3 --------
 * t[s][b] is the register after byte b followed by s zero bytes, so 16 bytes take 16 independent
 * lookups and one dependency on the register: the portable path (an ARM or MIPS router) runs
 * about twice as fast as slice-by-8 and eight times the byte loop. */
static uint16_t t16[16][256];
static uint32_t t32[16][256];
static int tables_ready;

static void make_tables(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint32_t a = i, b = i;
        for (int k = 0; k < 8; k++) {
            a = (a >> 1) ^ ((a & 1) ? 0x8408u : 0);
            b = (b >> 1) ^ ((b & 1) ? 0xEDB88320u : 0);
        }
        t16[0][i] = (uint16_t)a;
        t32[0][i] = b;
    }
    for (unsigned i = 0; i < 256; i++)
        for (int s = 1; s < 16; s++) {
            t16[s][i] = (uint16_t)((t16[s - 1][i] >> 8) ^ t16[0][t16[s - 1][i] & 0xFF]);
            t32[s][i] = (t32[s - 1][i] >> 8) ^ t32[0][t32[s - 1][i] & 0xFF];
        }
    tables_ready = 1;
}

/* little-endian 64-bit load that compiles to one load where the byte order allows */
static inline uint64_t load64le(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
#endif
}

#define SLICE8(t, v, s)                                                                         \
    ((t)[(s) + 7][(v) & 0xFF] ^ (t)[(s) + 6][((v) >> 8) & 0xFF] ^ (t)[(s) + 5][((v) >> 16) & 0xFF] ^ \
     (t)[(s) + 4][((v) >> 24) & 0xFF] ^ (t)[(s) + 3][((v) >> 32) & 0xFF] ^                      \
     (t)[(s) + 2][((v) >> 40) & 0xFF] ^ (t)[(s) + 1][((v) >> 48) & 0xFF] ^ (t)[(s)][(v) >> 56])

uint32_t hdlc_crc32_tab(uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 16) {
        uint64_t a = load64le(p) ^ c, b = load64le(p + 8);
        c = SLICE8(t32, a, 8) ^ SLICE8(t32, b, 0);
        p += 16;
        n -= 16;
    }
    if (n >= 8) {
        uint64_t a = load64le(p) ^ c;
        c = SLICE8(t32, a, 0);
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ t32[0][(c ^ *p++) & 0xFF];
    return c;
}

uint16_t hdlc_crc16_tab(uint16_t c16, const uint8_t *p, size_t n)
{
    uint32_t c = c16;
    while (n >= 16) {
        uint64_t a = load64le(p) ^ c, b = load64le(p + 8);
        c = (uint32_t)(SLICE8(t16, a, 8) ^ SLICE8(t16, b, 0));
        p += 16;
        n -= 16;
    }
    if (n >= 8) {
        uint64_t a = load64le(p) ^ c;
        c = SLICE8(t16, a, 0);
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ t16[0][(c ^ *p++) & 0xFF];
    return (uint16_t)c;
}

/* Bytes modem text is made of (printable ASCII but 0x7D, TAB, CR, LF); filled by init(). */
static uint8_t text_tab[256];

static inline unsigned needs_escape(uint8_t b, uint32_t accm)
{
    return (b == FLAG) | (b == ESC) | ((b < 32) & (unsigned)(accm >> (b & 31)));
}

static uint8_t need_0[256], need_ff[256];
static void make_need(uint8_t *t, uint32_t accm);

/* ---- run-time choice of implementation ------------------------------------------------- */
static unsigned features_avail, features_on;
static int initialised; /* init() runs once, at import (pppstack.hdlc._native), under the GIL */

/* PPPSTACK_HDLC_SIMD caps the paths as if the CPU had no more (pppstack.hdlc._native rejects
 * other values with a sentence before this runs). */
static unsigned simd_cap(const char *e)
{
    if (!e)
        return ~0u;
    if (strcmp(e, "0") == 0 || strcmp(e, "none") == 0 || strcmp(e, "portable") == 0)
        return 0;
    if (strcmp(e, "ssse3") == 0)
        return HDLC_SIMD_SSSE3 | HDLC_SIMD_PCLMUL;
    if (strcmp(e, "avx2") == 0)
        return HDLC_SIMD_SSSE3 | HDLC_SIMD_AVX2 | HDLC_SIMD_PCLMUL;
    return ~0u; /* "", "all", "avx512" */
}

static void init(void)
{
    if (initialised)
        return;
    make_tables();
    make_need(need_0, 0);
    make_need(need_ff, 0xFFFFFFFFu);
    for (int b = 0x20; b < 0x7D; b++)
        text_tab[b] = 1;
    text_tab['\t'] = text_tab['\r'] = text_tab['\n'] = 1;
    features_avail = hdlc_x86_detect() & simd_cap(getenv("PPPSTACK_HDLC_SIMD"));
    features_on = features_avail;
    initialised = 1;
}

unsigned hdlc_features(void)
{
    init();
    return features_on;
}

unsigned hdlc_set_features(unsigned mask)
{
    init();
    features_on = features_avail & mask;
    return features_on;
}

static uint16_t crc16(uint16_t c, const uint8_t *p, size_t n)
{
    if ((features_on & HDLC_SIMD_VPCLMUL) && n >= 64)
        return hdlc_x86_crc16_512(c, p, n);
    if ((features_on & HDLC_SIMD_PCLMUL) && n >= 64)
        return hdlc_x86_crc16(c, p, n);
    return hdlc_crc16_tab(c, p, n);
}

static uint32_t crc32(uint32_t c, const uint8_t *p, size_t n)
{
    if ((features_on & HDLC_SIMD_VPCLMUL) && n >= 64)
        return hdlc_x86_crc32_512(c, p, n);
    if ((features_on & HDLC_SIMD_PCLMUL) && n >= 64)
        return hdlc_x86_crc32(c, p, n);
    return hdlc_crc32_tab(c, p, n);
}

uint16_t hdlc_fcs16(uint16_t fcs, const char *data, size_t len)
{
    init();
    return crc16(fcs, (const uint8_t *)data, len);
}

uint32_t hdlc_fcs32(uint32_t fcs, const char *data, size_t len)
{
    init();
    return crc32(fcs, (const uint8_t *)data, len);
}

/* ---- SWAR helpers: does a 64-bit word hold a byte equal to / below a value? ------------- */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t has_zero(uint64_t v) { return (v - ONES) & ~v & HIGHS; }
static inline uint64_t has_flag_esc(uint64_t v)
{
    return has_zero(v ^ (ONES * FLAG)) | has_zero(v ^ (ONES * ESC));
}
static inline uint64_t has_below_0x20(uint64_t v) { return (v - ONES * 0x20) & ~v & HIGHS; }

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* First index in p[0..n) holding 0x7E or 0x7D (n if none). */
size_t hdlc_scan_fe_portable(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i + 8 <= n && !has_flag_esc(load64(p + i)))
        i += 8;
    while (i < n && p[i] != FLAG && p[i] != ESC)
        i++;
    return i;
}

/* First index holding 0x7E, 0x7D or a byte < 0x20 whose bit is set in accm. */
size_t hdlc_scan_fec_portable(const uint8_t *p, size_t n, uint32_t accm)
{
    size_t i = 0;
    for (;;) {
        while (i + 8 <= n) {
            uint64_t v = load64(p + i);
            if (has_flag_esc(v) | has_below_0x20(v))
                break;
            i += 8;
        }
        size_t end = i + 8 < n ? i + 8 : n;
        for (; i < end; i++) {
            uint8_t b = p[i];
            if (b == FLAG || b == ESC || (b < 32 && (accm >> b & 1)))
                return i;
        }
        if (i >= n)
            return n;
    }
}

/* ---- encoder ----------------------------------------------------------------------------- */

/* Which bytes need escaping, for the two ACCMs nearly every link uses (filled by init()). */
static void make_need(uint8_t *t, uint32_t accm)
{
    for (unsigned b = 0; b < 256; b++)
        t[b] = (uint8_t)(needs_escape((uint8_t)b, accm) & 1);
}

/* Branch-free: always write two bytes, advance by one or two. */
static inline size_t escape_tab(uint8_t *out, const uint8_t *in, size_t n, const uint8_t *t)
{
    uint8_t *o = out;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        unsigned e = t[b];
        o[0] = e ? ESC : b;
        o[1] = b ^ 0x20;
        o += 1 + e;
    }
    return (size_t)(o - out);
}

size_t hdlc_escape_lut(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm)
{
    uint8_t local[256];
    const uint8_t *t = accm == 0 ? need_0 : accm == 0xFFFFFFFFu ? need_ff : NULL;
    if (!t) {
        if (n < 64) { /* not worth a table */
            uint8_t *o = out;
            for (size_t i = 0; i < n; i++) {
                unsigned e = needs_escape(in[i], accm) & 1;
                o[0] = e ? ESC : in[i];
                o[1] = in[i] ^ 0x20;
                o += 1 + e;
            }
            return (size_t)(o - out);
        }
        make_need(local, accm);
        t = local;
    }
    return escape_tab(out, in, n, t);
}

/* Word at a time: 8 bytes without a flag, escape or control byte go across in one store; a word
 * holding one goes through the table.  With ACCM all ones a third of random data needs escaping
 * and nearly every word holds a control byte: the table loop alone is faster then. */
static size_t escape_portable(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm)
{
    uint8_t local[256];
    const uint8_t *t = accm == 0 ? need_0 : accm == 0xFFFFFFFFu ? need_ff : NULL;
    if (accm == 0xFFFFFFFFu || n < 16)
        return hdlc_escape_lut(out, in, n, accm);
    if (!t) {
        make_need(local, accm);
        t = local;
    }
    uint8_t *o = out;
    size_t i = 0;
    uint64_t ctl = accm ? ~0ull : 0;
    while (i + 8 <= n) {
        uint64_t v = load64(in + i);
        if (has_flag_esc(v) | (has_below_0x20(v) & ctl))
            o += escape_tab(o, in + i, 8, t);
        else {
            memcpy(o, &v, 8);
            o += 8;
        }
        i += 8;
    }
    return (size_t)(o - out) + escape_tab(o, in + i, n - i, t);
}

static size_t escape(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm)
{
    if (features_on & HDLC_SIMD_SSSE3)
        return hdlc_x86_escape(out, in, n, accm, features_on);
    return escape_portable(out, in, n, accm);
}

size_t hdlc_encode_bound(size_t len) { return 2 * (len + 4) + 2; }

static size_t encode1(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm, int fcs_bits)
{
    uint8_t *o = out;
    uint8_t fcs[4];
    int nf;
    o += escape(o, in, n, accm);
    if (fcs_bits == 32) {
        uint32_t c = ~crc32(0xFFFFFFFFu, in, n);
        fcs[0] = (uint8_t)c, fcs[1] = (uint8_t)(c >> 8), fcs[2] = (uint8_t)(c >> 16);
        fcs[3] = (uint8_t)(c >> 24);
        nf = 4;
    } else {
        uint16_t c = (uint16_t)~crc16(0xFFFF, in, n);
        fcs[0] = (uint8_t)c, fcs[1] = (uint8_t)(c >> 8);
        nf = 2;
    }
    o += hdlc_escape_lut(o, fcs, (size_t)nf, accm);
    *o++ = FLAG;
    return (size_t)(o - out);
}

size_t hdlc_encode(char *out, const char *frame, size_t len, uint32_t accm, int fcs_bits,
                   int leading_flag)
{
    init();
    uint8_t *o = (uint8_t *)out;
    if (leading_flag)
        *o++ = FLAG;
    o += encode1(o, (const uint8_t *)frame, len, accm, fcs_bits);
    return (size_t)(o - (uint8_t *)out);
}

size_t hdlc_encode_many(char *out, const char *frames, const size_t *lens, size_t count,
                        uint32_t accm, int fcs_bits, int leading_flag)
{
    init();
    uint8_t *o = (uint8_t *)out;
    const uint8_t *in = (const uint8_t *)frames;
    if (leading_flag && count)
        *o++ = FLAG;
    for (size_t k = 0; k < count; k++) {
        o += encode1(o, in, lens[k], accm, fcs_bits);
        in += lens[k];
    }
    return (size_t)(o - (uint8_t *)out);
}

size_t hdlc_encode_frames(char *out, const char *frames, size_t total, const size_t *lens,
                          size_t count, uint32_t accm, int fcs_bits, int leading_flag)
{
    size_t sum = 0;
    for (size_t k = 0; k < count; k++) {
        if (lens[k] > total - sum)
            return (size_t)-1;
        sum += lens[k];
    }
    if (sum != total)
        return (size_t)-1;
    return hdlc_encode_many(out, frames, lens, count, accm, fcs_bits, leading_flag);
}

/* ---- decoder ----------------------------------------------------------------------------- */
struct hdlc_decoder {
    uint32_t accm;
    size_t max_len; /* longest run kept: MRU + header + FCS */
    size_t fcs_len;
    int hunting;    /* no flag seen yet: everything is garbage */
    int has_raw;    /* any byte since the last flag */
    int text;       /* every byte since the flag is a text byte (kept in raw) */
    int lines;      /* modem text lines (a run began with CR/LF) since the last flag */
    int esc, over;
    uint64_t dropped;
    uint8_t *run;   /* the unescaped run carried between calls */
    size_t run_len, run_cap;
    uint8_t *raw;   /* the text bytes of the run, while text */
    size_t raw_len, raw_cap;
    size_t raw_settled; /* raw[0..raw_settled) was judged by an earlier ACCM: 0x80 marks a drop */
    uint8_t cls[256]; /* per byte: 0 data, 1 escape, 2 dropped control, 4 flag */
    hdlc_counters c;
};


static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    uint8_t *q = realloc(*p, need);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* Longest run a caller may ask for: far above any PPP MRU (65535 + header + FCS), and low
 * enough that max_len + 64 and the decode bounds never wrap a size_t. */
#define HDLC_MAX_RUN ((size_t)1 << 24)

int hdlc_decoder_configure(hdlc_decoder *d, uint32_t accm, size_t max_len)
{
    if (max_len > HDLC_MAX_RUN)
        return -1;
    if (grow(&d->run, &d->run_cap, max_len + 64) || grow(&d->raw, &d->raw_cap, max_len + 64))
        return -1;
    if (d->text && d->accm != accm) {
        /* the new ACCM applies from the next byte: text bytes already held (text holds no byte
         * >= 0x80) keep the verdict of the ACCM they arrived under */
        for (size_t k = d->raw_settled; k < d->raw_len; k++)
            if (d->raw[k] < 32 && (d->accm >> d->raw[k] & 1))
                d->raw[k] |= 0x80;
        d->raw_settled = d->raw_len;
    }
    d->accm = accm;
    d->max_len = max_len;
    for (int b = 0; b < 256; b++)
        d->cls[b] = b == FLAG ? 4 : b == ESC ? 1 : (b < 32 && (accm >> b & 1)) ? 2 : 0;
    return 0;
}

hdlc_decoder *hdlc_decoder_new(int fcs_bits, uint32_t accm, size_t max_len)
{
    init();
    hdlc_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fcs_len = fcs_bits == 32 ? 4 : 2;
    d->hunting = 1;
    d->text = 1;
    if (hdlc_decoder_configure(d, accm, max_len)) {
        hdlc_decoder_free(d);
        return NULL;
    }
    return d;
}

void hdlc_decoder_free(hdlc_decoder *d)
{
    if (!d)
        return;
    free(d->run);
    free(d->raw);
    free(d);
}

const hdlc_counters *hdlc_decoder_counters(const hdlc_decoder *d) { return &d->c; }

size_t hdlc_decode_bound(const hdlc_decoder *d, size_t len)
{
    return len + d->run_len + d->raw_len + 64;
}

/* Per-call working state. */
typedef struct {
    hdlc_decoder *d;
    uint8_t *out;
    size_t o;   /* write position */
    size_t rs;  /* where the current run starts in out */
    size_t *items;
    size_t ni;
} ctx;

static void item(ctx *x, size_t kind, size_t off, size_t len)
{
    x->items[3 * x->ni] = kind;
    x->items[3 * x->ni + 1] = off;
    x->items[3 * x->ni + 2] = len;
    x->ni++;
}

/* Copy garbage to out at o and record it, merging with a garbage item just before it. */
static void garbage(ctx *x, const uint8_t *p, size_t n)
{
    if (!n)
        return;
    memcpy(x->out + x->o, p, n);
    x->d->c.garbage_bytes += n;
    if (x->ni && x->items[3 * (x->ni - 1)] == HDLC_ITEM_GARBAGE &&
        x->items[3 * (x->ni - 1) + 1] + x->items[3 * (x->ni - 1) + 2] == x->o)
        x->items[3 * (x->ni - 1) + 2] += n;
    else
        item(x, HDLC_ITEM_GARBAGE, x->o, n);
    x->o += n;
}

static void new_run(ctx *x)
{
    hdlc_decoder *d = x->d;
    x->rs = x->o;
    d->has_raw = 0;
    d->text = 1;
    d->raw_len = 0;
    d->raw_settled = 0;
    d->esc = 0;
    d->over = 0;
    d->dropped = 0;
}

/* The held text as it arrived (drops marked by an ACCM change unmarked), to report as garbage. */
static void raw_garbage(ctx *x)
{
    hdlc_decoder *d = x->d;
    for (size_t k = 0; k < d->raw_settled; k++)
        d->raw[k] &= 0x7F;
    garbage(x, d->raw, d->raw_len);
}

/* Text mode ends: the run so far is the raw text minus flagged control bytes. */
static void leave_text(ctx *x)
{
    hdlc_decoder *d = x->d;
    for (size_t k = 0; k < d->raw_len; k++) {
        uint8_t b = d->raw[k];
        if (k < d->raw_settled ? b >= 0x80 : (b < 32 && (d->accm >> b & 1)))
            d->dropped++;
        else
            x->out[x->o++] = b;
    }
    d->text = 0; /* raw (and its marks) stays until new_run: a text run's close reports it */
}

static int good_fcs(const hdlc_decoder *d, const uint8_t *p, size_t n)
{
    if (d->fcs_len == 2)
        return crc16(0xFFFF, p, n) == 0xF0B8;
    return crc32(0xFFFFFFFFu, p, n) == 0xDEBB20E3u;
}

static void close_run(ctx *x)
{
    hdlc_decoder *d = x->d;
    if (!d->has_raw) {
        new_run(x);
        return;
    }
    int text = d->text;
    if (text)
        leave_text(x);
    size_t len = x->o - x->rs;
    if (d->over) {
        d->c.oversize++;
        item(x, HDLC_ITEM_OVERSIZE, x->rs, len);
    } else if (d->esc) {
        d->c.aborts++;
        item(x, HDLC_ITEM_ABORT, x->rs, len);
    } else if (len >= d->fcs_len + 2 && good_fcs(d, x->out + x->rs, len)) {
        d->c.frames++;
        item(x, HDLC_ITEM_FRAME, x->rs, len - d->fcs_len);
        x->o -= d->fcs_len;
    } else if (text) {
        x->o = x->rs;
        raw_garbage(x);
        new_run(x);
        return;
    } else if (len == 0) {
        /* only link-inserted control bytes: nothing to report but the count */
    } else if (len < d->fcs_len + 2) {
        d->c.runts++;
        item(x, HDLC_ITEM_RUNT, x->rs, len);
    } else {
        d->c.bad_fcs++;
        item(x, HDLC_ITEM_BAD_FCS, x->rs, len);
    }
    d->c.unescaped_ctrl += d->dropped;
    new_run(x);
}

/* Append n ordinary bytes to the run, or as many as fit before it becomes oversize. */
static void append(ctx *x, const uint8_t *p, size_t n)
{
    hdlc_decoder *d = x->d;
    size_t have = x->o - x->rs;
    size_t room = have < d->max_len ? d->max_len - have : 0;
    if (n > room) {
        n = room;
        d->over = 1;
    }
    memcpy(x->out + x->o, p, n);
    x->o += n;
}

static inline int flagged(const hdlc_decoder *d, uint8_t b)
{
    return b < 32 && (d->accm >> b & 1);
}

/* Process in[i..n) while the run is in text mode; returns the new i. */
static size_t text_bytes(ctx *x, const uint8_t *in, size_t i, size_t n)
{
    hdlc_decoder *d = x->d;
    const uint8_t *tt = text_tab;
    while (i < n && d->text) {
        uint8_t b = in[i];
        if (b == FLAG)
            return i;
        d->has_raw = 1;
        if (tt[b] && d->raw_len + 1 <= d->max_len) {
            /* only a run that starts a line is modem talk; a frame's first bytes can look like
             * text ("!E\n": IPv4 with PFC and TOS 0x0a) and are judged by the FCS at the flag */
            if (d->raw_len == 0 && (b == '\r' || b == '\n'))
                d->lines = 1;
            d->raw[d->raw_len++] = b;
            i++;
            if (d->lines && (b == '\r' || b == '\n')) {
                raw_garbage(x);
                new_run(x);
                d->has_raw = 0;
            }
            continue;
        }
        leave_text(x); /* b is processed by the ordinary path */
    }
    return i;
}

/* Unescape byte by byte with no data-dependent branch on the common bytes (for dense escapes):
 * stops at a flag, at `end`, or when the run would become oversize.  Returns the new i.
 * The escape state is just "the last data-or-escape byte was 0x7D": dropped control bytes
 * leave it alone, and two 0x7D in a row still escape what follows, as in the spec. */
static size_t byte_loop(ctx *x, const uint8_t *in, size_t i, size_t end)
{
    hdlc_decoder *d = x->d;
    const uint8_t *cls = d->cls;
    size_t have = x->o - x->rs;
    uint8_t *o = x->out + x->o;
    uint8_t *lim = o + (have < d->max_len ? d->max_len - have : 0);
    unsigned esc = d->esc ? 1 : 0;
    uint64_t dropped = 0;
    for (; i < end; i++) {
        uint8_t b = in[i];
        unsigned c = cls[b];
        if (c >= 2) {
            if (c & 4)
                break;
            dropped++;
            continue;
        }
        if (o >= lim && !c) {
            d->over = 1;
            break;
        }
        *o = (uint8_t)(b ^ (esc << 5));
        o += c ^ 1;
        esc = c;
    }
    d->esc = (int)esc;
    d->dropped += dropped;
    x->o = (size_t)(o - x->out);
    return i;
}

/* Copy the leading 8-byte words of p[0..n) that hold no flag, escape or control byte, as far
 * as the run has room; returns the bytes copied. */
static size_t copy_words(ctx *x, const uint8_t *p, size_t n)
{
    hdlc_decoder *d = x->d;
    size_t have = x->o - x->rs;
    size_t room = have < d->max_len ? d->max_len - have : 0;
    size_t lim = n < room ? n : room, k = 0;
    uint8_t *o = x->out + x->o;
    uint64_t ctl = d->accm ? ~0ull : 0;
    while (k + 8 <= lim) {
        uint64_t v = load64(p + k);
        if (has_flag_esc(v) | (has_below_0x20(v) & ctl))
            break;
        memcpy(o + k, &v, 8);
        k += 8;
    }
    x->o += k;
    return k;
}

/* Process in[i..n) in ordinary mode up to (not including) the next flag; returns the new i. */
static size_t run_bytes(ctx *x, const uint8_t *in, size_t i, size_t n)
{
    hdlc_decoder *d = x->d;
    unsigned f = features_on;
    while (i < n) {
        if (d->over) {
            /* skip to the flag, still counting dropped control bytes */
            const uint8_t *fp = memchr(in + i, FLAG, n - i);
            size_t j = fp ? (size_t)(fp - in) : n;
            if (d->accm)
                for (size_t k = i; k < j; k++)
                    d->dropped += flagged(d, in[k]);
            return j;
        }
        if (d->esc) {
            uint8_t b = in[i];
            if (b == FLAG)
                return i;
            i++;
            if (flagged(d, b))
                d->dropped++;
            else if (b != ESC) {
                uint8_t v = b ^ 0x20;
                append(x, &v, 1);
                d->esc = 0;
            }
            continue;
        }
        if (f & HDLC_SIMD_SSSE3) {
            /* unescape whole blocks without a flag at once */
            size_t have = x->o - x->rs;
            size_t room = have < d->max_len ? d->max_len - have : 0;
            size_t used = 0, made = 0;
            hdlc_x86_unescape(x->out + x->o, in + i, n - i, room, d->accm, f, &used, &made,
                              &d->dropped);
            x->o += made;
            i += used;
            if (i >= n || in[i] == FLAG)
                return i;
        } else {
            /* portable: whole words without a special byte go straight across (one pass, no
             * scan then memcpy); a special in the first word means they are dense here */
            size_t k = copy_words(x, in + i, n - i);
            i += k;
            if (i >= n)
                return i;
            if (k < 8) {
                i = byte_loop(x, in, i, n - i > 256 ? i + 256 : n);
                if (i < n && in[i] == FLAG)
                    return i;
                continue;
            }
        }
        size_t j = i + (d->accm ? hdlc_scan_fec_portable(in + i, n - i, d->accm)
                                : hdlc_scan_fe_portable(in + i, n - i));
        if (j - i < 16 && j < n && (f & HDLC_SIMD_SSSE3)) {
            /* specials are dense here: a branch-free byte loop beats scan-and-copy */
            i = byte_loop(x, in, i, n - i > 16 ? i + 16 : n); /* then back to the SIMD blocks */
            if (i < n && in[i] == FLAG)
                return i;
            continue;
        }
        append(x, in + i, j - i);
        i = j;
        if (i == n || d->over)
            continue;
        uint8_t b = in[i];
        if (b == FLAG)
            return i;
        i++;
        if (b == ESC)
            d->esc = 1;
        else
            d->dropped++;
    }
    return i;
}

size_t hdlc_decode(hdlc_decoder *d, const char *in_, size_t n, char *out_, size_t *items,
                   size_t max_items, size_t *n_items)
{
    const uint8_t *in = (const uint8_t *)in_;
    ctx x = {d, (uint8_t *)out_, 0, 0, items, 0};
    size_t i = 0;
    memcpy(x.out, d->run, d->run_len);
    x.o = d->run_len;
    while (i < n && x.ni + 3 <= max_items) {
        if (d->hunting) {
            const uint8_t *fp = memchr(in + i, FLAG, n - i);
            size_t j = fp ? (size_t)(fp - in) : n;
            garbage(&x, in + i, j - i);
            x.rs = x.o;
            if (!fp)
                return *n_items = x.ni, n;
            d->hunting = 0;
            i = j + 1;
            continue;
        }
        if (in[i] == FLAG) {
            close_run(&x);
            d->lines = 0;
            i++;
            continue;
        }
        if (d->text) {
            i = text_bytes(&x, in, i, n);
            continue;
        }
        d->has_raw = 1;
        i = run_bytes(&x, in, i, n);
    }
    d->run_len = x.o - x.rs;
    memcpy(d->run, x.out + x.rs, d->run_len);
    *n_items = x.ni;
    return i;
}

/* Records per hdlc_decode call inside hdlc_decode_packed (on the stack: 6 KiB). */
#define PACK_ITEMS 256

size_t hdlc_decode_packed(hdlc_decoder *d, const char *in, size_t len, char *out_, size_t *ends,
                          size_t max_frames, size_t *n_frames, char *garbage, size_t *n_garbage)
{
    size_t items[3 * PACK_ITEMS];
    uint8_t *out = (uint8_t *)out_;
    size_t nf = 0, ng = 0, fo = 0; /* fo: end of the packed frames */
    size_t i = 0;
    while (i < len) {
        size_t room = max_frames - nf;
        if (room < 4)
            break;
        size_t ni;
        uint8_t *o = out + fo;
        /* hdlc_decode starts this call's output at o (the carried run first): whatever of an
         * earlier call lay there was a discard, garbage already copied out, or the run itself */
        i += hdlc_decode(d, in + i, len - i, (char *)o, items, room < PACK_ITEMS ? room : PACK_ITEMS, &ni);
        size_t w = 0;
        for (size_t k = 0; k < ni; k++) {
            size_t kind = items[3 * k], off = items[3 * k + 1], n = items[3 * k + 2];
            if (kind == HDLC_ITEM_FRAME) {
                /* good frames follow each other with nothing between (the FCS is dropped by
                 * moving the write position back), so this only moves over discards/garbage;
                 * records come in increasing offsets, so w <= off and data ahead is untouched */
                if (off != w)
                    memmove(o + w, o + off, n);
                w += n;
                ends[nf++] = fo + w;
            } else if (kind == HDLC_ITEM_GARBAGE) {
                memcpy(garbage + ng, o + off, n);
                ng += n;
            }
        }
        fo += w;
    }
    *n_frames = nf;
    *n_garbage = ng;
    return i;
}
