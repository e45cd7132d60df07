"""bench/report.py draws the benches' JSON as one SVG page: the bars, their values and their ratios
to the same-run baselines are in it, cairosvg renders it, and bad input gets a sentence."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cairosvg

BENCH = Path(__file__).resolve().parent.parent / "bench"
SVG = "{http://www.w3.org/2000/svg}"
ENV = {"cpu_model": "Test CPU 9000", "cpus": 2, "python": "3.11.7", "simd": {"paths": ["avx2"]}}


def _hdlc() -> dict:
    recs = []
    for accm in ("0x00000000", "0xFFFFFFFF"):
        for op in ("encode", "decode"):
            for backend, mbps in (("c-core", 4000.0), ("c", 2000.0), ("python", 50.0), ("naive-c", 400.0)):
                recs.append({"backend": backend, "op": op, "accm": accm, "size": 1500, "kind": "random", "MBps": mbps})
                recs.append({"backend": backend, "op": op, "accm": accm, "size": 64, "kind": "random", "MBps": 1.0})
    return {"environment": ENV, "records": recs}


def _link() -> dict:
    relay = {"one_way_a_to_b_mbit_s": 800.0, "cpu_s_per_gb_one_way": 8.0, "udp64_packets_per_s": 200000.0,
             "udp64_offered_packets_per_s": 200000.0}
    backend = {"one_way_a_to_b_mbit_s": 400.0, "one_way_b_to_a_mbit_s": 380.0, "both_ways_a_to_b_mbit_s": 250.0,
               "both_ways_b_to_a_mbit_s": 150.0, "udp1500_flood_mbit_s": 300.0, "cpu_s_per_gb_one_way": 16.0,
               "cpu_s_per_gb_both_ways": 20.0, "cpu_s_per_gb_udp64": 90.0, "udp64_packets_per_s": 50000.0,
               "udp64_offered_packets_per_s": 80000.0,
               "c_relay_same_run": relay}
    return {"environment": ENV, "backends": {"c": backend}, "c_relay": relay,
            "pty_ceiling_mbit_s": {"master->slave": 1200.0, "slave->master": 1100.0},
            "pty_ceiling_c_mbit_s": {"master->slave": 2400.0, "slave->master": 2200.0}}


def _ntb() -> dict:
    return {"benchmark": "ntb", "python": "3.11.7", "results": [
        {"case": "encode", "datagram_bytes": 1500, "format": "NTB16", "mbit_per_s": 9000.0, "ratio_vs_naive": 1.5},
        {"case": "encode_naive", "datagram_bytes": 1500, "format": "NTB16", "mbit_per_s": 6000.0}]}


def _report(tmp_path: Path, docs: dict[str, object], *extra: str) -> subprocess.CompletedProcess[str]:
    files = []
    for name, doc in docs.items():
        f = tmp_path / name
        f.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        files.append(str(f))
    return subprocess.run([sys.executable, str(BENCH / "report.py"), *files, "-o", str(tmp_path / "out.svg"), *extra],
                          capture_output=True, text=True, timeout=60, cwd="/")


def _bars(root: ET.Element) -> dict[tuple[str, str], float]:
    """(chart title, bar label) -> value, from the SVG's own elements."""
    out = {}
    for chart in root.iter(f"{SVG}g"):
        for rect in chart.iter(f"{SVG}rect"):
            out[(chart.get("data-title", ""), rect.get("data-label", ""))] = float(rect.get("data-value", "nan"))
    return out


def test_report_draws_every_bench_with_baselines_and_ratios(tmp_path: Path) -> None:
    p = _report(tmp_path, {"hdlc.json": _hdlc(), "link.json": _link(), "ntb.json": _ntb(),
                           "negotiation.json": {"benchmark": "negotiation"}})
    assert p.returncode == 0, p.stderr
    svg = (tmp_path / "out.svg").read_text()
    root = ET.fromstring(svg)
    bars = _bars(root)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]

    # HDLC: every backend at 1500 bytes (not the 64-byte rows), the naive loop as the baseline
    enc = "HDLC encode, 1500-byte random frames, ACCM 0x00000000"
    assert {label for (title, label) in bars if title == enc} == {"c-core", "c", "python", "naive-c"}
    assert bars[(enc, "c-core")] == 4000.0
    assert "4,000 (10.00x naive)" in texts and "50 (0.12x naive)" in texts
    assert any(t.startswith("HDLC decode, 1500-byte random frames, ACCM 0xFFFFFFFF") for t in texts)

    # link: our figures next to the C relay and both pty ceilings, each with its ratio to the relay
    tput = "PPP link TUN->pty->TUN, TCP and UDP"
    assert bars[(tput, "c: one way a->b")] == 400.0
    assert bars[(tput, "C relay: one way a->b")] == 800.0
    assert bars[(tput, "pty ceiling, C (slave->master)")] == 2200.0
    assert bars[(tput, "pty ceiling, Python writer (slave->master)")] == 1100.0
    assert "400 (0.50x C relay)" in texts and "150 (0.19x C relay)" in texts
    assert bars[("CPU per GB delivered, both ends", "C relay: one way")] == 8.0
    assert "16 (2.00x C relay)" in texts
    assert "50,000 (0.25x C relay) [62% of offered]" in texts and "200,000 [100% of offered]" in texts

    # NCM codec, and the file it cannot draw is named, not dropped silently
    assert bars[("NCM NTB16, 1500-byte datagrams", "encode_naive")] == 6000.0
    assert any("negotiation.json" in t and "not drawn" in t for t in texts)
    assert any("Test CPU 9000" in t for t in texts)

    # bar widths are to scale within a chart
    widths = {r.get("data-label"): float(r.get("width", 0)) for g in root.iter(f"{SVG}g")
              if g.get("data-title") == tput for r in g.iter(f"{SVG}rect")}
    assert abs(widths["c: one way a->b"] * 2 - widths["C relay: one way a->b"]) < 0.5

    # it renders, at the size it says
    png = cairosvg.svg2png(bytestring=svg.encode())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (int(root.get("width", 0)), int(root.get("height", 0)))


def test_report_writes_png_when_asked(tmp_path: Path) -> None:
    p = _report(tmp_path, {"link.json": _link()}, "--png", str(tmp_path / "out.png"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_link_without_c_baselines_still_draws(tmp_path: Path) -> None:
    doc = _link()
    for key in ("c_relay", "pty_ceiling_c_mbit_s"):
        del doc[key]
    del doc["backends"]["c"]["c_relay_same_run"]
    p = _report(tmp_path, {"link.json": doc})
    assert p.returncode == 0, p.stderr
    bars = _bars(ET.fromstring((tmp_path / "out.svg").read_text()))
    assert not any("C relay" in label for _, label in bars)
    assert bars[("PPP link TUN->pty->TUN, TCP and UDP", "pty ceiling, Python writer (slave->master)")] == 1100.0


def test_report_bad_input_is_a_sentence(tmp_path: Path) -> None:
    p = _report(tmp_path, {"bad.json": "bench_link: namespaces ...\n{"})
    assert p.returncode == 2 and "bad.json is not JSON" in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = _report(tmp_path, {"other.json": {"benchmark": "negotiation"}})
    assert p.returncode == 2 and "none of the files" in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = _report(tmp_path, {"link.json": {"backends": {"c": {"one_way_a_to_b_mbit_s": "fast"}}}})
    assert p.returncode == 2 and "older or newer bench" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "out.svg").exists()


def _scale() -> dict:
    return {"benchmark": "scale", "environment": ENV, "links": 8, "backend": "c",
            "single_link": {"one_way_mbit_s": 400.0, "cpu_s_per_gb": 15.0},
            "all_links": {"aggregate_mbit_s": 360.0, "cpu_s_per_gb": 18.0, "per_link_min_mbit_s": 40.0,
                          "per_link_max_mbit_s": 50.0, "min_over_max": 0.8, "starved_links": 0},
            "c_relay": {"single_link": {"one_way_mbit_s": 700.0, "cpu_s_per_gb": 8.0},
                        "all_links": {"aggregate_mbit_s": 800.0, "cpu_s_per_gb": 10.0}},
            "idle_rss_mb": {"up_median": 24.0, "up_max": 25.0, "serve_median": 23.0, "per_link_pair_max": 48.0}}


def _ncm_real() -> dict:
    return {"benchmark": "ncm_real", "environment": ENV, "runs": {
        "bare-out": [{"bytes_per_s": 10e6}, {"bytes_per_s": 12e6}, {"bytes_per_s": 30e6}],
        "real-out": [{"bytes_per_s": 6e6}, {"bytes_per_s": 9e6}, {"bytes_per_s": 1e6}],
        "bare-in": [{"bytes_per_s": 20e6}], "real-in": [{"bytes_per_s": 5e6}]}}


def test_report_draws_scale_ncm_real_and_memcpy(tmp_path: Path) -> None:
    hdlc = _hdlc()
    hdlc["records"].append({"backend": "memcpy", "op": "encode", "accm": "0x00000000", "size": 1500,
                            "kind": "random", "MBps": 80000.0})
    hdlc["records"] += [{"backend": b, "simd": simd, "op": "encode", "accm": "0x00000000", "size": 1500,
                         "kind": "random", "MBps": 3000.0}
                        for b, simd in (("c-frame", "avx2"), ("c-core-ssse3", "ssse3"))]
    p = _report(tmp_path, {"hdlc.json": hdlc, "scale.json": _scale(), "ncm.json": _ncm_real()})
    assert p.returncode == 0, p.stderr
    root = ET.fromstring((tmp_path / "out.svg").read_text())
    bars = _bars(root)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    # memcpy is a grey yardstick and every backend says its share of it
    enc = "HDLC encode, 1500-byte random frames, ACCM 0x00000000"
    assert bars[(enc, "memcpy")] == 80000.0
    assert "4,000 (10.00x naive) [5.0% of memcpy]" in texts
    assert bars[(enc, "c-frame [avx2]")] == 3000.0 and bars[(enc, "c-core-ssse3")] == 3000.0   # the level it ran at
    # scale: the aggregate against one link alone, the slowest link, CPU per GB, memory against the budget
    tput = "8 links at once vs one link alone (c framing, TCP a->b)"
    assert bars[(tput, "one link alone")] == 400.0 and bars[(tput, "8 links: aggregate")] == 360.0
    assert "360 (0.90x one link)" in texts and "40 (min/max 0.80)" in texts
    assert "18 (1.20x one link)" in texts
    cpu = "CPU per GB, every process of the links"
    assert bars[(cpu, "C relay, one link alone")] == 8.0 and bars[(cpu, "C relay, 8 links at once")] == 10.0
    assert "10 (1.25x one relay link)" in texts
    assert bars[("Memory of an idle link", "budget per link")] == 30.0
    # NCM: medians of the runs, real over bare
    assert bars[("NCM through the gadget, host -> modem (TX)", "bare pyusb loop, pre-built NTBs")] == 96.0
    assert bars[("NCM through the gadget, host -> modem (TX)", "pppstack's real path")] == 48.0
    assert "48 (0.50x bare loop)" in texts and "40 (0.25x bare loop)" in texts


def test_report_draws_the_engine_per_packet(tmp_path: Path) -> None:
    doc = {"benchmark": "datapath", "environment": ENV, "size": 1400, "records": [
        {"backend": "c", "send_ns_per_packet_best": 350.0, "receive_ns_per_packet_best": 1000.0},
        {"backend": "python", "send_ns_per_packet_best": 5600.0, "receive_ns_per_packet_best": 11000.0}]}
    p = _report(tmp_path, {"datapath.json": doc})
    assert p.returncode == 0, p.stderr
    root = ET.fromstring((tmp_path / "out.svg").read_text())
    bars = _bars(root)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert bars[("The engine alone, receive, 1400-byte IP packets (best of the runs)", "python")] == 11000.0
    assert "5,600 (16.00x C)" in texts


def test_the_readme_picture_is_what_its_command_draws(tmp_path: Path) -> None:
    """README shows bench/results/latest.svg and the command that made it: run that command on
    the committed JSON and get the committed picture, byte for byte."""
    root = BENCH.parent
    readme = (root / "README.md").read_text()
    assert "](bench/results/latest.svg)" in readme
    line = next(ln.strip() for ln in readme.splitlines()
                if "bench/report.py" in ln and "-o bench/results/latest.svg" in ln)
    argv = line.split()
    assert argv[:2] == ["python", "bench/report.py"]
    out = tmp_path / "latest.svg"
    argv[argv.index("-o") + 1] = str(out)
    p = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=60, cwd=root)
    assert p.returncode == 0, p.stderr
    assert out.read_text() == (root / "bench" / "results" / "latest.svg").read_text()
