"""Shared fixtures: a fake clock and seeded randomness (tests never sleep on protocol timers)."""

from __future__ import annotations

import random
from collections.abc import Callable

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
