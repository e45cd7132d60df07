/* See pppframe.h. */
#include <string.h>

#include "pppframe.h"

size_t ppp_rx_split_ip(const uint8_t *buf, size_t len, const size_t *ends, size_t count,
                       size_t first, int ip4, int ip6, uint8_t *out, size_t cap, size_t *lens,
                       size_t lens_cap, ppp_rx_split *st)
{
    for (size_t k = first; k < count; k++) {
        size_t start = k ? ends[k - 1] : 0, end = ends[k];
        if (end < start || end > len)
            return (size_t)-1;
        size_t i = start;
        if (i == end) {               /* an empty frame: no protocol field */
            st->bad++;
            continue;
        }
        if (buf[i] == 0xFF) {
            if (end - i < 3 || buf[i + 1] != 0x03) {
                st->bad++;
                continue;
            }
            i += 2;
        }
        unsigned proto = buf[i];
        if (proto & 1) {
            i += 1;
        } else {
            if (end - i < 2 || !(buf[i + 1] & 1)) {
                st->bad++;
                continue;
            }
            proto = (proto << 8) | buf[i + 1];
            i += 2;
        }
        if (end > i && ((proto == 0x21 && ip4) || (proto == 0x57 && ip6))) {
            size_t n = end - i;
            if (st->n_ip >= lens_cap || st->out_len > cap || n > cap - st->out_len)
                return (size_t)-1;
            memcpy(out + st->out_len, buf + i, n);
            st->out_len += n;
            lens[st->n_ip++] = n;
            continue;
        }
        st->proto = proto;
        st->info = i;
        return k;
    }
    return count;
}

size_t ppp_tx_prepare_ip(const uint8_t *in, size_t len, const size_t *ends, size_t count,
                         const uint8_t *h4, size_t h4len, const uint8_t *h6, size_t h6len,
                         int ip4, int ip6, uint8_t *out, size_t cap, size_t *lens, size_t *counts)
{
    size_t n = 0, o = 0, start = 0;
    for (size_t k = 0; k < count; start = ends[k], k++) {
        size_t end = ends[k];
        if (end < start || end > len)
            return (size_t)-1;
        unsigned version = end > start ? in[start] >> 4 : 0;
        const uint8_t *h;
        size_t hlen;
        if (version == 4 && ip4) {
            h = h4;
            hlen = h4len;
        } else if (version == 6 && ip6) {
            h = h6;
            hlen = h6len;
        } else {
            counts[0]++;
            continue;
        }
        size_t plen = end - start;
        if (o > cap || hlen > cap - o || plen > cap - o - hlen)
            return (size_t)-1;
        memcpy(out + o, h, hlen);
        memcpy(out + o + hlen, in + start, plen);
        o += hlen + plen;
        lens[n++] = hlen + plen;
    }
    counts[1] = o;
    return n;
}
