"""`import pppstack` gives Python users the engine's front door, loaded on first use so the
command line stays quick; pppstack.frames builds and reads frames as a peer would."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import pppstack
import pppstack.frames
from pppstack.errors import MalformedPacket


def test_every_exported_name_resolves_to_the_engine_object() -> None:
    from pppstack import config, describe, errors, events, frames, pppos

    homes = {"PPPoS": pppos, "LinkConfig": config, "describe_frame": describe, "describe_packet": describe}
    for name in pppstack.__all__:
        if name == "__version__":
            continue
        obj = getattr(pppstack, name)
        home = homes.get(name) or next(m for m in (events, errors, frames) if name in m.__all__)
        assert obj is getattr(home, name), name
    with pytest.raises(AttributeError):
        pppstack.NoSuchThing  # noqa: B018


def test_no_export_is_shadowed_by_a_submodule() -> None:
    """A submodule of the same name replaces the package attribute once imported (pppstack.options)."""
    import importlib.util

    clashes = [n for n in pppstack.__all__ if importlib.util.find_spec(f"pppstack.{n}") is not None]
    assert clashes == []


def test_import_pppstack_loads_no_engine() -> None:
    code = "import sys, pppstack; print(sorted(m for m in sys.modules if m.startswith('pppstack')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["pppstack"]


def test_frames_docstring_example_runs() -> None:
    result = doctest.testmod(pppstack.frames, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


def test_frames_round_trip_and_refuse_nonsense() -> None:
    from pppstack.frames import encode_options, read_frames, wire_ip, wire_packet
    from pppstack.wire import ControlPacket

    raw = wire_packet(0x8021, 1, 3, encode_options((3, bytes(4))))
    assert read_frames(raw) == [(0x8021, ControlPacket(1, 3, b"\x03\x06\x00\x00\x00\x00"))]
    ip = bytes([0x45]) + bytes(19)
    assert read_frames(wire_ip(ip)) == [(0x21, ip)]
    assert read_frames(raw[:-2]) == []  # a frame cut short is not a frame
    with pytest.raises(ValueError):
        encode_options((256, b""))
    with pytest.raises(ValueError):
        wire_ip(b"\x00")
    from pppstack import hdlc

    with pytest.raises(MalformedPacket):  # a Length beyond the octets received
        read_frames(hdlc.encode(b"\xff\x03\xc0\x21\x01\x01\x00\x09"))
