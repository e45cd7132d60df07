"""Exit codes of the `pppstack` commands: one per failure class, each with a sentence, and the
one table from a typed cause to its code.

A cause is a member of one of four enums: the PPP engine's `DownCause`, the NCM session's
`NcmDownCause`, a dial's `DialError` (through `dial_cause`, which is mode-aware), or the edges'
own `EdgeCause` (what the serial port, the USB device, the options or the persist policy said).
`exit_code(cause)` reads `EXIT_CODES`; nothing else turns a cause into a number.  The numbers
are ours (documented in `pppstack --help` and the README); pppd's codes are noted where a class
matches one.
"""

from __future__ import annotations

from enum import Enum, IntEnum

from ncm.link import NcmDownCause
from pppstack.events import DownCause
from pppstack.modem.dial import DialError

__all__ = ["ExitCode", "EXPLANATIONS", "exit_code_table", "EdgeCause", "Cause", "EXIT_CODES", "exit_code",
           "dial_cause"]


class ExitCode(IntEnum):
    OK = 0
    FATAL = 1  # pppd EXIT_FATAL_ERROR
    OPTION_ERROR = 2  # pppd EXIT_OPTION_ERROR
    PERMISSION = 3  # pppd EXIT_NOT_ROOT
    NO_DEVICE = 4
    MODESWITCH_FAILED = 5
    OPEN_FAILED = 6  # pppd EXIT_OPEN_FAILED
    CONNECT_FAILED = 7  # pppd EXIT_CONNECT_FAILED
    SIM_PIN = 8
    LCP_TIMEOUT = 9
    NEGOTIATION_FAILED = 10  # pppd EXIT_NEGOTIATION_FAILED
    AUTH_FAILED = 11  # pppd EXIT_AUTH_TOPEER_FAILED
    PEER_AUTH_FAILED = 12  # pppd EXIT_PEER_AUTH_FAILED
    LOOPBACK = 13  # pppd EXIT_LOOPBACK
    PEER_DEAD = 14  # pppd EXIT_PEER_DEAD
    HANGUP = 15  # pppd EXIT_HANGUP
    PORT_VANISHED = 16
    CARRIER_LOST = 17
    NO_CARRIER = 18
    PEER_TERMINATED = 19
    NETWORK_FAILED = 20
    USB_ERROR = 21
    NCM_DIAL_FAILED = 22
    MAXFAIL = 23
    INTERRUPTED = 24
    NOT_FOR_MODE = 25


EXPLANATIONS: dict[ExitCode, str] = {
    ExitCode.OK: "the link ended normally (or the command succeeded)",
    ExitCode.FATAL: "an internal error; the log says where",
    ExitCode.OPTION_ERROR: "an option or configuration file could not be understood",
    ExitCode.PERMISSION: "not permitted: creating a TUN device or routes needs root or CAP_NET_ADMIN",
    ExitCode.NO_DEVICE: "no modem or no suitable port was found",
    ExitCode.MODESWITCH_FAILED: "the USB mode switch was sent but the expected device did not appear",
    ExitCode.OPEN_FAILED: "the serial port could not be opened",
    ExitCode.CONNECT_FAILED: "the dial script failed (ERROR, BUSY, NO CARRIER or a timeout before CONNECT)",
    ExitCode.SIM_PIN: "the SIM needs a PIN (or PUK), or the PIN given was refused",
    ExitCode.LCP_TIMEOUT: "the peer never answered LCP: wrong port, or the modem is not in data mode",
    ExitCode.NEGOTIATION_FAILED: "LCP option negotiation failed",
    ExitCode.AUTH_FAILED: "we failed to authenticate ourselves to the peer (PAP/CHAP refused)",
    ExitCode.PEER_AUTH_FAILED: "the peer failed to authenticate itself to us",
    ExitCode.LOOPBACK: "the link is looped back (our own magic number came back)",
    ExitCode.PEER_DEAD: "the peer stopped answering LCP echo requests",
    ExitCode.HANGUP: "the port reported end of file or an I/O error (the modem hung up)",
    ExitCode.PORT_VANISHED: "the port disappeared: the modem dropped off USB (often a power problem)",
    ExitCode.CARRIER_LOST: "the modem dropped DCD (carrier lost)",
    ExitCode.NO_CARRIER: "the modem fell back to command mode and printed text such as NO CARRIER",
    ExitCode.PEER_TERMINATED: "the peer ended the link (LCP Terminate-Request)",
    ExitCode.NETWORK_FAILED: "no network protocol (IPCP/IPv6CP) could be opened",
    ExitCode.USB_ERROR: "a USB transfer failed or the NCM function could not be set up",
    ExitCode.NCM_DIAL_FAILED: "the modem did not bring up the NCM data connection (^NDISDUP)",
    ExitCode.MAXFAIL: "the link failed more times in a row than maxfail allows",
    ExitCode.INTERRUPTED: "stopped by a signal before the link came up",
    ExitCode.NOT_FOR_MODE: "an option was given that does not apply to the data path chosen with --mode",
}


def exit_code_table() -> str:
    """The table printed by `--help` and copied into the README."""
    return "\n".join(f"  {int(c):>3}  {EXPLANATIONS[c]}" for c in ExitCode)


class EdgeCause(Enum):
    """Why a command ended, as the edges (ports, USB, options, dial, persist policy) see it."""

    STOPPED = "stopped"                    # closed on request, or the command did what it was asked
    INTERNAL = "internal"                  # a bug: the log has the traceback
    BAD_OPTION = "bad-option"              # an option, a file or a setting could not be used
    OPTION_NOT_FOR_MODE = "option-not-for-mode"  # e.g. lcp-echo-interval with --mode ncm
    NOT_PERMITTED = "not-permitted"        # TUN, routes or the USB device need privileges
    NO_DEVICE = "no-device"                # no modem, no port, or nothing answered AT on it
    MODESWITCH_FAILED = "modeswitch-failed"
    OPEN_FAILED = "open-failed"            # the port exists but could not be opened / is not a tty
    CONNECT_FAILED = "connect-failed"      # the dial (AT dialer or connect script) did not CONNECT
    SIM_PIN = "sim-pin"                    # PIN/PUK needed or refused
    NCM_DIAL_FAILED = "ncm-dial-failed"    # ^NDISDUP did not bring the data connection up
    HANGUP = "hangup"                      # EOF/EIO on the serial port
    WRITE_STALL = "write-stall"            # the serial port stopped taking data
    PORT_VANISHED = "port-vanished"        # the device node went away (off USB)
    CARRIER_DROP = "carrier-lost"          # DCD went off
    NO_CARRIER_TEXT = "no-carrier"         # the modem printed NO CARRIER & co.: back in command mode
    NO_NCM_CARRIER = "no-ncm-carrier"      # the NCM function never reported NETWORK_CONNECTION
    MAXFAIL = "maxfail"                    # persist gave up after maxfail failures in a row
    INTERRUPTED = "interrupted"            # a signal before the link came up


Cause = DownCause | NcmDownCause | EdgeCause

# The one table: every cause has a row, every exit code is reached from some row (tests/test_exit_table.py).
EXIT_CODES: dict[Cause, ExitCode] = {
    # the PPP engine (pppstack.events.DownCause)
    DownCause.LCP_TIMEOUT: ExitCode.LCP_TIMEOUT,
    DownCause.NEGOTIATION_FAILED: ExitCode.NEGOTIATION_FAILED,
    DownCause.AUTH_FAILED: ExitCode.AUTH_FAILED,
    DownCause.PEER_AUTH_FAILED: ExitCode.PEER_AUTH_FAILED,
    DownCause.LOOPBACK: ExitCode.LOOPBACK,
    DownCause.PEER_DEAD: ExitCode.PEER_DEAD,
    DownCause.PEER_TERMINATED: ExitCode.PEER_TERMINATED,
    DownCause.LOCAL_CLOSE: ExitCode.OK,
    DownCause.NETWORK_FAILED: ExitCode.NETWORK_FAILED,
    # the NCM link (ncm.link.NcmDownCause)
    NcmDownCause.USB_DISCONNECTED: ExitCode.PORT_VANISHED,
    NcmDownCause.USB_ERROR: ExitCode.USB_ERROR,
    NcmDownCause.CARRIER_LOST: ExitCode.CARRIER_LOST,
    NcmDownCause.LOCAL_CLOSE: ExitCode.OK,
    # the edges
    EdgeCause.STOPPED: ExitCode.OK,
    EdgeCause.INTERNAL: ExitCode.FATAL,
    EdgeCause.BAD_OPTION: ExitCode.OPTION_ERROR,
    EdgeCause.OPTION_NOT_FOR_MODE: ExitCode.NOT_FOR_MODE,
    EdgeCause.NOT_PERMITTED: ExitCode.PERMISSION,
    EdgeCause.NO_DEVICE: ExitCode.NO_DEVICE,
    EdgeCause.MODESWITCH_FAILED: ExitCode.MODESWITCH_FAILED,
    EdgeCause.OPEN_FAILED: ExitCode.OPEN_FAILED,
    EdgeCause.CONNECT_FAILED: ExitCode.CONNECT_FAILED,
    EdgeCause.SIM_PIN: ExitCode.SIM_PIN,
    EdgeCause.NCM_DIAL_FAILED: ExitCode.NCM_DIAL_FAILED,
    EdgeCause.HANGUP: ExitCode.HANGUP,
    EdgeCause.WRITE_STALL: ExitCode.HANGUP,
    EdgeCause.PORT_VANISHED: ExitCode.PORT_VANISHED,
    EdgeCause.CARRIER_DROP: ExitCode.CARRIER_LOST,
    EdgeCause.NO_CARRIER_TEXT: ExitCode.NO_CARRIER,
    EdgeCause.NO_NCM_CARRIER: ExitCode.NO_CARRIER,
    EdgeCause.MAXFAIL: ExitCode.MAXFAIL,
    EdgeCause.INTERRUPTED: ExitCode.INTERRUPTED,
}


def exit_code(cause: Cause) -> ExitCode:
    """The exit code of a cause (every cause has one: the table is complete)."""
    return EXIT_CODES[cause]


_PIN_ERRORS = frozenset({DialError.SIM_PIN_REQUIRED, DialError.SIM_PIN_REJECTED, DialError.SIM_PUK_REQUIRED})


def dial_cause(error: DialError | None, *, ncm: bool) -> EdgeCause:
    """What a failed dial means: a SIM problem in both modes; in NCM mode silence on the AT port
    means no usable AT port (no device), and anything else is ^NDISDUP failing; a PPP dial that
    lost its port is said by the edge (it knows whether the node vanished), else it did not connect."""
    if error in _PIN_ERRORS:
        return EdgeCause.SIM_PIN
    if ncm:
        return EdgeCause.NO_DEVICE if error is DialError.NO_RESPONSE else EdgeCause.NCM_DIAL_FAILED
    return EdgeCause.CONNECT_FAILED
