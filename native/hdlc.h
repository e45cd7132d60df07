/* RFC 1662 async HDLC-like framing core: FCS-16/32, ACCM escaping and a streaming deframer.
 *
 * C99, no Python.h.  native/build_hdlc.py feeds this header (minus the preprocessor lines) to
 * cffi's cdef, so it must stay within what cffi parses: plain prototypes and typedefs.
 * The decoding rules are spelled out in pppstack/hdlc/_python.py, the executable spec; this
 * implementation and that one are held bit-identical by the tests.
 */
#ifndef PPPSTACK_HDLC_H
#define PPPSTACK_HDLC_H
#include <stddef.h>
#include <stdint.h>

/* FCS register update (no initial value, no final complement: callers pass 0xFFFF/0xFFFFFFFF
 * and complement, as RFC 1662 appendix C does). */
uint16_t hdlc_fcs16(uint16_t fcs, const char *data, size_t len);
uint32_t hdlc_fcs32(uint32_t fcs, const char *data, size_t len);

/* Worst-case encoded size of one frame of len bytes (everything escaped, 32-bit FCS, 2 flags). */
size_t hdlc_encode_bound(size_t len);

/* flag? escaped(frame || FCS) flag.  out must hold hdlc_encode_bound(len).  Returns bytes written. */
size_t hdlc_encode(char *out, const char *frame, size_t len, uint32_t accm, int fcs_bits,
                   int leading_flag);

/* Several frames concatenated in `frames`, lengths in lens[]: flag? f1 flag f2 flag ...
 * out must hold sum(hdlc_encode_bound(lens[i])).  Returns bytes written. */
size_t hdlc_encode_many(char *out, const char *frames, const size_t *lens, size_t count,
                        uint32_t accm, int fcs_bits, int leading_flag);

/* The same, checking that lens[] adds up to `total`, the bytes in `frames` (returns
 * (size_t)-1 and writes nothing when it does not): the check costs a caller nothing. */
size_t hdlc_encode_frames(char *out, const char *frames, size_t total, const size_t *lens,
                          size_t count, uint32_t accm, int fcs_bits, int leading_flag);

/* Decoder: each call turns a chunk into item records, three size_t each:
 *   kind, offset into out, length.  Kinds are the HDLC_ITEM_* values below. */
typedef struct {
    uint64_t frames;
    uint64_t bad_fcs;
    uint64_t aborts;
    uint64_t runts;
    uint64_t oversize;
    uint64_t unescaped_ctrl;
    uint64_t garbage_bytes;
} hdlc_counters;

enum {
    HDLC_ITEM_FRAME = 0,    /* a good frame, FCS stripped */
    HDLC_ITEM_GARBAGE = 1,  /* bytes outside frames (modem text) */
    HDLC_ITEM_ABORT = 2,    /* discarded runs, by reason */
    HDLC_ITEM_RUNT = 3,
    HDLC_ITEM_BAD_FCS = 4,
    HDLC_ITEM_OVERSIZE = 5
};

enum {
    HDLC_SIMD_SSSE3 = 1,    /* 16-byte scan, pshufb escape/unescape */
    HDLC_SIMD_AVX2 = 2,     /* 32-byte scan */
    HDLC_SIMD_PCLMUL = 4,   /* carry-less multiply FCS */
    HDLC_SIMD_AVX512 = 8,   /* AVX-512 VBMI2 compress for escape/unescape */
    HDLC_SIMD_VPCLMUL = 16  /* AVX-512 VPCLMULQDQ FCS, 256 bytes per step */
};

typedef struct hdlc_decoder hdlc_decoder;

/* NULL when max_len is above 16 MiB or memory runs out. */
hdlc_decoder *hdlc_decoder_new(int fcs_bits, uint32_t accm, size_t max_len);
void hdlc_decoder_free(hdlc_decoder *d);
/* accm and the longest run kept (MRU + header + FCS); apply from the next byte (bytes already
 * received keep the verdict of the ACCM they arrived under).  0, or -1 when max_len is above
 * 16 MiB or memory runs out; on -1 the decoder is unchanged. */
int hdlc_decoder_configure(hdlc_decoder *d, uint32_t accm, size_t max_len);
const hdlc_counters *hdlc_decoder_counters(const hdlc_decoder *d);
/* Size of `out` that hdlc_decode needs for a chunk of len bytes. */
size_t hdlc_decode_bound(const hdlc_decoder *d, size_t len);
/* Consume up to len bytes (fewer only when max_items records are nearly used up); returns the
 * bytes consumed and sets *n_items.  max_items must be at least 4. */
size_t hdlc_decode(hdlc_decoder *d, const char *in, size_t len, char *out, size_t *items,
                   size_t max_items, size_t *n_items);

/* The same decoding, keeping only what a caller of Decoder.feed gets: the good frames packed back
 * to back from out[0] (frame k is out[ends[k-1] .. ends[k]), ends[-1] being 0) and the garbage
 * packed back to back from garbage[0], their counts in *n_frames and *n_garbage; discarded runs
 * are only counted.  out and garbage must each hold hdlc_decode_bound(d, len) bytes (the frames
 * and garbage never need more than that together with the bytes in flight).  Returns the bytes
 * consumed: all of len when max_frames >= len / 4 + 8 (a frame costs at least 5 bytes of input,
 * and one may be carried over), else possibly fewer; then go on with a call for the rest, out
 * and garbage advanced past what was written (the new ends count from the new out). */
size_t hdlc_decode_packed(hdlc_decoder *d, const char *in, size_t len, char *out, size_t *ends,
                          size_t max_frames, size_t *n_frames, char *garbage, size_t *n_garbage);

/* SIMD paths: bit set = in use.  hdlc_set_features masks them (0 = portable C only) and
 * returns the resulting set.  The environment variable PPPSTACK_HDLC_SIMD (none/portable/0,
 * ssse3, avx2, avx512/all) caps them at start-up as if the CPU had no more: hdlc_set_features
 * cannot turn a capped path back on. */
unsigned hdlc_features(void);
unsigned hdlc_set_features(unsigned mask);
#endif
