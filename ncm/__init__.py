"""CDC-NCM data path: NTB codec, NTB parameters, TX aggregation and the Ethernet/ARP/NDP shim.

Everything here is sans-I/O and uses only the standard library, so it also runs on a bare
Debian python3 (the QEMU guest that drives Linux's NCM gadget).  The one edge is `ncm.usb`
(pyusb), imported on demand, never from here.
"""

from ncm.aggregate import DEFAULT_FLUSH_INTERVAL, Aggregator
from ncm.l2 import L2Config, L2Shim
from ncm.link import NcmDownCause, NcmLink
from ncm.ntb import NtbDecoder, NtbError, NtbFault, NtbInfo, decode_ntb, encode_ntb, parse_ntb
from ncm.params import FunctionalDescriptors, NtbParameters, parse_functional_descriptors

__all__ = [
    "Aggregator", "DEFAULT_FLUSH_INTERVAL", "NtbDecoder", "NtbError", "NtbFault", "NtbInfo", "decode_ntb",
    "encode_ntb", "parse_ntb", "NtbParameters", "FunctionalDescriptors", "parse_functional_descriptors",
    "L2Config", "L2Shim", "NcmLink", "NcmDownCause",
]
