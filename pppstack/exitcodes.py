"""Exit codes of the `pppstack` commands: one per failure class, each with a sentence.

Only the CLI turns failures into these codes.  The numbers are ours (documented in
`pppstack --help` and the README); pppd's own codes are noted where a class matches one.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode", "EXPLANATIONS", "exit_code_table"]


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
}


def exit_code_table() -> str:
    """The table printed by `--help` and copied into the README."""
    return "\n".join(f"  {int(c):>3}  {EXPLANATIONS[c]}" for c in ExitCode)
