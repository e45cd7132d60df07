"""bench_scale.py brings up several links at once, measures them against one link alone in the same
run, reports each link's share and the idle memory, prints JSON, and leaves nothing behind.
(Speed is never asserted.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.mark.netns
def test_bench_scale_two_links_prints_json_and_cleans_up() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root)")
    p = subprocess.run([sys.executable, str(BENCH / "bench_scale.py"), "--json", "--links", "2", "--reps", "1",
                        "--duration", "1", "--settle", "0.2", "--backend", "python", "--verbose"],
                       capture_output=True, text=True, timeout=240, cwd="/")
    assert p.returncode == 0, p.stderr
    names = [w for line in p.stderr.splitlines() if line.startswith("bench_link: namespaces")
             for w in line.split()[2:4]]
    assert len(set(names)) == 4, p.stderr                 # two namespaces per link, all distinct
    assert not any(n in _namespaces() for n in names), _namespaces()
    doc = json.loads(p.stdout)
    assert doc["benchmark"] == "scale" and doc["links"] == 2
    env = doc["environment"]
    assert env["backends"] == ["python"] and env["cpu_model"] and env["python"]
    every = doc["runs"]["all"][0]
    assert len(every["mbit_s"]) == 2 and all(m > 0 for m in every["mbit_s"]), every   # both links carried
    assert every["aggregate_mbit_s"] == pytest.approx(sum(every["mbit_s"]), abs=0.2)
    assert doc["all_links"]["per_link_min_mbit_s"] <= doc["all_links"]["per_link_max_mbit_s"]
    assert len(doc["runs"]["single"][0]["mbit_s"]) == 1 and doc["single_link"]["cpu_s_per_gb"] > 0
    assert doc["aggregate_over_single"] == round(doc["all_links"]["aggregate_mbit_s"]
                                                 / doc["single_link"]["one_way_mbit_s"], 3)
    rss = doc["idle_rss_mb"]
    assert 5 < rss["up_median"] <= rss["up_max"] < rss["per_link_pair_max"], rss
    assert 0 < doc["idle_private_mb"]["up_median"] < rss["up_median"], doc
    assert every["bytes_per_wakeup"] > 0, every
    # where the CPU per GB goes: the parts add up to the whole, over the same window as the bytes
    assert every["user_s_per_gb"] + every["sys_s_per_gb"] == pytest.approx(every["cpu_s_per_gb"], abs=0.02), every
    assert every["data_packets_per_gb"] > 0 and every["ack_packets_per_gb"] > 0, every
    assert 0 < every["machine_busy"] <= 1 and every["voluntary_switches_per_gb"] > 0, every
    assert set(doc["per_gb"]["all_links"]) == set(doc["per_gb"]["single_link"]) >= {"user_s_per_gb", "machine_busy"}
    # the C relay beside every link, measured the same way in the same rounds
    relay_all = doc["runs"]["relay_all"][0]
    assert len(relay_all["mbit_s"]) == 2 and all(m > 0 for m in relay_all["mbit_s"]), relay_all
    relay = doc["c_relay"]
    assert relay["single_link"]["cpu_s_per_gb"] > 0 and relay["all_links"]["cpu_s_per_gb"] > 0, relay
    assert relay["per_gb"]["all_links"]["user_s_per_gb"] < every["user_s_per_gb"], relay   # no Python in it
    assert doc["cpu_growth_over_relay_growth"] == round(doc["cpu_s_per_gb_all_over_single"]
                                                        / relay["cpu_s_per_gb_all_over_single"], 3)


def test_bench_scale_refuses_nonsense_and_non_root() -> None:
    p = subprocess.run([sys.executable, str(BENCH / "bench_scale.py"), "--links", "0"], capture_output=True,
                       text=True, timeout=60, cwd="/")
    assert p.returncode == 2 and "--links" in p.stderr and "Traceback" not in p.stderr, p.stderr
