"""RFC 1662 async HDLC-like framing: FCS-16/32, ACCM escaping and a streaming deframer.

Two backends implement the same API bit for bit: a C core built through cffi (``native/``) and
a pure-Python one (``_python``, the executable spec).  ``PPPSTACK_HDLC`` picks one at import:
``auto`` (default: C when built, else Python, with one warning), ``c`` (ImportError if the
extension is missing) or ``python``.  ``BACKEND`` tells which one loaded.

Decoding a read: ``Decoder.feed`` returns a bytes object per good frame; ``Decoder.feed_packed``
returns a `FrameBatch` (one buffer, the frames back to back, read-only memoryviews on demand),
twice as fast for 1.5 KB frames because it builds no object per frame.  Both keep garbage for
``take_garbage()`` and count alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from ._common import Counters, Discard, Frame, FrameBatch, Garbage, Item

_log = logging.getLogger(__name__)
_choice = os.environ.get("PPPSTACK_HDLC", "auto").strip().lower() or "auto"

if _choice not in ("auto", "c", "python"):
    raise ImportError(f"PPPSTACK_HDLC must be auto, c or python, not {_choice!r}")

# batched TUN reads framed in place (pppstack.io.tun's read_slots): the C core only
encode_slots: Callable[..., tuple[bytes, int]] | None = None
# the receive side's header walk over a FrameBatch (PPPoS.receive_data): the C core only
ip_spans: Callable[..., tuple[int, Any, int, int]] | None = None
if _choice == "python":
    from ._python import Decoder, encode, encode_many, fcs16, fcs32

    BACKEND = "python"
else:
    try:
        from ._native import Decoder, encode, encode_many, encode_slots, fcs16, fcs32, ip_spans  # type: ignore[assignment]  # same API, two classes
    except ImportError as exc:
        if _choice == "c":
            raise ImportError(
                "PPPSTACK_HDLC=c but the C framing core (pppstack._hdlc_c) is not built: "
                f"{exc}. Install a C compiler and reinstall (pip install -e .), "
                "or set PPPSTACK_HDLC=python."
            ) from exc
        _log.warning(
            "C framing core not available (%s); using the pure-Python HDLC backend, "
            "which is slower. Install a C compiler and reinstall to build it.", exc)
        from ._python import Decoder, encode, encode_many, fcs16, fcs32

        BACKEND = "python"
    else:
        BACKEND = "c"

__all__ = [
    "BACKEND", "Counters", "Decoder", "Discard", "Frame", "FrameBatch", "Garbage", "Item",
    "encode", "encode_many", "encode_slots", "fcs16", "fcs32", "ip_spans",
]
