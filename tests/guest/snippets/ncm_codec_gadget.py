"""Runs inside the NCM guest: our NTB codec (ncm package) against Linux's NCM gadget.

pyusb does the USB part by hand here (the ncm package's own edge is exercised elsewhere); the
blocks are built with ``ncm.encode_ntb`` from the device's own GET_NTB_PARAMETERS answer and the
gadget's answers are parsed with ``ncm.decode_ntb``. For NTB16 and NTB32 (SET_NTB_FORMAT), with
the NDP first and at the end: one ARP request, then several ICMP echo requests of different
sizes aggregated into one NTB; every echo must come back intact. Prints one JSON line.
"""

import json
import struct
import sys
import time

import usb.core
import usb.util

import ncm

VID, PID = int(sys.argv[1], 0), int(sys.argv[2], 0)
HOST_MAC = bytes.fromhex(sys.argv[3].replace(":", ""))
GADGET_IP = bytes(int(x) for x in sys.argv[4].split("."))
HOST_IP = bytes(int(x) for x in sys.argv[5].split("."))

dev = usb.core.find(idVendor=VID, idProduct=PID)
assert dev is not None, "gadget not enumerated"
cfg = dev.get_active_configuration()
comm = next(i for i in cfg if i.bInterfaceClass == 2 and i.bInterfaceSubClass == 0x0D)
ctl_if, data_if = comm.bInterfaceNumber, comm.bInterfaceNumber + 1
for n in (ctl_if, data_if):
    if dev.is_kernel_driver_active(n):
        dev.detach_kernel_driver(n)
    usb.util.claim_interface(dev, n)
raw = bytes(dev.ctrl_transfer(0xA1, 0x80, 0, ctl_if, 28))
params = ncm.NtbParameters.from_bytes(raw)
intf = cfg[(data_if, 1)]
ep_in = next(e for e in intf if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN)
ep_out = next(e for e in intf if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT)


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def echo_request(gadget_mac: bytes, ident: int, seq: int, payload: bytes) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, HOST_IP, GADGET_IP)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return gadget_mac + HOST_MAC + b"\x08\x00" + ip + icmp


def collect(pred, want: int, timeout: float = 8.0) -> list:
    got = []
    t_end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < t_end:
        try:
            block = bytes(ep_in.read(params.dwNtbInMaxSize, timeout=500))
        except usb.core.USBTimeoutError:
            continue
        got += [f for f in ncm.decode_ntb(block) if pred(f)]
    return got


results = {"params": {k: getattr(params, k) for k in dir(params) if not k.startswith("_")
                      and isinstance(getattr(params, k), int)}}
seq = 0
for ntb32 in (False, True):
    dev.set_interface_altsetting(interface=data_if, alternate_setting=0)
    # SET_NTB_FORMAT is only allowed while the data interface is in alt setting 0
    dev.ctrl_transfer(0x21, 0x84, 1 if ntb32 else 0, ctl_if, None)
    dev.set_interface_altsetting(interface=data_if, alternate_setting=1)
    for ndp_at_end in (False, True):
        name = ("ntb32" if ntb32 else "ntb16") + ("_ndp_at_end" if ndp_at_end else "")
        arp = (b"\xff" * 6 + HOST_MAC + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
               + HOST_MAC + HOST_IP + b"\x00" * 6 + GADGET_IP)
        ep_out.write(ncm.encode_ntb([arp], params, ntb32=ntb32, ndp_at_end=ndp_at_end, sequence=seq))
        seq += 1
        replies = collect(lambda f: f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02", 1)
        assert replies, f"{name}: no ARP reply"
        gmac = replies[0][6:12]
        sizes = [0, 1, 56, 333, 1000, 1472, 7, 64]
        payloads = {i: bytes((i * 7 + j) & 0xFF for j in range(n)) for i, n in enumerate(sizes)}
        frames = [echo_request(gmac, 0x5050, i, payloads[i]) for i in payloads]
        t0 = time.monotonic()
        ep_out.write(ncm.encode_ntb(frames, params, ntb32=ntb32, ndp_at_end=ndp_at_end, sequence=seq))
        seq += 1
        echoes = collect(lambda f: f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0, len(frames))
        ok = sorted(struct.unpack_from("!H", f, 40)[0] for f in echoes
                    if f[42:] == payloads.get(struct.unpack_from("!H", f, 40)[0]))
        results[name] = {"sent": len(frames), "echoed_intact": len(ok), "ms": round((time.monotonic() - t0) * 1e3, 1)}
print(json.dumps(results))
