"""Facts: what one log line says, in words the verdict rules can count on.

Every parser (pppd/chat, modem text, kernel, the connection managers) turns a normalised line
into zero or more `Fact`s of a fixed `Kind`; the rules never look at wording again.  Lines no
parser knows give no fact, which is how unknown lines are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from pppstack.doctor.lines import LogLine

__all__ = ["Kind", "Fact"]


class Kind(Enum):
    # session structure
    OUTER_START = auto()       # netifd "setting up", NM "Activation: starting", wvdial start, MM simple connect
    PPPD_START = auto()        # "pppd 2.4.7 started by root"
    ATTEMPT_END = auto()       # "Connection terminated.", "Exit.", netifd "is now down", NM "failed"
    USER_STOP = auto()         # "Terminating on signal 15", "Connect time 3.2 minutes."
    # the modem's command side
    SEND_AT = auto()           # an AT command line sent (detail: the command)
    DIAL = auto()              # an ATD command (detail: the command)
    AT_OK = auto()
    CONNECT = auto()
    NO_CARRIER = auto()
    BUSY = auto()
    AT_ERROR = auto()          # ERROR / +CME ERROR (detail: the text)
    CONNECT_SCRIPT_FAILED = auto()
    PIN_NEEDED = auto()
    PIN_OK = auto()
    REGISTERED = auto()
    NOT_REGISTERED = auto()    # searching, denied, not searching (detail: which)
    SIGNAL = auto()            # ^HCSQ, +CSQ, ^CERSSI... (detail: the report)
    BOOT = auto()              # ^BOOT: the modem (re)started
    PDP_CAUSE = auto()         # the network's reason for refusing the data call (detail)
    NDIS_UP = auto()           # ^NDISSTAT:1 / NCM link up
    NDIS_DOWN = auto()         # ^NDISSTAT:0 (detail: cause, if any)
    ECHO = auto()              # a command line the modem echoed (detail: the command)
    # ports and USB
    OPEN_ENOENT = auto()       # the tty does not exist
    OPEN_BUSY = auto()         # the tty is locked or in use
    WRITE_FAILED = auto()      # "Could not write to COM device" (comgt)
    TTY_ATTACHED = auto()      # "converter now attached to ttyUSB0" (detail: port)
    USB_DISCONNECT = auto()    # "usb 1-1: USB disconnect", "converter now disconnected from ttyUSB2"
    STORAGE_MODE = auto()      # usb-storage on a modem, cdc_ether/rndis_host (HiLink)
    NCM_NETDEV = auto()        # "cdc_ncm ... register"
    LINK_NOT_READY = auto()    # "wwan0: link is not ready"
    # PPP
    SERIAL_UP = auto()         # "Serial connection established."
    PPP_CONNECT = auto()       # "Connect: ppp0 <--> /dev/ttyUSB2" (detail: device)
    MODEM_HANGUP = auto()
    PEER_FRAME = auto()        # "rcvd [...]": the peer speaks PPP
    LCP_TIMEOUT = auto()
    LOOPBACK = auto()
    AUTH_FAIL = auto()
    AUTH_OK = auto()
    NCP_FAIL = auto()          # IPCP timeout, "No network protocols running"
    IP_UP = auto()             # "local  IP address ..." (detail: address)
    ECHO_FAIL = auto()         # "No response to 4 echo-requests"
    PEER_TERMINATED = auto()   # "LCP terminated by peer"
    NO_KERNEL_PPP = auto()
    IP_UP_MANAGER = auto()     # NM "activated", MM "connected"
    NOISE = auto()             # known harmless lines worth a note (detail: the note)
    PPPD_EXIT = auto()         # wvdial: "(exit code = 16)" (detail: pppd's exit status)


@dataclass(frozen=True, slots=True)
class Fact:
    kind: Kind
    line: LogLine
    detail: str = ""

    @property
    def evidence(self) -> str:
        """The line as a user would recognise it in their own log."""
        where = f"{self.line.program}: " if self.line.program else ""
        return f"{self.line.stamp + ' ' if self.line.stamp else ''}{where}{self.line.message}"
