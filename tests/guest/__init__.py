"""QEMU guests that give the tests peers we did not write.

- ``pppd.PppdGuest``: Debian's pppd on Debian's kernel behind a tiny AT responder, reachable
  from the host as a pty (``.pty_path``); ``.start_modem(options)``, ``.pppd_log()``,
  ``.shell(cmd)``, ``.stop()``.
- ``ncm.NcmGadgetGuest``: Linux's NCM gadget (``usb_f_ncm`` via configfs) on ``dummy_hcd`` with
  the checkout shared read-only over 9p at /mnt/src, python3 + python3-usb;
  ``.run(cmd, timeout) -> (rc, output)``.

Images are built from Debian packages on first use (build.py) and cached under
``~/.cache/pppstack/guests/`` (``PPPSTACK_GUEST_CACHE`` overrides); QEMU runs with
``-accel tcg`` (qemu.py). Set ``PPPSTACK_KEEP_GUEST_DIR=1`` to keep a guest's work directory
(console.log, qemu.stderr) after it stops.
"""
