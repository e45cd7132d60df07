#!/usr/bin/env python3
"""One page of pictures from the benchmarks' JSON: a self-contained SVG (and a PNG with --png).

    python bench/bench_hdlc.py --json > hdlc.json
    python bench/bench_ntb.py --json > ntb.json
    sudo python bench/bench_link.py --json > link.json
    sudo python bench/bench_scale.py --json > scale.json
    python bench/report.py hdlc.json ntb.json link.json scale.json -o bench.svg [--png bench.png]

Each file is recognised by its shape and drawn as horizontal bars, every bar labelled with its
value and, where the bench measured one in the same run, its ratio to a baseline:

* bench_hdlc: MB/s of each backend and SIMD level, encode and decode, 1500-byte random frames
  at ACCM 0 and 0xFFFFFFFF, against the naive byte-at-a-time loop ("x naive");
* bench_link: each framing backend's Mbit/s (one way, both ways, UDP flood) against the C relay
  and the pty ceilings; CPU seconds per GB; 64-byte packets/s against the C relay's, and as a
  share of those offered (near 100 %: the flooding sender, not the link, set the pace);
* bench_ntb: Mbit/s of the NCM codec cases for each format and datagram size;
* bench_scale: N links at once against one link alone in the same run (aggregate and per-link
  min/max Mbit/s, CPU per GB) and the idle `up` process's memory against the 30 MB budget;
* bench_datapath: the engine's nanoseconds per packet, send and receive, for each backend;
* bench_ncm_real: the real NCM path (TUN, loop, USB threads) against a bare pyusb loop through the
  same gadget, each direction, as medians of its runs.

Several bench_hdlc files (say one per PPPSTACK_HDLC_SIMD setting) are drawn as one chart each.

Other JSON (bench_negotiation) is listed at the foot of the page, not drawn. The SVG is written
by hand (no plotting library); --png converts it with cairosvg (in the [test] extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import benchenv  # bench/ is sys.path[0]

BAD_INPUT = 2
WIDTH, LABEL_W, BAR_W, ROW_H = 1000, 260, 470, 18   # room after the longest bar for its note
COLOURS = {"ours": "#3465a4", "baseline": "#888a85", "ceiling": "#c17d11"}
BASELINES = ("naive-c", "memcpy")   # bench_hdlc rows that are yardsticks, not pppstack
RSS_BUDGET_MB = 30.0   # issue 14: memory per idle link

Bar = tuple[str, float, str, str]   # label, value, kind (a COLOURS key), note after the value


class Page:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.y = 10

    def text(self, s: str, size: int = 13, bold: bool = False, x: int = 10) -> None:
        self.y += size + 6
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(f'<text x="{x}" y="{self.y}" font-size="{size}"{weight}>{escape(s)}</text>')

    def chart(self, title: str, unit: str, bars: list[Bar]) -> None:
        """Horizontal bars on one scale; nothing drawn for a chart with no figures."""
        for label, value, _, _ in bars:
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"has {value!r} where a number belongs ({label})")
        bars = [b for b in bars if b[1] is not None and b[1] > 0]
        if not bars:
            return
        self.text(f"{title} ({unit})", 13, bold=True, x=20)
        self.parts.append(f'<g class="chart" data-title={quoteattr(title)} data-unit={quoteattr(unit)}>')
        top = max(b[1] for b in bars)
        self.y += 4
        for label, value, kind, note in bars:
            w = max(1.0, BAR_W * value / top)
            self.parts.append(
                f'<text x="{LABEL_W - 6}" y="{self.y + ROW_H - 5}" font-size="11" text-anchor="end">'
                f'{escape(label)}</text>'
                f'<rect class="bar {kind}" x="{LABEL_W}" y="{self.y}" width="{w:.1f}" height="{ROW_H - 4}" '
                f'fill="{COLOURS[kind]}" data-label={quoteattr(label)} data-value="{value:g}"/>'
                f'<text x="{LABEL_W + w + 4:.1f}" y="{self.y + ROW_H - 5}" font-size="11">'
                f'{escape(fmt(value) + (" " + note if note else ""))}</text>')
            self.y += ROW_H
        self.parts.append("</g>")
        self.y += 8

    def svg(self) -> str:
        h = self.y + 20
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" '
                f'viewBox="0 0 {WIDTH} {h}" font-family="DejaVu Sans, sans-serif">'
                f'<rect width="{WIDTH}" height="{h}" fill="white"/>' + "".join(self.parts) + "</svg>\n")


def fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def times(v: float | None, base: float | None, what: str) -> str:
    return f"({v / base:.2f}x {what})" if v and base else ""


def share(v: float | None, base: float | None, what: str) -> str:
    return f"[{v / base:.1%} of {what}]" if v and base else ""


def of_offered(v: float | None, offered: float | None) -> str:
    """Delivered as a share of what the sender got into the link: near 100 %, the sender set the pace."""
    return f"[{v / offered:.0%} of offered]" if v and offered else ""


def environment_line(doc: dict[str, Any]) -> str:
    env = doc.get("environment") or {}
    simd = ",".join((env.get("simd") or {}).get("paths") or []) or "none"
    return (f"{env.get('cpu_model', '?')}, {env.get('cpus', '?')} CPUs, Python "
            f"{env.get('python', doc.get('python', '?'))}, SIMD {simd}")


def label_of(r: dict[str, Any]) -> str:
    """A bench_hdlc row's name, with the SIMD level it ran at when the name does not say it."""
    simd = r.get("simd")
    return f"{r['backend']} [{simd}]" if simd and simd not in r["backend"] else r["backend"]


def hdlc(page: Page, doc: dict[str, Any]) -> None:
    recs = [r for r in doc["records"] if r.get("kind") == "random"]
    size = max((r["size"] for r in recs), default=None)
    for accm in sorted({r["accm"] for r in recs}):
        for op in ("encode", "decode"):
            rows = [r for r in recs if (r["size"], r["accm"], r["op"]) == (size, accm, op)]
            naive = next((r["MBps"] for r in rows if r["backend"] == "naive-c"), None)
            memcpy = next((r["MBps"] for r in rows if r["backend"] == "memcpy"), None)
            bars: list[Bar] = [(label_of(r), r["MBps"], "baseline" if r["backend"] in BASELINES else "ours",
                                "" if r["backend"] in BASELINES else
                                " ".join(filter(None, (times(r["MBps"], naive, "naive"),
                                                       share(r["MBps"], memcpy, "memcpy")))))
                               for r in sorted(rows, key=lambda r: -r["MBps"])]
            page.chart(f"HDLC {op}, {size}-byte random frames, ACCM {accm}", "MB/s", bars)


def link(page: Page, doc: dict[str, Any]) -> None:
    relay = doc.get("c_relay") or {}
    ceil_py = (doc.get("pty_ceiling_mbit_s") or {}).get("slave->master")
    ceil_c = (doc.get("pty_ceiling_c_mbit_s") or {}).get("slave->master")
    base = relay.get("one_way_a_to_b_mbit_s")
    tput: list[Bar] = []
    cpu: list[Bar] = []
    small: list[Bar] = []
    for name, s in doc["backends"].items():
        same = s.get("c_relay_same_run") or relay
        one = same.get("one_way_a_to_b_mbit_s")
        for key, label in (("one_way_a_to_b_mbit_s", "one way a->b"), ("one_way_b_to_a_mbit_s", "one way b->a"),
                           ("both_ways_a_to_b_mbit_s", "both ways, a->b"),
                           ("both_ways_b_to_a_mbit_s", "both ways, b->a"),
                           ("udp1500_flood_mbit_s", "UDP 1500 flood a->b")):
            tput.append((f"{name}: {label}", s.get(key), "ours", times(s.get(key), one, "C relay")))
        for key, label in (("cpu_s_per_gb_one_way", "one way"), ("cpu_s_per_gb_both_ways", "both ways")):
            cpu.append((f"{name}: {label}", s.get(key), "ours",
                        times(s.get(key), same.get("cpu_s_per_gb_one_way"), "C relay")))
        cpu.append((f"{name}: 64-byte UDP", s.get("cpu_s_per_gb_udp64"), "ours", ""))
        pps = s.get("udp64_packets_per_s")
        small.append((f"{name}: 64-byte UDP a->b", pps, "ours",
                      " ".join(filter(None, (times(pps, same.get("udp64_packets_per_s"), "C relay"),
                                             of_offered(pps, s.get("udp64_offered_packets_per_s")))))))
    tput += [("C relay: one way a->b", base, "baseline", ""),
             ("pty ceiling, C (slave->master)", ceil_c, "ceiling", ""),
             ("pty ceiling, Python writer (slave->master)", ceil_py, "ceiling", "")]
    cpu.append(("C relay: one way", relay.get("cpu_s_per_gb_one_way"), "baseline", ""))
    small.append(("C relay: 64-byte UDP a->b", relay.get("udp64_packets_per_s"), "baseline",
                  of_offered(relay.get("udp64_packets_per_s"), relay.get("udp64_offered_packets_per_s"))))
    page.chart("PPP link TUN->pty->TUN, TCP and UDP", "Mbit/s", tput)
    page.chart("CPU per GB delivered, both ends", "CPU-s/GB, lower is better", cpu)
    page.chart("Small packets delivered", "packets/s", small)


def ntb(page: Page, doc: dict[str, Any]) -> None:
    groups: dict[tuple[str, int], list[Bar]] = {}
    for r in doc["results"]:
        naive = "naive" in r["case"]
        note = f"({r['ratio_vs_naive']:.2f}x naive)" if r.get("ratio_vs_naive") else ""
        groups.setdefault((r["format"], r["datagram_bytes"]), []).append(
            (r["case"], r["mbit_per_s"], "baseline" if naive else "ours", note))
    for (form, size), bars in sorted(groups.items()):
        page.chart(f"NCM {form}, {size}-byte datagrams", "Mbit/s", bars)


def scale(page: Page, doc: dict[str, Any]) -> None:
    n, one, every = doc["links"], doc["single_link"], doc["all_links"]
    agg = every["aggregate_mbit_s"]
    page.chart(f"{n} links at once vs one link alone ({doc['backend']} framing, TCP a->b)", "Mbit/s", [
        ("one link alone", one["one_way_mbit_s"], "baseline", ""),
        (f"{n} links: aggregate", agg, "ours", times(agg, one["one_way_mbit_s"], "one link")),
        (f"{n} links: slowest link", every["per_link_min_mbit_s"], "ours",
         f"(min/max {every['min_over_max']:.2f})" if every.get("min_over_max") is not None else ""),
        (f"{n} links: fastest link", every["per_link_max_mbit_s"], "ours", ""),
    ])
    relay = doc.get("c_relay")
    bars = [
        ("one link alone", one["cpu_s_per_gb"], "baseline", ""),
        (f"{n} links at once", every["cpu_s_per_gb"], "ours", times(every["cpu_s_per_gb"], one["cpu_s_per_gb"],
                                                                   "one link")),
    ]
    if relay:   # the same run's C relay: how much of the growth the machine itself adds
        r1, rn = relay["single_link"]["cpu_s_per_gb"], relay["all_links"]["cpu_s_per_gb"]
        bars += [("C relay, one link alone", r1, "baseline", ""),
                 (f"C relay, {n} links at once", rn, "baseline", times(rn, r1, "one relay link"))]
    page.chart("CPU per GB, every process of the links", "CPU-s/GB, lower is better", bars)
    rss, private = doc["idle_rss_mb"], doc.get("idle_private_mb") or {}
    page.chart("Memory of an idle link", "MB", [
        ("`up` process, Rss, median", rss["up_median"], "ours", ""),
        ("`up` process, Rss, largest", rss["up_max"], "ours", ""),
        ("`up` process, private, median", private.get("up_median"), "ours", ""),
        ("`serve` process, Rss, median", rss["serve_median"], "ours", ""),
        ("budget per link", RSS_BUDGET_MB, "ceiling", ""),
    ])


def ncm_real(page: Page, doc: dict[str, Any]) -> None:
    def mbit(case: str) -> float | None:
        rates = [r["bytes_per_s"] for r in doc["runs"].get(case) or [] if r.get("bytes_per_s")]
        return round(statistics.median(rates) * 8 / 1e6, 1) if rates else None

    for direction, words in (("out", "host -> modem (TX)"), ("in", "modem -> host (RX)")):
        bare, real = mbit(f"bare-{direction}"), mbit(f"real-{direction}")
        page.chart(f"NCM through the gadget, {words}", "Mbit/s", [
            ("bare pyusb loop, pre-built NTBs", bare, "baseline", ""),
            ("pppstack's real path", real, "ours", times(real, bare, "bare loop")),
        ])


def datapath(page: Page, doc: dict[str, Any]) -> None:
    recs = doc["records"]
    c = next((r for r in recs if r["backend"] == "c"), None)
    for op in ("send", "receive"):
        key = f"{op}_ns_per_packet_best"
        page.chart(f"The engine alone, {op}, {doc['size']}-byte IP packets (best of the runs)",
                   "ns per packet, lower is better",
                   [(r["backend"], r[key], "ours", times(r[key], c[key] if c else None, "C")) for r in recs])


def kind_of(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    if doc.get("benchmark") is None and isinstance(doc.get("records"), list) and \
            all("MBps" in r and "op" in r for r in doc["records"]):
        return "hdlc"
    if isinstance(doc.get("backends"), dict) and all(isinstance(v, dict) for v in doc["backends"].values()):
        return "link"
    if doc.get("benchmark") == "ntb" and isinstance(doc.get("results"), list):
        return "ntb"
    if doc.get("benchmark") == "datapath" and isinstance(doc.get("records"), list):
        return "datapath"
    if doc.get("benchmark") == "scale":
        return "scale"
    if doc.get("benchmark") == "ncm_real" and isinstance(doc.get("runs"), dict):
        return "ncm_real"
    return None


DRAW = {"hdlc": (hdlc, "bench_hdlc: framing throughput"), "link": (link, "bench_link: the whole PPP path"),
        "ntb": (ntb, "bench_ntb: NCM codec"), "scale": (scale, "bench_scale: many links on one host"),
        "ncm_real": (ncm_real, "bench_ncm_real: NCM's real path against the bare USB loop"),
        "datapath": (datapath, "bench_datapath: pppstack's own work per packet, without the kernel")}


def render(docs: list[tuple[str, Any]]) -> str:
    """The SVG page for (file name, parsed JSON) pairs."""
    page = Page()
    page.text("pppstack benchmarks", 18, bold=True)
    page.text("blue: pppstack   grey: same-run baseline   brown: pty ceiling; medians as measured", 11)
    skipped = []
    for name, doc in docs:
        kind = kind_of(doc)
        if kind is None:
            skipped.append(name)
            continue
        draw, title = DRAW[kind]
        page.y += 10
        page.text(f"{title} -- {name}", 15, bold=True)
        page.text(environment_line(doc), 11, x=20)
        try:
            draw(page, doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            why = f"has no {exc}" if isinstance(exc, KeyError) else str(exc)
            raise benchenv.BenchError(f"{name} looks like {title.split(':')[0]} JSON but {why}: is it from an "
                                      "older or newer bench?", BAD_INPUT) from exc
    if skipped:
        page.y += 10
        page.text("not drawn (not a result of a bench drawn here): " + ", ".join(skipped), 11)
    return page.svg()


def load(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as exc:
        raise benchenv.BenchError(f"cannot read {path}: {exc.strerror}.", BAD_INPUT) from exc
    except json.JSONDecodeError as exc:
        raise benchenv.BenchError(f"{path} is not JSON ({exc.msg}, line {exc.lineno}): save a bench's --json "
                                  "output, alone, to the file.", BAD_INPUT) from exc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="JSON printed by bench_*.py --json")
    p.add_argument("-o", "--output", default="bench.svg", help="SVG to write (default bench.svg)")
    p.add_argument("--png", help="also write this PNG (needs cairosvg)")
    args = p.parse_args()
    docs = [(os.path.basename(f), load(f)) for f in args.files]
    if not any(kind_of(d) for _, d in docs):
        raise benchenv.BenchError("none of the files is a bench_hdlc, bench_link, bench_ntb, bench_scale, "
                                  "bench_datapath or bench_ncm_real --json result.",
                                  BAD_INPUT)
    svg = render(docs)
    with open(args.output, "w") as f:
        f.write(svg)
    if args.png:
        try:
            import cairosvg
        except ImportError as exc:
            raise benchenv.BenchError("--png needs cairosvg: pip install cairosvg (it is in the [test] extra).",
                                      benchenv.NOT_INSTALLED) from exc
        cairosvg.svg2png(bytestring=svg.encode(), write_to=args.png)
    print(f"wrote {args.output}" + (f" and {args.png}" if args.png else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(benchenv.run_main(main))
