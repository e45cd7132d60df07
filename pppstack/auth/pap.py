"""PAP (RFC 1334 §2): the authenticatee retransmits Authenticate-Request until Ack or Nak; the
authenticator waits for one, checks it against its secrets, and re-acks repeats.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping

from pppstack.auth import AuthResult, peer_text
from pppstack.wire import ControlPacket

__all__ = ["PapClient", "PapServer", "AUTH_REQ", "AUTH_ACK", "AUTH_NAK"]

log = logging.getLogger("pppstack.ppp")

AUTH_REQ, AUTH_ACK, AUTH_NAK = 1, 2, 3
Send = Callable[[bytes], None]


class PapClient:
    """We authenticate to the peer (user/password may be empty: modems accept anything)."""

    protocol_name = "PAP"

    def __init__(self, user: str, password: str, send: Send, *, restart: float = 3.0, max_req: int = 10) -> None:
        u, p = user.encode()[:255], password.encode()[:255]
        self._body = bytes((len(u),)) + u + bytes((len(p),)) + p
        self._send = send
        self.restart, self.max_req = restart, max_req
        self.deadline: float | None = None
        self.done = False
        self._id = 0
        self._sent = 0

    def start(self, now: float) -> None:
        self._sent = 0
        self._transmit(now)

    def _transmit(self, now: float) -> None:
        self._id = (self._id + 1) & 0xFF
        self._sent += 1
        self._send(ControlPacket(AUTH_REQ, self._id, self._body).build())
        self.deadline = now + self.restart

    def handle_timer(self, now: float) -> AuthResult | None:
        if self.deadline is None or now < self.deadline or self.done:
            return None
        if self._sent >= self.max_req:
            self.deadline, self.done = None, True
            return AuthResult(False, f"No response to {self._sent} PAP authenticate-requests: "
                                     "the peer does not answer PAP")
        self._transmit(now)
        return None

    def receive(self, code: int, ident: int, data: bytes, now: float) -> AuthResult | None:
        if self.done or ident != self._id or code not in (AUTH_ACK, AUTH_NAK):
            return None
        msg = peer_text(data[1:1 + data[0]]) if data else ""
        self.done, self.deadline = True, None
        if code == AUTH_ACK:
            return AuthResult(True, f"PAP authentication succeeded{': ' + msg if msg else ''}")
        return AuthResult(False, "PAP authentication failed: the network refused our credentials"
                                 + (f" (it said {msg!r})" if msg else ""))


class PapServer:
    """We check the peer's PAP credentials against `secrets` (user -> password)."""

    protocol_name = "PAP"

    def __init__(self, secrets: Mapping[str, str], send: Send, *, timeout: float = 30.0,
                 accept_any: bool = False) -> None:
        self.secrets = secrets
        self.accept_any = accept_any
        self._send = send
        self.timeout = timeout
        self.deadline: float | None = None
        self.done = False
        self.succeeded = False
        self.peer_name = ""

    def start(self, now: float) -> None:
        self.deadline = now + self.timeout

    def handle_timer(self, now: float) -> AuthResult | None:
        if self.deadline is None or now < self.deadline or self.done:
            return None
        self.deadline, self.done = None, True
        return AuthResult(False, f"The peer sent no PAP credentials within {self.timeout:g} s")

    def receive(self, code: int, ident: int, data: bytes, now: float) -> AuthResult | None:
        if code != AUTH_REQ:
            return None
        try:
            ulen = data[0]
            user = data[1:1 + ulen]
            plen = data[1 + ulen]
            password = data[2 + ulen:2 + ulen + plen]
            if len(user) != ulen or len(password) != plen:
                raise IndexError
        except IndexError:
            log.info("PAP: discarded a malformed Authenticate-Request")
            return None
        name = user.decode("utf-8", "replace")
        if self.done:  # a repeat after our answer was lost: answer the same way
            self._reply(ident, self.succeeded)
            return None
        secret = self.secrets.get(name, self.secrets.get("*"))  # "*": any name (pppd secrets files)
        ok = self.accept_any or (secret is not None and hmac.compare_digest(secret.encode(), password))
        self._reply(ident, ok)
        self.done, self.succeeded, self.deadline, self.peer_name = True, ok, None, name
        if ok:
            return AuthResult(True, f"peer {name!r} authenticated with PAP", name)
        return AuthResult(False, f"PAP authentication of the peer {name!r} failed: wrong user name or password",
                          name)

    def _reply(self, ident: int, ok: bool) -> None:
        msg = b"Login ok" if ok else b"Login incorrect"
        self._send(ControlPacket(AUTH_ACK if ok else AUTH_NAK, ident, bytes((len(msg),)) + msg).build())
