/* The floor bench_link.py measures pppstack against: the same job with no Python and no protocol.
 *
 *   c_relay relay IFNAME FD     TUN IFNAME <-> PPP in HDLC framing on the pty FD, both ways
 *   c_relay write FD SECONDS    write 64 KiB blocks to FD for SECONDS (pty ceiling, sending end)
 *   c_relay read FD             read FD until end or EIO; print "bytes seconds" (first to last read)
 *
 * relay: one process, one poll loop.  TUN -> FF 03 00 21 + packet -> hdlc_encode (FCS-16, ACCM 0,
 * the framing pppstack settles on with itself) -> pty, and pty -> hdlc_decode -> TUN.  No LCP, no
 * IPCP: both ends already agree.  Built by bench_link.py from this file and native/hdlc.c,
 * native/hdlc_x86.c: the same C core the pppstack._hdlc_c extension wraps.
 * It prints "ready" once the TUN exists, so the bench can give it addresses.
 */
#define _GNU_SOURCE
#include "hdlc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 65536
#define MRU 1500
#define HDR 4          /* FF 03 00 21: address, control, protocol IPv4 */
#define MAX_ITEMS 256

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
    fprintf(stderr, "c_relay: %s: %s\n", what, strerror(errno));
    return 1;
}

static int open_tun(const char *name)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int relay(const char *ifname, int pty)
{
    static char pkt[HDR + MRU + 64];
    static char out[BLOCK + 4096];  /* encoded frames waiting for the pty */
    static char in[BLOCK];
    size_t out_len = 0, out_off = 0;
    int tun = open_tun(ifname);
    if (tun < 0)
        return die("cannot create the TUN device");
    if (fcntl(pty, F_SETFL, fcntl(pty, F_GETFL) | O_NONBLOCK) < 0)
        return die("pty");
    hdlc_decoder *dec = hdlc_decoder_new(16, 0, HDR + MRU + 2);
    size_t dec_cap = hdlc_decode_bound(dec, BLOCK);
    char *dec_out = malloc(dec_cap);
    size_t items[3 * MAX_ITEMS];
    if (!dec || !dec_out)
        return die("out of memory");
    memcpy(pkt, "\xff\x03\x00\x21", HDR);
    printf("ready\n");
    fflush(stdout);

    for (;;) {
        /* backpressure: while encoded bytes wait for the pty, stop reading the TUN */
        struct pollfd p[2] = {{tun, out_len ? 0 : POLLIN, 0}, {pty, POLLIN | (out_len ? POLLOUT : 0), 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return die("poll");
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(pty, in, sizeof in);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return 0;   /* the other end went away */
            size_t off = 0;
            while (n > 0 && off < (size_t)n) {
                size_t count = 0;
                off += hdlc_decode(dec, in + off, (size_t)n - off, dec_out, items, MAX_ITEMS, &count);
                for (size_t i = 0; i < count; i++) {
                    const size_t *it = items + 3 * i;
                    if (it[0] != HDLC_ITEM_FRAME || it[2] <= HDR)
                        continue;
                    if (memcmp(dec_out + it[1], "\xff\x03\x00\x21", HDR) != 0)
                        continue;
                    /* a TUN that is down (EIO) or full drops the packet, as a link would */
                    if (write(tun, dec_out + it[1] + HDR, it[2] - HDR) < 0 && errno == EBADF)
                        return die("TUN write");
                }
            }
        }
        if (!out_len && (p[0].revents & POLLIN)) {
            /* take what the TUN has, up to one block of encoded frames, then one pty write */
            while (out_len + hdlc_encode_bound(HDR + MRU) <= sizeof out) {
                ssize_t n = read(tun, pkt + HDR, MRU);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (n < 0)
                    return die("TUN read");
                out_len += hdlc_encode(out + out_len, pkt, HDR + (size_t)n, 0, 16, out_len == 0);
            }
        }
        while (out_len) {
            ssize_t n = write(pty, out + out_off, out_len - out_off);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                return 0;   /* the other end went away */
            }
            out_off += (size_t)n;
            if (out_off == out_len)
                out_len = out_off = 0;
        }
    }
}

static int writer(int fd, double seconds)
{
    static char block[BLOCK];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (char)i;
    double end = now() + seconds;
    while (now() < end)
        if (write(fd, block, sizeof block) < 0 && errno != EINTR)
            return die("pty write");
    usleep(200000);   /* a pty master reads EIO once the slave closes: let the reader drain first */
    return 0;
}

static int reader(int fd)
{
    static char block[BLOCK];
    unsigned long long total = 0;
    double first = 0, last = 0;
    for (;;) {
        ssize_t n = read(fd, block, sizeof block);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        last = now();
        if (!total)
            first = last;
        total += (unsigned long long)n;
    }
    printf("%llu %.6f\n", total, last - first);
    return 0;
}

int main(int argc, char **argv)
{
    /* if the bench is killed outright (no chance to clean up), do not outlive it */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 1;
    if (argc == 4 && !strcmp(argv[1], "relay"))
        return relay(argv[2], atoi(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "write"))
        return writer(atoi(argv[2]), atof(argv[3]));
    if (argc == 3 && !strcmp(argv[1], "read"))
        return reader(atoi(argv[2]));
    fprintf(stderr, "usage: c_relay relay IFNAME FD | write FD SECONDS | read FD\n");
    return 2;
}
