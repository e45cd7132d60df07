"""The Authenticate phase (RFC 1661 §3.5): which machines run, where their packets go, and when
the phase is over.

LCP's negotiation decides it: the Authentication-Protocol the peer asked of us (`his`) makes us
an authenticatee, the one we asked of the peer (`got`) makes us an authenticator; either, both or
none may run.  Each machine reports one `AuthResult`; the phase is done when every machine has
succeeded.  Machines stay alive into the Network phase, for CHAP re-challenges.
"""

from __future__ import annotations

from collections.abc import Callable

from pppstack.auth import AuthResult
from pppstack.auth.chap import ChapClient, ChapServer
from pppstack.auth.pap import PapClient, PapServer
from pppstack.config import LinkConfig
from pppstack.wire import Protocol

__all__ = ["AuthPhase", "Outcome"]

Machine = PapClient | PapServer | ChapClient | ChapServer
# (protocol name "PAP"/"CHAP", we are the authenticator, result)
Outcome = tuple[str, bool, AuthResult]
_PAP = Protocol.PAP.to_bytes(2, "big")


class AuthPhase:
    def __init__(self, config: LinkConfig, rng: Callable[[int], bytes],
                 send: Callable[[int, bytes], None]) -> None:
        self.config = config
        self.rng = rng
        self._send = send
        self.client: PapClient | ChapClient | None = None
        self.server: PapServer | ChapServer | None = None
        self.pending = 0

    def start(self, his: bytes | None, got: bytes | None, now: float) -> bool:
        """Start what LCP agreed on; False when nobody asked for authentication."""
        c = self.config
        if his is not None:
            if his == _PAP:
                self.client = PapClient(c.user, c.password, self._sender(Protocol.PAP), restart=c.pap_restart,
                                        max_req=c.pap_max_authreq)
            else:
                self.client = ChapClient(c.user, c.password, self._sender(Protocol.CHAP), timeout=c.chap_timeout,
                                         restart=c.chap_restart)
        if got is not None:
            if got == _PAP:
                self.server = PapServer(c.secrets, self._sender(Protocol.PAP), timeout=c.pap_timeout,
                                        accept_any=c.accept_any_credentials)
            else:
                self.server = ChapServer(c.secrets, c.name, self._sender(Protocol.CHAP), self.rng,
                                         restart=c.chap_restart, max_challenge=c.chap_max_challenge,
                                         interval=c.chap_interval, accept_any=c.accept_any_credentials)
        machines = self.machines()
        self.pending = len(machines)
        for m in machines:
            m.start(now)
        return bool(machines)

    def stop(self) -> None:
        self.client = self.server = None
        self.pending = 0

    def machines(self) -> list[Machine]:
        return [m for m in (self.client, self.server) if m is not None]

    @property
    def deadline(self) -> float | None:
        c = self.client.deadline if self.client is not None else None
        s = self.server.deadline if self.server is not None else None
        return c if s is None else s if c is None else min(c, s)

    def runs(self, protocol: int) -> bool:
        return any(_protocol(m) == protocol for m in self.machines())

    def receive(self, protocol: int, code: int, ident: int, data: bytes, now: float) -> list[Outcome]:
        out: list[Outcome] = []
        for m in self.machines():
            if _protocol(m) == protocol:
                result = m.receive(code, ident, data, now)
                if result is not None:
                    out.append(self._outcome(m, result))
        return out

    def handle_timer(self, now: float) -> list[Outcome]:
        out: list[Outcome] = []
        for m in self.machines():
            if m.deadline is not None and now >= m.deadline:
                result = m.handle_timer(now)
                if result is not None:
                    out.append(self._outcome(m, result))
        return out

    def _outcome(self, m: Machine, result: AuthResult) -> Outcome:
        if result.ok:
            self.pending -= 1
        return ("PAP" if _protocol(m) == Protocol.PAP else "CHAP", isinstance(m, PapServer | ChapServer), result)

    def _sender(self, protocol: int) -> Callable[[bytes], None]:
        return lambda info: self._send(protocol, info)


def _protocol(m: Machine) -> int:
    return Protocol.PAP if isinstance(m, PapClient | PapServer) else Protocol.CHAP
