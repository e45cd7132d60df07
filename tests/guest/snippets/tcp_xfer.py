"""Inside a guest: one TCP transfer with a checksum, for the interop tests. Prints one JSON line.

    tcp_xfer.py serve PORT            accept one connection, read to EOF
    tcp_xfer.py send HOST PORT NBYTES send NBYTES of seeded pseudo-random data
Both report md5, byte count and seconds (first byte to EOF on the receiving side).
"""

import hashlib
import json
import random
import socket
import sys
import time

if sys.argv[1] == "serve":
    srv = socket.create_server(("0.0.0.0", int(sys.argv[2])))
    srv.settimeout(120)
    print(json.dumps({"listening": True}), flush=True)
    conn, _ = srv.accept()
    h, n, t0 = hashlib.md5(), 0, None
    while True:
        d = conn.recv(1 << 16)
        if t0 is None:
            t0 = time.monotonic()
        if not d:
            break
        h.update(d)
        n += len(d)
    print(json.dumps({"md5": h.hexdigest(), "bytes": n, "seconds": time.monotonic() - (t0 or time.monotonic())}))
else:
    host, port, nbytes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = random.Random(1661).randbytes(nbytes)
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print(json.dumps({"md5": hashlib.md5(data).hexdigest(), "bytes": nbytes, "seconds": time.monotonic() - t0}))
