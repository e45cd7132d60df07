/* Batched TUN I/O; see tunio.h. */
#include "tunio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

size_t tunio_read(int fd, uint8_t *buf, size_t cap, size_t headroom, size_t room, size_t *lens,
                  size_t max_packets, size_t *total, int *err)
{
    size_t n = 0, off = 0;
    *err = 0;
    while (n < max_packets && cap - off >= headroom + room) {
        ssize_t r = read(fd, buf + off + headroom, room);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                *err = errno;
            break;
        }
        if (r == 0) {
            *err = -1;
            break;
        }
        lens[n++] = headroom + (size_t)r;
        off += headroom + (size_t)r;
    }
    *total = off;
    return n;
}

size_t tunio_write(int fd, const uint8_t *buf, const size_t *spans, size_t count, size_t *failed,
                   size_t *first_err)
{
    size_t done = 0;
    *failed = 0;
    *first_err = 0;
    for (size_t i = 0; i < count; i++) {
        ssize_t w;
        do
            w = write(fd, buf + spans[2 * i], spans[2 * i + 1] - spans[2 * i]);
        while (w < 0 && errno == EINTR);
        if (w < 0) {
            if (!*failed)
                *first_err = (size_t)errno;
            (*failed)++;
        } else {
            done++;
        }
    }
    return done;
}

size_t tunio_ip_spans(const uint8_t *buf, const size_t *ends, size_t count, size_t from, int ok4, int ok6,
                      size_t *spans, size_t *nspans, size_t *bytes)
{
    size_t k = 0, sum = 0, i = from;
    for (; i < count; i++) {
        size_t p = i ? ends[i - 1] : 0, end = ends[i];
        if (p >= end)
            break;
        if (buf[p] == 0xFF) {           /* address and control present */
            if (end - p < 3 || buf[p + 1] != 0x03)
                break;
            p += 2;
        }
        unsigned proto;
        if (buf[p] & 1) {               /* a compressed (one-octet) protocol field */
            proto = buf[p];
            p += 1;
        } else {
            if (end < p + 2 || !(buf[p + 1] & 1))
                break;
            proto = (unsigned)buf[p] << 8 | buf[p + 1];
            p += 2;
        }
        if (!((proto == 0x21 && ok4) || (proto == 0x57 && ok6)) || end <= p)
            break;
        spans[2 * k] = p;
        spans[2 * k + 1] = end;
        sum += end - p;
        k++;
    }
    *nspans = k;
    *bytes = sum;
    return i;
}

size_t tunio_put_heads(uint8_t *buf, const size_t *lens, size_t count, size_t hlen,
                       const uint8_t *head4, int ok4, const uint8_t *head6, int ok6)
{
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        if (lens[i] <= hlen)
            return i;
        unsigned version = buf[off + hlen] >> 4;
        if (version == 4 && ok4)
            memcpy(buf + off, head4, hlen);
        else if (version == 6 && ok6)
            memcpy(buf + off, head6, hlen);
        else
            return i;
        off += lens[i];
    }
    return count;
}
