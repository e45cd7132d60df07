"""Shared fixtures: a fake clock and seeded randomness (tests never sleep on protocol timers)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> Callable[[int], bytes]:
    """Deterministic stand-in for os.urandom (magic numbers, CHAP challenges)."""
    r = random.Random(1661)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


@pytest.fixture
def netns() -> Iterator[str]:
    """A private network namespace (unique name, loopback up), deleted afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("this test needs root and iproute2 (CI runs as root with iproute2 installed)")
    name = f"pst-{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
