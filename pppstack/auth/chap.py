"""CHAP with MD5 (RFC 1994), both roles.

Authenticatee: answers every Challenge (also re-challenges once the link is up) with
MD5(Identifier || secret || Challenge) and our name; an empty secret and name work, which is what
modems expect.  The Response is repeated every `restart` s until Success or Failure arrives, since
a lost Success would otherwise strand us (RFC 1994 §4.2 has the authenticator accept repeats).
It gives up after `timeout` s without a Challenge or a Success (pppd PR #160).
Authenticator: sends a random Challenge every `restart` s up to `max_challenge` times, verifies
the Response, answers repeats of a Response it already accepted with Success again (pppd#16),
and re-challenges every `interval` s when asked to.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping

from pppstack.auth import AuthResult, peer_text
from pppstack.wire import ControlPacket

__all__ = ["ChapClient", "ChapServer", "md5_response", "CHALLENGE", "RESPONSE", "SUCCESS", "FAILURE"]

log = logging.getLogger("pppstack.ppp")

CHALLENGE, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4
Send = Callable[[bytes], None]


def md5_response(ident: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 §4.1 with MD5 (algorithm 5)."""
    return hashlib.md5(bytes((ident,)) + secret + challenge).digest()


def _value_and_name(data: bytes) -> tuple[bytes, bytes] | None:
    if not data or len(data) < 1 + data[0] or data[0] == 0:
        return None
    return data[1:1 + data[0]], data[1 + data[0]:]


class ChapClient:
    protocol_name = "CHAP"

    def __init__(self, user: str, password: str, send: Send, *, timeout: float = 60.0,
                 restart: float = 3.0) -> None:
        self._name = user.encode()
        self._secret = password.encode()
        self._send = send
        self.timeout = timeout
        self.restart = restart
        self.deadline: float | None = None
        self.done = False         # the first outcome has been reported
        self._answered: int | None = None
        self._give_up_at: float | None = None
        self._resend_at: float | None = None
        self._response = b""

    def start(self, now: float) -> None:
        self._give_up_at = now + self.timeout
        self._arm()

    def _arm(self) -> None:
        times = [t for t in (self._give_up_at, self._resend_at) if t is not None]
        self.deadline = min(times) if times else None

    def handle_timer(self, now: float) -> AuthResult | None:
        if self.deadline is None or now < self.deadline or self.done:
            return None
        if self._give_up_at is not None and now >= self._give_up_at:
            self.deadline, self.done = None, True
            what = "a CHAP Success" if self._answered is not None else "a CHAP challenge"
            return AuthResult(False, f"The peer sent no {what} within {self.timeout:g} s")
        if self._resend_at is not None and now >= self._resend_at:
            # RFC 1994 §4.2: the Success may be lost; the authenticator accepts repeated Responses
            self._send(self._response)
            self._resend_at = now + self.restart
        self._arm()
        return None

    def receive(self, code: int, ident: int, data: bytes, now: float) -> AuthResult | None:
        if code == CHALLENGE:
            parts = _value_and_name(data)
            if parts is None:
                log.info("CHAP: discarded a malformed Challenge")
                return None
            value, _ = parts
            digest = md5_response(ident, self._secret, value)
            self._response = ControlPacket(RESPONSE, ident, bytes((len(digest),)) + digest + self._name).build()
            self._send(self._response)
            self._answered = ident
            self._resend_at = now + self.restart
            if self.done:  # a re-challenge: answer it, nothing to wait for
                self._resend_at = None
            self._arm()
            return None
        if code in (SUCCESS, FAILURE) and ident == self._answered:
            msg = peer_text(data)
            self._resend_at = None
            if self.done:
                self._arm()
                if code == FAILURE:  # a failed re-challenge ends the link too
                    return AuthResult(False, "CHAP re-authentication failed: the network refused our credentials"
                                      + (f" (it said {msg!r})" if msg else ""))
                return None
            self.done, self.deadline, self._give_up_at = True, None, None
            if code == SUCCESS:
                return AuthResult(True, "CHAP authentication succeeded" + (f": {msg}" if msg else ""))
            return AuthResult(False, "CHAP authentication failed: the network refused our credentials"
                                     + (f" (it said {msg!r})" if msg else ""))
        return None


class ChapServer:
    protocol_name = "CHAP"

    def __init__(self, secrets: Mapping[str, str], name: str, send: Send, rng: Callable[[int], bytes], *,
                 restart: float = 3.0, max_challenge: int = 10, interval: float = 0,
                 accept_any: bool = False) -> None:
        self.secrets = secrets
        self.accept_any = accept_any
        self._name = name.encode()
        self._send = send
        self._rng = rng
        self.restart, self.max_challenge, self.interval = restart, max_challenge, interval
        self.deadline: float | None = None
        self.done = False          # first outcome reported
        self.peer_name = ""
        self._id = int.from_bytes(rng(1), "big")
        self._challenge = b""
        self._sent = 0
        self._waiting = False       # a Challenge is outstanding
        self._accepted: int | None = None  # id of the Response we accepted (repeats get Success again)

    def start(self, now: float) -> None:
        self._new_challenge(now)

    def _new_challenge(self, now: float) -> None:
        self._id = (self._id + 1) & 0xFF
        self._challenge = self._rng(16)
        self._sent = 0
        self._waiting = True
        self._transmit(now)

    def _transmit(self, now: float) -> None:
        self._sent += 1
        body = bytes((len(self._challenge),)) + self._challenge + self._name
        self._send(ControlPacket(CHALLENGE, self._id, body).build())
        self.deadline = now + self.restart

    def handle_timer(self, now: float) -> AuthResult | None:
        if self.deadline is None or now < self.deadline:
            return None
        if not self._waiting:  # time to re-challenge
            self._new_challenge(now)
            return None
        if self._sent >= self.max_challenge:
            self.deadline, self._waiting = None, False
            self.done = True
            return AuthResult(False, f"The peer did not answer {self._sent} CHAP challenges")
        self._transmit(now)
        return None

    def receive(self, code: int, ident: int, data: bytes, now: float) -> AuthResult | None:
        if code != RESPONSE:
            return None
        if not self._waiting:
            if ident == self._accepted:
                self._send(ControlPacket(SUCCESS, ident, b"Access granted").build())
            return None
        if ident != self._id:
            return None
        parts = _value_and_name(data)
        if parts is None:
            log.info("CHAP: discarded a malformed Response")
            return None
        value, name_b = parts
        name = name_b.decode("utf-8", "replace")
        secret = self.secrets.get(name, self.secrets.get("*"))  # "*": any name (pppd secrets files)
        ok = self.accept_any or (
            secret is not None and hmac.compare_digest(value, md5_response(ident, secret.encode(), self._challenge)))
        self._waiting = False
        self.peer_name = name
        first = not self.done
        self.done = True
        if ok:
            self._accepted = ident
            self._send(ControlPacket(SUCCESS, ident, b"Access granted").build())
            self.deadline = now + self.interval if self.interval > 0 else None
            return AuthResult(True, f"peer {name!r} authenticated with CHAP", name) if first else None
        self._send(ControlPacket(FAILURE, ident, b"Access denied").build())
        self.deadline = None
        return AuthResult(False, f"CHAP authentication of the peer {name!r} failed: wrong name or secret", name)
