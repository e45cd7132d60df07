"""QEMU guests that give the tests peers we did not write.

- ``pppd.PppdGuest``: Debian's pppd on Debian's kernel behind a tiny AT responder, reachable
  from the host as a pty (``.pty_path``); ``.start_modem(options, pap_secrets=, chap_secrets=)``
  (AT dialogue, then pppd as the network side), ``.start_pppd_client(options, ...)`` (pppd
  dials in to us), ``.stop_modem()``, ``.pppd_log()``, ``.wait_for_log(text)``, ``.at_log()``,
  ``.shell(cmd)``, ``.run(cmd)``, ``.stop()``; ``shared_pppd_guest()`` gives one per process.
  Host-side helpers: ``open_host_pty``, ``at_command``, ``read_until``.
- ``ncm.NcmGadgetGuest``: Linux's NCM gadget (``usb_f_ncm`` via configfs) on ``dummy_hcd`` with
  the checkout shared read-only over 9p at /mnt/src, python3 + python3-usb;
  ``.run(cmd, timeout) -> (rc, output)``, ``.python(code)``; ``shared_ncm_guest()``.
- ``vstick.VStickGuest``: a virtual Huawei E3372h-320 on ``dummy_hcd`` that the guest kernel's own
  usb-storage/sr, option and cdc_ncm bind (CD-ROM mode 12d1:1f01 and stick mode 12d1:155e over
  FunctionFS, the simulated E3372 and real pppd behind the option ttys; ``vstick_fw.py`` is its
  firmware, ``vstick_layout.py`` its descriptors and the unknowns), with the checkout's pppstack
  installed as ``/usr/bin/pppstack``; ``shared_vstick_guest()``.
- ``pppclient`` / ``ncmclient``: thin drivers of our stack (PPP engine over the modem pty; NCM
  edge + session + TUN in the guest) that print events as JSON lines for the interop tests.
- ``qemu.Guest``: the QEMU process, control channel (``run``, ``write_file``, ``read_file``).

Tests: tests/test_guest_*.py (the harness and guests themselves, and oracles for our framing and
printer against pppd's own bytes and log), tests/test_interop_pppd.py,
tests/test_interop_ncm_gadget.py and tests/test_guest_vstick.py; all marked ``guest``.

Images are built from Debian packages on first use (build.py) and cached under
``~/.cache/pppstack/guests/`` (``PPPSTACK_GUEST_CACHE`` overrides); QEMU runs with
``-accel tcg`` (qemu.py). Set ``PPPSTACK_KEEP_GUEST_DIR=1`` to keep a guest's work directory
(console.log, qemu.stderr) after it stops.

Debugging a guest that does not come up: ``PPPSTACK_GUEST_APPEND="guestdebug=1"`` adds to the
kernel command line (``guestdebug=1`` makes init trace every command on the serial console);
``PPPSTACK_KEEP_GUEST_DIR=1`` keeps ``console.log``; a GuestError carries the tails of both logs.
Boot to a ready control channel takes ~2-3 s under TCG; building an image ~6-10 s.

Facts that shaped the harness: both channels are virtio-serial *ports*, not consoles, because
QEMU drops guest output on a console whose host side is full (a busy host lost ~10 KB of a
read-back) while it throttles a port (hw/char/virtio-console.c, flush_buf). A port is no tty:
nothing sets termios on it, and pppd runs with ``notty`` (its own pty, bytes shunted to the
port). A port reads end of file while its host side is closed, so guest scripts wait and read
again on the open port, and a guest write waits until the host connects instead of being lost.
pppd flushes its tty when it starts, so bytes a client sends right after CONNECT may be lost.
"""
