"""A wrong port ends as one: CONNECT, no PPP frame at all, then NO CARRIER (the thread's ttyUSB0).

The old sentence blamed the network ("APN, plan or coverage") and sent the user hunting in the
wrong place; the guest test (tests/test_guest_vstick.py) shows the same end on real option ttys.
"""

from __future__ import annotations

from pathlib import Path

from modem_sysfs import E3372H_320_155F, add_device

from pppstack.cli.ports import right_ppp_port, with_right_port
from pppstack.endreason import Evidence, Observation, classify_end
from pppstack.exitcodes import ExitCode


def _end(frames: int | None, obs: Observation = Observation.LINK_DOWN, since: float | None = 1.0):
    return classify_end(Evidence(obs, modem_text=("NO CARRIER",), seconds_since_connect=since,
                                 ppp_frames_in=frames))


def test_no_carrier_with_no_ppp_frame_after_connect_is_the_wrong_port() -> None:
    for obs in (Observation.LINK_DOWN, Observation.EOF):
        end = _end(0, obs)
        assert end.wrong_port and end.code is ExitCode.NO_CARRIER, end
        assert "wrong port" in end.message and "network dropped" not in end.message, end.message


def test_no_carrier_after_ppp_frames_is_still_the_network() -> None:
    end = _end(7)
    assert not end.wrong_port and end.code is ExitCode.NO_CARRIER
    assert "network dropped the connection" in end.message
    assert not _end(None).wrong_port       # a driver that cannot count frames claims nothing
    assert not _end(0, since=None).wrong_port


def test_the_right_port_is_named_from_the_sticks_descriptors(tmp_path: Path) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x155F, E3372H_320_155F)
    assert right_ppp_port("/dev/ttyUSB0", str(tmp_path)) == "/dev/ttyUSB2"
    end = with_right_port(_end(0), "/dev/ttyUSB0", str(tmp_path))
    assert "PPP port is /dev/ttyUSB2, not /dev/ttyUSB0" in end.message and end.wrong_port
    assert end.code is ExitCode.NO_CARRIER
    # already on the PPP port, or no stick at all: nothing to add
    assert with_right_port(_end(0), "/dev/ttyUSB2", str(tmp_path)).message == _end(0).message
    assert with_right_port(_end(0), "/dev/ttyUSB0", str(tmp_path / "none")).message == _end(0).message


def test_the_driver_counts_the_peers_frames_not_its_text() -> None:
    from pppstack.io.pppdriver import _frames_in
    from pppstack.io.session import build_link

    us, peer = build_link({}), build_link({})
    us.open(0.0)
    peer.open(0.0)
    us.receive_data(b"\r\nNO CARRIER\r\n", 0.1)
    assert _frames_in(us) == 0                  # text is not PPP
    us.receive_data(peer.data_to_send(), 0.2)   # the peer's Configure-Request
    assert _frames_in(us) == 1
