/* Bench-only baseline: the byte-at-a-time async HDLC loops of the kind Linux's ppp_async uses
 * (one branchy step per byte, bytewise FCS table).  Compiled at bench time with the same flags
 * as the real core, so the two can be compared in one run.  Not part of pppstack. */
#include <stddef.h>
#include <stdint.h>

static uint16_t tab[256];

static void init(void)
{
    if (tab[1])
        return;
    for (unsigned i = 0; i < 256; i++) {
        unsigned v = i;
        for (int k = 0; k < 8; k++)
            v = (v >> 1) ^ ((v & 1) ? 0x8408u : 0);
        tab[i] = (uint16_t)v;
    }
}

#define FCS(f, c) (((f) >> 8) ^ tab[((f) ^ (c)) & 0xff])

/* Encode `count` frames stored back to back, each `len` bytes; returns bytes written. */
size_t naive_encode(char *out_, const char *in_, size_t len, size_t count, uint32_t accm)
{
    init();
    uint8_t *o = (uint8_t *)out_;
    const uint8_t *in = (const uint8_t *)in_;
    for (size_t k = 0; k < count; k++, in += len) {
        uint16_t fcs = 0xffff;
        *o++ = 0x7e;
        for (size_t i = 0; i <= len + 1; i++) {
            uint8_t c;
            if (i < len) {
                c = in[i];
                fcs = FCS(fcs, c);
            } else if (i == len) {
                fcs ^= 0xffff;
                c = fcs & 0xff;
            } else {
                c = fcs >> 8;
            }
            if (c == 0x7e || c == 0x7d || (c < 0x20 && (accm >> c & 1))) {
                *o++ = 0x7d;
                *o++ = c ^ 0x20;
            } else {
                *o++ = c;
            }
        }
        *o++ = 0x7e;
    }
    return (size_t)(o - (uint8_t *)out_);
}

/* Decode a stream; frames land back to back in out.  Returns the number of good frames. */
size_t naive_decode(char *out_, const char *in_, size_t n, uint32_t accm)
{
    init();
    uint8_t *out = (uint8_t *)out_, *start = out, *o = out;
    const uint8_t *in = (const uint8_t *)in_;
    uint16_t fcs = 0xffff;
    int esc = 0;
    size_t frames = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c == 0x7e) {
            if (o - start >= 4 && fcs == 0xf0b8 && !esc) {
                frames++;
                o -= 2;
                start = o;
            } else {
                o = start;
            }
            fcs = 0xffff;
            esc = 0;
        } else if (c < 0x20 && (accm >> c & 1)) {
            continue;
        } else if (c == 0x7d) {
            esc = 1;
        } else {
            if (esc) {
                c ^= 0x20;
                esc = 0;
            }
            fcs = FCS(fcs, c);
            *o++ = c;
        }
    }
    return frames;
}
