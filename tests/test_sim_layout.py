"""The simulator's ports are the ones `pppstack ports` names for the same stick: on the thread's
E3372h-320 (12d1:155f) PPP is on ttyUSB2 and AT on ttyUSB0 — so the simulator's modem port is
ttyUSB2, its PCUI ttyUSB0, and its ^GETPORTMODE answer says the same."""

from __future__ import annotations

import os

from modem_sysfs import E3372H_320_155F, add_device

from pppstack.io.simrunner import start_sim
from pppstack.io.sysfs import find_modems
from pppstack.modem import huawei as hw
from pppstack.sim.modem import SimConfig


def test_sim_ports_match_what_ports_reads_from_the_descriptors(tmp_path) -> None:
    add_device(tmp_path, "1-1", 0x12D1, 0x155F, E3372H_320_155F)
    (m,) = find_modems(str(tmp_path))
    with start_sim(SimConfig(echo=False, signal_interval=0), extra_ports=True) as sim:
        names = {role: os.path.basename(p) for role, p in sim.port_paths().items()}
        assert names["modem"] == os.path.basename(m.ppp_port) == "ttyUSB2"
        assert names["pcui"] == os.path.basename(m.at_port) == "ttyUSB0"
        assert os.path.basename(sim.port_path) == "ttyUSB2"
    roles = {i.number: i.role.value for i in m.interfaces if i.ttys}
    answer = hw.parse_getportmode("^GETPORTMODE: " + _getportmode())
    assert {n: r for n, r in answer.items() if r != "net"} == roles


def test_the_modem_port_alone_is_still_ttyusb2() -> None:
    with start_sim(SimConfig(echo=False, signal_interval=0)) as sim:
        assert os.path.basename(sim.port_path) == "ttyUSB2"


def _getportmode() -> str:
    from pppstack.sim.modem import SimModem

    m = SimModem(SimConfig(echo=False, signal_interval=0), lambda n: bytes(n))
    m.start(0.0)
    m.receive_data(b"AT^GETPORTMODE\r", 0.0)
    out = m.data_to_send().decode()
    (line,) = [x for x in out.split("\r\n") if x.startswith("^GETPORTMODE")]
    return line.split(": ", 1)[1]
