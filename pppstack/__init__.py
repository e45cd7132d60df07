"""pppstack: a userspace PPP and CDC-NCM data path for USB cellular modems.

The protocol core (framing, automaton, LCP/IPCP/IPv6CP, PAP/CHAP, NTB codec) contains
no networking code at all: bytes, events and `now` go in; bytes, events and deadlines
come out.  Only `pppstack.io`, `ncm.usb` and `pppstack.cli` touch the operating system.
"""

__version__ = "0.1.0"
