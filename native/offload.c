/* TUN offloads: cut TCP super-packets into segments (read side), merge runs of in-order TCP
 * segments into super-packets (write side).  See offload.h for the contract.
 *
 * Facts followed (kernel net/ipv4/tcp_offload.c, include/linux/virtio_net.h, drivers/net/tun.c):
 * segments carry seq + i * gso_size, FIN and PSH only on the last, CWR only on the first, IPv4
 * IDs counting up from the super-packet's; a NEEDS_CSUM packet holds the folded pseudo-header
 * sum (not complemented) in its checksum field.  Every length is checked before a byte is
 * written: a hostile header is counted and dropped, never followed.
 */
#include "offload.h"

#include <string.h>

#define F_NEEDS_CSUM 1
#define GSO_NONE 0
#define GSO_TCPV4 1
#define GSO_TCPV6 4
#define GSO_ECN 0x80
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define MAX_COALESCE_SEGS 64  /* what Linux's own GRO merges at most */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint16_t host16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static void put_host16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* One's-complement sum in native byte order.  32-bit words go into eight 64-bit lanes with no
 * carry handling (a lane takes 2^32 words before it could overflow: far beyond 64 KiB), which
 * compilers turn into vector adds; the lanes and the tail then fold in with end-around carry.
 * A region must start at an even offset of the checksummed whole (all ours do). */
static uint64_t add_carry(uint64_t s, uint64_t v)
{
    s += v;
    return s + (s < v);
}

static uint64_t sum_add(uint64_t s, const uint8_t *p, size_t n)
{
    uint64_t lane[8] = {0};
    while (n >= 32) {
        uint32_t w[8];
        memcpy(w, p, 32);
        for (int k = 0; k < 8; k++)
            lane[k] += w[k];
        p += 32;
        n -= 32;
    }
    for (int k = 0; k < 8; k++)
        s = add_carry(s, lane[k]);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        s = add_carry(s, v);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint8_t tail[8] = {0};
        uint64_t v;
        memcpy(tail, p, n);
        memcpy(&v, tail, 8);
        s = add_carry(s, v);
    }
    return s;
}

/* Folded to 16 bits, still native order: memcpy'd into a packet it reads as network order. */
static uint16_t fold(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)((s & 0xffff) + (s >> 16));
}

uint16_t offload_inet_csum(const uint8_t *data, size_t len)
{
    uint16_t v = (uint16_t)~fold(sum_add(0, data, len));
    uint8_t b[2];
    memcpy(b, &v, 2);
    return rd16(b);
}

/* Pseudo-header (RFC 793 / RFC 8200 §8.1): addresses, protocol, upper-layer length. */
static uint64_t pseudo_sum(const uint8_t *ip, int v6, uint32_t l4len, uint8_t proto)
{
    uint8_t b[8] = {0};
    uint64_t s = v6 ? sum_add(0, ip + 8, 32) : sum_add(0, ip + 12, 8);
    wr32(b, l4len);
    b[7] = proto;
    return sum_add(s, b, 8);
}

static void ipv4_fix_csum(uint8_t *ip, size_t ihl)
{
    ip[10] = ip[11] = 0;
    uint16_t v = (uint16_t)~fold(sum_add(0, ip, ihl));
    put_host16(ip + 10, v);
}

/* -- read side ------------------------------------------------------------------------------ */

enum { SPLIT_OK, SPLIT_BAD, SPLIT_NOFIT };

static int split_one(const uint8_t *r, size_t rlen, uint8_t *out, size_t room, size_t *ends,
                     size_t ends_room, size_t base, size_t *n_written, size_t *bytes_written,
                     offload_counters *c)
{
    if (rlen <= OFFLOAD_VNET_HDR_LEN)
        return SPLIT_BAD;
    const uint8_t flags = r[0];
    const int gso = r[1] & ~GSO_ECN;
    const size_t gso_size = host16(r + 4);
    const size_t cs_start = host16(r + 6), cs_off = host16(r + 8);
    const uint8_t *pkt = r + OFFLOAD_VNET_HDR_LEN;
    const size_t plen = rlen - OFFLOAD_VNET_HDR_LEN;

    if (gso == GSO_NONE) {
        if ((flags & F_NEEDS_CSUM) && (cs_start + cs_off + 2 > plen))
            return SPLIT_BAD;
        if (plen > room || ends_room < 1)
            return SPLIT_NOFIT;
        memcpy(out, pkt, plen);
        if (flags & F_NEEDS_CSUM) {
            uint16_t v = (uint16_t)~fold(sum_add(0, out + cs_start, plen - cs_start));
            if (v == 0)
                v = 0xffff;  /* UDP: 0 would mean "no checksum"; for TCP both are the same */
            put_host16(out + cs_start + cs_off, v);
            c->csum_completed++;
        }
        ends[0] = base + plen;
        *n_written = 1;
        *bytes_written = plen;
        return SPLIT_OK;
    }
    if ((gso != GSO_TCPV4 && gso != GSO_TCPV6) || gso_size == 0 || plen < 20)
        return SPLIT_BAD;

    const int v6 = (pkt[0] >> 4) == 6;
    size_t l4;
    if (!v6) {
        if ((pkt[0] >> 4) != 4 || gso != GSO_TCPV4)
            return SPLIT_BAD;
        l4 = (size_t)(pkt[0] & 15) * 4;
        if (l4 < 20 || pkt[9] != 6 || (rd16(pkt + 6) & 0x3fff) != 0)  /* TCP, not a fragment */
            return SPLIT_BAD;
    } else {
        if (gso != GSO_TCPV6 || plen < 40)
            return SPLIT_BAD;
        /* hop-by-hop and destination options may sit before TCP; a routing header would change
         * the pseudo-header's destination and a fragment header has no place here: refused */
        uint8_t next = pkt[6];
        l4 = 40;
        while (next == 0 || next == 60) {
            if (plen < l4 + 8)
                return SPLIT_BAD;
            next = pkt[l4];
            l4 += ((size_t)pkt[l4 + 1] + 1) * 8;
        }
        if (next != 6)
            return SPLIT_BAD;
    }
    if ((flags & F_NEEDS_CSUM) && (cs_start != l4 || cs_off != 16))
        return SPLIT_BAD;
    if (plen < l4 + 20)
        return SPLIT_BAD;
    const size_t thl = (size_t)(pkt[l4 + 12] >> 4) * 4;
    const size_t hl = l4 + thl;
    if (thl < 20 || hl > plen)
        return SPLIT_BAD;
    const size_t payload = plen - hl;
    const size_t nseg = payload ? (payload + gso_size - 1) / gso_size : 1;
    if (nseg > OFFLOAD_MAX_SEGS)
        return SPLIT_BAD;
    const size_t need = nseg * hl + payload;
    if (need > room || nseg > ends_room)
        return SPLIT_NOFIT;

    const uint32_t seq0 = rd32(pkt + l4 + 4);
    const uint16_t id0 = rd16(pkt + 4);
    const uint8_t tflags = pkt[l4 + 13];
    size_t off = 0, done = 0;
    for (size_t i = 0; i < nseg; i++) {
        const size_t chunk = payload - done < gso_size ? payload - done : gso_size;
        uint8_t *s = out + off;
        memcpy(s, pkt, hl);
        memcpy(s + hl, pkt + hl + done, chunk);
        uint8_t *th = s + l4;
        wr32(th + 4, seq0 + (uint32_t)done);
        uint8_t f = tflags;
        if (i + 1 < nseg)
            f &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (i > 0)
            f &= (uint8_t)~TCP_CWR;
        th[13] = f;
        if (v6) {
            wr16(s + 4, (uint16_t)(hl - 40 + chunk));
        } else {
            wr16(s + 2, (uint16_t)(hl + chunk));
            wr16(s + 4, (uint16_t)(id0 + i));
            ipv4_fix_csum(s, l4);
        }
        th[16] = th[17] = 0;
        uint64_t sum = pseudo_sum(s, v6, (uint32_t)(thl + chunk), 6);
        sum = sum_add(sum, th, thl + chunk);
        put_host16(th + 16, (uint16_t)~fold(sum));
        off += hl + chunk;
        done += chunk;
        ends[i] = base + off;
    }
    c->gso_packets++;
    c->segments += nseg;
    *n_written = nseg;
    *bytes_written = off;
    return SPLIT_OK;
}

size_t offload_split(const uint8_t *in, const size_t *lens, size_t count, uint8_t *out, size_t cap,
                     size_t *ends, size_t max_out, size_t *consumed, offload_counters *c)
{
    size_t pos = 0, used = 0, n = 0, i;
    for (i = 0; i < count; i++) {
        size_t k = 0, b = 0;
        int rc = split_one(in + pos, lens[i], out + used, cap - used, ends + n, max_out - n, used,
                           &k, &b, c);
        if (rc == SPLIT_NOFIT) {
            if (n)
                break;          /* the next call starts with it, in an empty buffer */
            rc = SPLIT_BAD;     /* it does not fit even alone */
        }
        if (rc == SPLIT_BAD)
            c->bad_header++;
        pos += lens[i];
        used += b;
        n += k;
    }
    *consumed = i;
    return n;
}

/* -- write side ----------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len, l4, hl, pay;
    uint32_t seq;
    uint8_t flags;
    int v6;
} tcpseg;

/* A data segment we may merge: plain IPv4 (no options, not a fragment) or IPv6 (TCP right after
 * the fixed header), lengths that agree with the buffer, ACK set and at most PSH besides. */
static int parse_seg(const uint8_t *p, size_t len, tcpseg *t)
{
    if (len < 40)
        return 0;
    if ((p[0] >> 4) == 4) {
        if (p[0] != 0x45 || p[9] != 6 || rd16(p + 2) != len || (rd16(p + 6) & 0x3fff) != 0)
            return 0;
        if (fold(sum_add(0, p, 20)) != 0xffff)
            return 0;   /* a bad header checksum: merging would mend what the kernel must drop */
        t->v6 = 0;
        t->l4 = 20;
    } else if ((p[0] >> 4) == 6) {
        if (len < 60 || p[6] != 6 || (size_t)rd16(p + 4) + 40 != len)
            return 0;
        t->v6 = 1;
        t->l4 = 40;
    } else {
        return 0;
    }
    size_t thl = (size_t)(p[t->l4 + 12] >> 4) * 4;
    t->hl = t->l4 + thl;
    if (thl < 20 || t->hl >= len)
        return 0;   /* no payload: pure ACKs stay alone */
    t->flags = p[t->l4 + 13];
    if ((t->flags & ~(TCP_ACK | TCP_PSH)) || !(t->flags & TCP_ACK))
        return 0;
    t->p = p;
    t->len = len;
    t->pay = len - t->hl;
    t->seq = rd32(p + t->l4 + 4);
    return 1;
}

static int csum_ok(const tcpseg *t)
{
    uint64_t s = pseudo_sum(t->p, t->v6, (uint32_t)(t->len - t->l4), 6);
    return fold(sum_add(s, t->p + t->l4, t->len - t->l4)) == 0xffff;
}

/* Does b follow a (the group's last member, head h) in the same flow, same shape? */
static int follows(const tcpseg *h, const tcpseg *a, const tcpseg *b, size_t total_pay)
{
    const uint8_t *x = h->p, *y = b->p;
    if (b->v6 != h->v6 || b->hl != h->hl || a->pay != h->pay || (a->flags & TCP_PSH) || b->pay > h->pay)
        return 0;
    if (h->hl + total_pay + b->pay > 65535)
        return 0;
    if (b->seq != a->seq + (uint32_t)a->pay)
        return 0;
    if (!h->v6) {
        if (x[1] != y[1] || x[6] != y[6] || x[8] != y[8] || memcmp(x + 12, y + 12, 8) != 0)
            return 0;
        if (rd16(y + 4) != (uint16_t)(rd16(a->p + 4) + 1))
            return 0;
    } else {
        if (memcmp(x, y, 4) != 0 || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0)
            return 0;
    }
    const uint8_t *tx = x + h->l4, *ty = y + h->l4;
    if (memcmp(tx, ty, 4) != 0 || memcmp(tx + 8, ty + 8, 4) != 0 || memcmp(tx + 14, ty + 14, 2) != 0
        || memcmp(tx + 18, ty + 18, h->hl - h->l4 - 18) != 0)   /* ports, ack, window, urg, options */
        return 0;
    return 1;
}

size_t offload_coalesce(const uint8_t *in, size_t total, const size_t *lens, size_t count,
                        uint8_t *out, size_t cap, size_t *ends, uint32_t *segs, offload_counters *c)
{
    size_t sum = 0, i;
    for (i = 0; i < count; i++) {
        if (lens[i] > total - sum)
            return (size_t)-1;
        sum += lens[i];
    }
    if (sum != total || cap < total || cap - total < count * OFFLOAD_VNET_HDR_LEN)
        return (size_t)-1;

    size_t pos = 0, used = 0, units = 0, counted = (size_t)-1;  /* counted: bad sum already seen */
    i = 0;
    while (i < count) {
        tcpseg h, a, b;
        size_t members = 1, total_pay = 0, j_pos = pos + lens[i];
        int group = parse_seg(in + pos, lens[i], &h);
        if (group && i + 1 < count && parse_seg(in + j_pos, lens[i + 1], &b)) {
            if (!csum_ok(&h)) {
                c->bad_csum += i != counted;
                group = 0;
            }
        } else {
            group = 0;
        }
        if (group) {
            a = h;
            total_pay = h.pay;
            while (i + members < count && members < MAX_COALESCE_SEGS) {
                if (!parse_seg(in + j_pos, lens[i + members], &b) || !follows(&h, &a, &b, total_pay))
                    break;
                if (!csum_ok(&b)) {
                    c->bad_csum++;
                    counted = i + members;
                    break;
                }
                total_pay += b.pay;
                j_pos += b.len;
                a = b;
                members++;
            }
        }
        uint8_t *u = out + used;
        if (members == 1) {
            memset(u, 0, OFFLOAD_VNET_HDR_LEN);
            memcpy(u + OFFLOAD_VNET_HDR_LEN, in + pos, lens[i]);
            used += OFFLOAD_VNET_HDR_LEN + lens[i];
            pos += lens[i];
        } else {
            const size_t l4 = h.l4, thl = h.hl - h.l4;
            u[0] = F_NEEDS_CSUM;
            u[1] = h.v6 ? GSO_TCPV6 : GSO_TCPV4;
            put_host16(u + 2, (uint16_t)h.hl);
            put_host16(u + 4, (uint16_t)h.pay);
            put_host16(u + 6, (uint16_t)l4);
            put_host16(u + 8, 16);
            uint8_t *s = u + OFFLOAD_VNET_HDR_LEN, *d = s + h.hl;
            memcpy(s, h.p, h.hl);
            size_t q = pos;
            for (size_t k = 0; k < members; k++) {
                size_t hl = h.hl, len = lens[i + k];
                memcpy(d, in + q + hl, len - hl);
                d += len - hl;
                q += len;
            }
            s[l4 + 13] = (uint8_t)(h.flags | (a.flags & TCP_PSH));
            if (h.v6) {
                wr16(s + 4, (uint16_t)(h.hl - 40 + total_pay));
            } else {
                wr16(s + 2, (uint16_t)(h.hl + total_pay));
                ipv4_fix_csum(s, 20);
            }
            put_host16(s + l4 + 16, fold(pseudo_sum(s, h.v6, (uint32_t)(thl + total_pay), 6)));
            used += OFFLOAD_VNET_HDR_LEN + h.hl + total_pay;
            pos = q;
            c->coalesced_packets += members;
            c->coalesced_units++;
        }
        ends[units] = used;
        segs[units] = (uint32_t)members;
        units++;
        i += members;
    }
    return units;
}
