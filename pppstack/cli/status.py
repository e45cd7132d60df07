"""`pppstack status`: what the running links are doing, from their status files.

`pppstack up` and `serve` rewrite /run/pppstack/<ifname>@net<inode>.json every two seconds and on
every change (phase, addresses, DNS, counters, why the last call ended); the network namespace is
part of the name because two links in two namespaces may both be ppp0.  This command reads them;
it needs no privileges and never disturbs the link.  By default it reads the system's directory
(root's links) and, for a normal user, that user's own as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from pppstack.exitcodes import ExitCode
from pppstack.io.hooks import RUN_DIR, default_run_dir, netns_id, read_status, status_files

__all__ = ["register", "handler", "format_status"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show the running links (phase, addresses, counters)", description=__doc__)
    p.add_argument("ifname", nargs="?", help="one interface (default: all)")
    p.add_argument("--run-dir", help=f"where the status files are (default {RUN_DIR}, and a normal user's "
                   "own run directory)")
    p.add_argument("--json", action="store_true", help="print the status files as JSON")
    p.set_defaults(func=handler)


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError, TypeError):
        return False


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def format_status(st: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    where = f" (network namespace {st['netns']})" if st.get("netns") and st["netns"] != netns_id() else ""
    lines = [f"{st.get('ifname')}{where}: {st.get('phase')}" + ("" if st.get("alive", True) else " (process gone)")]
    if st.get("device"):
        lines.append(f"  device     {st['device']}")
    if st.get("local"):
        lines.append(f"  IPv4       {st['local']} -> peer {st.get('peer')}   mtu {st.get('mtu')}")
    if st.get("ipv6_local"):
        lines.append(f"  IPv6       {st['ipv6_local']} -> peer {st.get('ipv6_peer')}")
    if st.get("dns"):
        lines.append(f"  DNS        {', '.join(st['dns'])}"
                     + (f"  (in {', '.join(st['resolv_conf'])})" if st.get("resolv_conf") else ""))
    if st.get("up_since"):
        lines.append(f"  up for     {int(now - st['up_since'])} s")
    c = st.get("counters") or {}
    if c:
        lines.append(f"  sent       {c.get('packets_sent')} packets, {_human(c.get('bytes_sent'))}")
        lines.append(f"  received   {c.get('packets_rcvd')} packets, {_human(c.get('bytes_rcvd'))}")
        if "dropped_by_pppstack" in c:       # NCM: what was lost on the way to the modem, and where
            lines.append(f"  dropped    {c.get('dropped_by_pppstack')} by pppstack, "
                         f"{c.get('dropped_in_tun_queue')} by the kernel's TUN queue")
    if st.get("last_end"):
        e = st["last_end"]
        lines.append(f"  last drop  {e.get('message')} (exit code {e.get('code')})")
    for note in st.get("notes") or []:
        lines.append(f"  note       {note}")
    return "\n".join(lines)


_SHAPES: dict[str, type | tuple[type, ...]] = {
    "counters": dict, "last_end": dict, "notes": list, "dns": list, "resolv_conf": list,
    "up_since": (int, float), "pid": int, "netns": int,
}


def _checked(st: object) -> dict[str, Any]:
    """The status file's content if it has the shape `up` writes; ValueError in words otherwise."""
    if not isinstance(st, dict):
        raise ValueError(f"expected a JSON object, found a {type(st).__name__}")
    for key, kind in _SHAPES.items():
        if st.get(key) is not None and not isinstance(st[key], kind):
            raise ValueError(f"field {key!r} has the wrong type ({type(st[key]).__name__})")
    return st


def handler(args: argparse.Namespace) -> int:
    dirs = [args.run_dir] if args.run_dir else list(dict.fromkeys([RUN_DIR, default_run_dir()]))
    found: list[dict[str, Any]] = []
    broken = 0
    for path in [p for d in dirs for p in status_files(d, args.ifname)]:
        try:
            st = _checked(read_status(path))
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or exc
            print(f"pppstack status: skipping {path}: it is not a readable pppstack status file ({why})",
                  file=sys.stderr)
            broken += 1
            continue
        st["alive"] = _alive(st.get("pid"))
        found.append(st)
    if args.json:
        print(json.dumps(found if not args.ifname else (found[0] if found else None), indent=2, sort_keys=True))
    elif not found and broken:
        print(f"no readable status file in {' or '.join(dirs)}")
    elif not found:
        what = f"for {args.ifname} " if args.ifname else ""
        print(f"no pppstack link {what}is running (no status file in {' or '.join(dirs)})")
    else:
        print("\n\n".join(format_status(st) for st in found))
    return int(ExitCode.OK if found else ExitCode.NO_DEVICE)
