"""Inside a guest: a UDP flood and its count, for the NCM backpressure test. One JSON line each.

    udp_flood.py serve PORT QUIET    count datagrams (by their 4-byte sequence number) until QUIET
                                     seconds pass without one after the first; 64 MB receive buffer
    udp_flood.py send HOST PORT N SIZE   send N datagrams of SIZE bytes as fast as the socket takes them
"""

import json
import socket
import struct
import sys
import time

if sys.argv[1] == "serve":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    quiet = float(sys.argv[3])
    print(json.dumps({"listening": True}), flush=True)
    s.settimeout(300)
    seen: set[int] = set()
    count = 0
    t0 = None
    while True:
        try:
            d = s.recv(65536)
        except TimeoutError:
            break
        if t0 is None:
            t0 = time.monotonic()
            s.settimeout(quiet)
        count += 1
        seen.add(struct.unpack_from("!I", d)[0])
    print(json.dumps({"received": count, "distinct": len(seen),
                      "seconds": time.monotonic() - (t0 or time.monotonic()) - quiet}), flush=True)
else:
    host, port, n, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    pad = bytes(size - 4)
    errors = 0
    t0 = time.monotonic()
    for i in range(n):
        try:
            s.send(struct.pack("!I", i) + pad)
        except OSError:
            errors += 1
    print(json.dumps({"sent": n - errors, "errors": errors, "seconds": time.monotonic() - t0}), flush=True)
