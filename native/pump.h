/* The fast path: IP packets between the TUN and the serial port, both ways, in one C loop, for
 * as long as nothing needs the engine.  The PPP driver (pppstack/io/fastpath.py) calls it once
 * the link is up and quiet; it returns on the engine's next deadline, a wake of the loop (a
 * signal, another thread), a frame that is not an IP packet of an open protocol, text between
 * frames, or any error, each of which the driver's own Python path then handles as it always
 * does.  Nothing here decides protocol: the engine hands in the headers, the ACCM and its own
 * decoder (so a frame cut across calls is carried over either way).
 *
 * Like hdlc.h this header is fed to cffi's cdef without its preprocessor lines.
 */
#ifndef PPPSTACK_PUMP_H
#define PPPSTACK_PUMP_H
#include <stddef.h>
#include <stdint.h>

enum {
    PUMP_DEADLINE = 0,   /* timeout_ms passed */
    PUMP_WAKE = 1,       /* the wake fd is readable, or a signal interrupted poll() */
    PUMP_FRAMES = 2,     /* frames [stop, nframes) of dbuf/ends, and/or ngarbage bytes of gbuf, are the engine's */
    PUMP_PORT = 3,       /* a port read or write failed or hit end of file: nothing of it was consumed */
    PUMP_TUN = 4,        /* a TUN read failed (not EAGAIN) */
    PUMP_POLL = 5        /* poll() failed (err) */
};

typedef struct {
    int tun_fd, port_rfd, port_wfd, wake_fd;
    int timeout_ms;
    uint8_t head4[4], head6[4];     /* the PPP header each IP version goes out with, hlen bytes */
    size_t hlen;
    int ok4, ok6;                   /* that network protocol is open (send and receive) */
    uint32_t accm;                  /* send ACCM */
    void *dec;                      /* the engine's hdlc_decoder */
    uint8_t *rbuf; size_t rcap;     /* one port read */
    uint8_t *dbuf; size_t dcap;     /* its frames, decoded (a read is cut to fit hdlc_decode_bound) */
    size_t *ends; size_t ends_cap;  /* frame ends in dbuf: at least rcap / 4 + 8 */
    size_t *spans;                  /* 2 * ends_cap */
    uint8_t *gbuf;                  /* text between frames: dcap bytes too */
    uint8_t *obuf; size_t ocap;     /* encoded frames waiting for the port */
    size_t high;                    /* read the TUN only while fewer bytes than this wait */
    uint8_t *pkt; size_t pkt_room;  /* one TUN packet, read hlen bytes in */
} pump_cfg;

typedef struct {
    size_t out_len;                 /* in and out: bytes of obuf waiting for the port */
    int reason, err;
    size_t nframes, stop, ngarbage; /* PUMP_FRAMES: what the engine is to take from dbuf and gbuf */
    uint64_t serial_in, serial_out, rx_frames;
    uint64_t packets_in, bytes_in, tun_write_errors;
    uint64_t packets_out, bytes_out, dropped_out;   /* read from the TUN; of them, not framed (not IP, or closed) */
    uint64_t wakeups;
} pump_state;

/* Run until one of the PUMP_ reasons; st->reason says which.  Counters are added to. */
int pump_run(const pump_cfg *cfg, pump_state *st);
#endif
