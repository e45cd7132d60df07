/* PPP header parsing over a packed batch of deframed frames (hdlc_decode_packed's output):
 * the receive data path's per-frame work, done in C so Python runs once per batch.
 * Pure functions over buffers: no I/O, no allocation.  Fed to cffi's cdef without its
 * preprocessor lines, like hdlc.h. */
#ifndef PPPSTACK_PPPFRAME_H
#define PPPSTACK_PPPFRAME_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t out_len;   /* IP bytes written to out so far (the packets back to back) */
    size_t n_ip;      /* IP packets written so far (their lengths in lens[]) */
    size_t bad;       /* frames whose address/control or protocol field is malformed */
    size_t info;      /* the frame stopped at: offset of its information field in buf */
    unsigned proto;   /* and its protocol number */
} ppp_rx_split;

/* Frames first..count-1 of buf (frame i is buf[ends[i-1]:ends[i]], the first from 0).  Each
 * frame's header is parsed as RFC 1662 §3.2 / RFC 1661 §6.5-6.6 allow it: FF 03 optional (a frame
 * starting FF with fewer than 3 octets or no 03 after it is bad), then a 1-octet protocol if
 * its low bit is set, else 2 octets whose second has the low bit set (too short or not: bad).
 * A non-empty IPv4 (0x21) packet while ip4 is set, or IPv6 (0x57) while ip6 is set, is copied
 * to out + st->out_len and its length stored in lens[st->n_ip]; a bad frame counts in st->bad.
 * Stops at the first other frame and returns its index, with st->proto and st->info set, for
 * the caller to hand to the Link; returns count when none is left.  Returns (size_t)-1 (and
 * stops) if ends[] leaves buf or goes backwards, or out (cap bytes) / lens (lens_cap) is full. */
size_t ppp_rx_split_ip(const uint8_t *buf, size_t len, const size_t *ends, size_t count,
                       size_t first, int ip4, int ip6, uint8_t *out, size_t cap, size_t *lens,
                       size_t lens_cap, ppp_rx_split *st);

/* Send side: count IP packets back to back in in (packet i ends at ends[i], the first starting
 * at 0, the last ending at len).  Each one whose IP version (its first octet's high nibble) is 4
 * while ip4 is set, or 6 while ip6 is set, is copied to out behind h4 / h6 (its PPP header) and
 * the header + packet length stored in lens[]; the others (empty, other versions, protocol not
 * open) are counted in counts[0]; counts[1] gets the bytes written.  For hdlc_encode_frames.  out needs len + count * max(h4len,
 * h6len) bytes and lens count items; with less, or ends[] leaving in or going backwards,
 * returns (size_t)-1.  Returns the number of frames prepared. */
size_t ppp_tx_prepare_ip(const uint8_t *in, size_t len, const size_t *ends, size_t count,
                         const uint8_t *h4, size_t h4len, const uint8_t *h6, size_t h6len,
                         int ip4, int ip6, uint8_t *out, size_t cap, size_t *lens, size_t *counts);
#endif
