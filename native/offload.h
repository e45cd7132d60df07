/* TUN offloads (IFF_VNET_HDR): TSO segmentation of what the kernel hands us, GRO-style
 * coalescing of what we hand it.  Pure functions over buffers: no I/O, no allocation.
 *
 * A TUN opened with IFF_VNET_HDR puts a struct virtio_net_hdr (10 bytes, host byte order on a
 * legacy little-endian host: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset) before
 * every packet, both ways.  With TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6) a read can be a
 * TCP super-packet of up to 64 KiB to be cut at gso_size, and any TCP/UDP packet may carry a
 * partial checksum (NEEDS_CSUM: the pseudo-header sum sits in the field; sum from csum_start and
 * store at csum_start + csum_offset).  Writes may carry the same.
 *
 * Like hdlc.h this header is fed to cffi's cdef without its preprocessor lines.
 */
#ifndef PPPSTACK_OFFLOAD_H
#define PPPSTACK_OFFLOAD_H
#include <stddef.h>
#include <stdint.h>

enum {
    OFFLOAD_VNET_HDR_LEN = 10,
    OFFLOAD_MAX_SEGS = 1024,    /* more segments than this in one super-packet: refused */
    OFFLOAD_MAX_PACKET = 65535 + 40
};

typedef struct {
    uint64_t gso_packets;       /* TCP super-packets cut into segments */
    uint64_t segments;          /* the segments they gave */
    uint64_t csum_completed;    /* NEEDS_CSUM packets (no GSO) whose checksum we finished */
    uint64_t bad_header;        /* malformed or unsupported vnet header / packet: dropped */
    uint64_t coalesced_packets; /* packets merged into super-packets on the write side */
    uint64_t coalesced_units;   /* super-packets written */
    uint64_t bad_csum;          /* write side: TCP checksum wrong, so written alone for the kernel to drop */
} offload_counters;

/* Read side.  `in` holds `count` reads back to back (each: vnet header + IP packet), their
 * lengths in lens[].  Writes plain IP packets back to back into out (cap bytes) and each one's
 * end offset into ends[] (room for max_out).  Stops before a read whose output does not fit;
 * *consumed tells how many reads were handled (a read that could never fit, alone, is counted
 * as bad_header and consumed).  Returns the number of packets written. */
size_t offload_split(const uint8_t *in, const size_t *lens, size_t count, uint8_t *out, size_t cap,
                     size_t *ends, size_t max_out, size_t *consumed, offload_counters *c);

/* Write side.  `in` holds `count` plain IP packets back to back, lengths in lens[].  Writes
 * units (vnet header + IP packet) back to back into out: runs of in-order TCP segments of one
 * flow merged into one GSO super-packet, everything else alone behind a zero header.  ends[]
 * gets each unit's end offset and segs[] the IP packets it carries (both need room for count).
 * out needs sum(lens) + count * OFFLOAD_VNET_HDR_LEN bytes; with less, or lens[] not adding up
 * to total, returns (size_t)-1 and writes nothing.  Returns the number of units. */
size_t offload_coalesce(const uint8_t *in, size_t total, const size_t *lens, size_t count,
                        uint8_t *out, size_t cap, size_t *ends, uint32_t *segs, offload_counters *c);

/* The Internet checksum (RFC 1071) of data, complemented, as it is stored in a header. */
uint16_t offload_inet_csum(const uint8_t *data, size_t len);
#endif
