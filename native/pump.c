/* The fast path's loop; see pump.h. */
#define _GNU_SOURCE
#include "pump.h"
#include "hdlc.h"
#include "tunio.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write what waits, as much as the port takes.  0, or PUMP_PORT. */
static int flush(const pump_cfg *c, pump_state *st)
{
    while (st->out_len) {
        ssize_t w = write(c->port_wfd, c->obuf, st->out_len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            st->err = errno;
            return PUMP_PORT;
        }
        st->serial_out += (uint64_t)w;
        st->out_len -= (size_t)w;
        if (st->out_len)
            memmove(c->obuf, c->obuf + w, st->out_len);   /* rare: the port took part of it */
    }
    return 0;
}

/* TUN -> frames: read packets while the port keeps up and the out buffer has room for one more
 * encoded at its worst.  0, or PUMP_TUN. */
static int from_tun(const pump_cfg *c, pump_state *st)
{
    size_t worst = hdlc_encode_bound(c->hlen + c->pkt_room);
    while (st->out_len < c->high && c->ocap - st->out_len >= worst) {
        ssize_t r = read(c->tun_fd, c->pkt + c->hlen, c->pkt_room);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            st->err = errno;
            return PUMP_TUN;
        }
        if (r == 0) {
            st->err = -1;
            return PUMP_TUN;
        }
        st->packets_out++;              /* read from the TUN, as the driver counts them */
        st->bytes_out += (uint64_t)r;
        unsigned version = c->pkt[c->hlen] >> 4;
        if (version == 4 && c->ok4)
            memcpy(c->pkt, c->head4, c->hlen);
        else if (version == 6 && c->ok6)
            memcpy(c->pkt, c->head6, c->hlen);
        else {
            st->dropped_out++;          /* as the engine's send_ip: not IP, or its protocol closed */
            continue;
        }
        st->out_len += hdlc_encode((char *)c->obuf + st->out_len, (const char *)c->pkt, c->hlen + (size_t)r,
                                   c->accm, 16, st->out_len == 0);
    }
    return 0;
}

/* Port -> TUN: one read, decoded; the IP packets of open protocols go to the TUN.  0, or
 * PUMP_PORT (nothing read), or PUMP_FRAMES (the engine takes the rest of this read's frames). */
static int from_port(const pump_cfg *c, pump_state *st)
{
    /* the decoded frames may take the bytes the decoder carries (a frame cut by the last read) on
     * top of this read's: read no more than dbuf has room for then */
    size_t carried = hdlc_decode_bound((hdlc_decoder *)c->dec, 0);
    size_t room = c->dcap > carried ? c->dcap - carried : 0;
    if (room > c->rcap)
        room = c->rcap;
    if (room < 64) {
        st->err = ENOBUFS;
        return PUMP_PORT;
    }
    ssize_t r = read(c->port_rfd, c->rbuf, room);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        st->err = errno;
        return PUMP_PORT;
    }
    if (r == 0) {
        st->err = -1;
        return PUMP_PORT;
    }
    st->serial_in += (uint64_t)r;
    size_t nframes = 0, ngarbage = 0;
    hdlc_decode_packed((hdlc_decoder *)c->dec, (const char *)c->rbuf, (size_t)r, (char *)c->dbuf, c->ends,
                       c->ends_cap, &nframes, (char *)c->gbuf, &ngarbage);
    st->rx_frames += nframes;
    size_t nspans = 0, bytes = 0;
    size_t stop = nframes ? tunio_ip_spans(c->dbuf, c->ends, nframes, 0, c->ok4, c->ok6, c->spans, &nspans, &bytes)
                          : 0;
    if (nspans) {
        size_t failed = 0, first_err = 0;
        tunio_write(c->tun_fd, c->dbuf, c->spans, nspans, &failed, &first_err);
        st->packets_in += nspans;
        st->bytes_in += bytes;
        st->tun_write_errors += failed;
    }
    if (stop < nframes || ngarbage) {
        st->nframes = nframes;
        st->stop = stop;
        st->ngarbage = ngarbage;
        return PUMP_FRAMES;
    }
    return 0;
}

int pump_run(const pump_cfg *c, pump_state *st)
{
    int64_t end = now_ms() + c->timeout_ms;
    int same = c->port_rfd == c->port_wfd;
    st->nframes = st->stop = st->ngarbage = 0;
    st->err = 0;
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            return st->reason = PUMP_DEADLINE;
        short out = st->out_len ? POLLOUT : 0;
        struct pollfd p[4] = {
            {c->wake_fd, POLLIN, 0},
            {c->port_rfd, (short)(POLLIN | (same ? out : 0)), 0},
            {c->tun_fd, st->out_len < c->high ? POLLIN : 0, 0},
            {c->port_wfd, same ? 0 : out, 0},
        };
        int n = poll(p, same ? 3 : 4, (int)(left > 1000000 ? 1000000 : left));
        if (n < 0) {
            if (errno == EINTR)
                return st->reason = PUMP_WAKE;   /* a signal: its Python handler runs on return */
            st->err = errno;
            return st->reason = PUMP_POLL;
        }
        if (n == 0)
            continue;
        st->wakeups++;
        if (p[0].revents)
            return st->reason = PUMP_WAKE;
        int rc;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && (rc = from_port(c, st)))
            return st->reason = rc;
        if ((p[1].revents | p[3].revents) & POLLOUT && (rc = flush(c, st)))
            return st->reason = rc;
        if (p[2].revents & (POLLIN | POLLERR)) {
            if ((rc = from_tun(c, st)))
                return st->reason = rc;
            if ((rc = flush(c, st)))
                return st->reason = rc;
        }
    }
}
