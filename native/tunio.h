/* Batched TUN I/O: one C call reads, or writes, a wakeup's packets, so the loop pays one Python
 * call per batch instead of one per packet (plus an EAGAIN exception per wakeup).  With pump.c (the fast
 * path), the C in pppstack that makes system calls; pppstack/io/tun.py is its only caller.
 *
 * Like hdlc.h this header is fed to cffi's cdef without its preprocessor lines.
 */
#ifndef PPPSTACK_TUNIO_H
#define PPPSTACK_TUNIO_H
#include <stddef.h>
#include <stdint.h>

/* Read packets from the non-blocking `fd` (one read() is one packet) into buf, back to back in
 * slots: slot i is `headroom` bytes left for the caller (a PPP header) and then the packet, and
 * lens[i] is the slot's length (headroom + packet).  Stops at EAGAIN, after max_packets, or
 * when a slot of headroom + room bytes no longer fits in cap.  Returns the packets read; *err is
 * 0, or the errno of the read() that ended the batch (-1: it returned 0, end of file), and
 * *total the bytes the slots take.  EINTR is retried. */
size_t tunio_read(int fd, uint8_t *buf, size_t cap, size_t headroom, size_t room, size_t *lens,
                  size_t max_packets, size_t *total, int *err);

/* Write `count` packets, packet i being buf[spans[2i] .. spans[2i+1]), one write() each.  A
 * packet the kernel refuses is skipped and counted in *failed (*first_err keeps the first errno),
 * as a Python loop over os.write would.  EINTR is retried.  Returns the packets written. */
size_t tunio_write(int fd, const uint8_t *buf, const size_t *spans, size_t count, size_t *failed,
                   size_t *first_err);

/* Pure: the receive side's header walk.  Frame i of a decoded batch is buf[ends[i-1] .. ends[i])
 * (the first from 0).  From frame `from` on, while a frame is address/control (FF 03, or
 * nothing under ACFC), a protocol field (1 or 2 octets) and a non-empty IPv4 (0x0021, ok4) or
 * IPv6 (0x0057, ok6) packet, the packet's span goes into spans[] (start, stop pairs; room for
 * count - from) and its length into *bytes.  Returns the index of the first frame that is
 * anything else (count when none), for the caller to handle; *nspans the spans written. */
size_t tunio_ip_spans(const uint8_t *buf, const size_t *ends, size_t count, size_t from, int ok4, int ok6,
                      size_t *spans, size_t *nspans, size_t *bytes);

/* Pure: put a PPP header in the headroom of each slot tunio_read filled (lens[] as it wrote
 * them): head4 before an IPv4 packet, head6 before an IPv6 one, both hlen bytes (ok4/ok6 = 0: that
 * protocol is not open).  Returns the index of the first slot whose
 * packet has no header to go with it (not IPv4/IPv6, its protocol closed, or empty), or count
 * when all got one. */
size_t tunio_put_heads(uint8_t *buf, const size_t *lens, size_t count, size_t hlen,
                       const uint8_t *head4, int ok4, const uint8_t *head6, int ok6);
#endif
