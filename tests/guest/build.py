"""Build a bootable guest (kernel + initramfs) from Debian packages, cached by recipe hash.

Nothing binary lives in the repository: every image is assembled in the test setup from
packages fetched with ``apt-get download`` and unpacked with ``dpkg -x``. The result is cached
under ``~/.cache/pppstack/guests/<hash>/`` where the hash covers the recipe (package names,
module list, init script, builder version), so a change to any of them builds a new image and a
fresh CI machine builds its own on first use (about half a minute, mostly download and unpack).

The image:
- ``vmlinux``: the uncompressed ELF kernel cut out of Debian's bzImage (xz payload). QEMU boots
  it through the PVH entry point, skipping the in-guest decompression that costs several
  seconds under TCG.
- ``initrd.cpio``: an uncompressed newc archive written here in Python (no cpio binary
  needed), usr-merged like a Debian 12 system, holding busybox-static, the closure of the kernel
  modules the recipe needs (dependency order computed on the host from each module's
  ``.modinfo``; the kernel .deb ships no modules.dep), the recipe's binaries with every shared
  library they need (checked by walking ELF DT_NEEDED entries, so a missing library is a build
  error naming it rather than a guest that cannot start), an ``ld.so.cache`` from
  ``ldconfig -r`` and, for Python guests, byte-compiled stdlib so the guest does not compile it
  at every boot.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import lzma
import os
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BUILDER_VERSION = "4"
CACHE_ROOT = Path(os.environ.get("PPPSTACK_GUEST_CACHE", Path.home() / ".cache" / "pppstack" / "guests"))
MULTIARCH = "x86_64-linux-gnu"

BASE_PACKAGES = ("busybox-static", "libc6")

PPPD_PACKAGES = (
    "ppp", "libcrypt1", "libpam0g", "libaudit1", "libcap-ng0", "libpcap0.8", "libdbus-1-3",
    "libssl3", "libsystemd0", "libcap2", "libgcrypt20", "libgpg-error0", "liblz4-1", "liblzma5",
    "libzstd1",
)

PYTHON_PACKAGES = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "python3-usb",
    "libusb-1.0-0", "libudev1", "libffi8", "zlib1g", "libexpat1", "libbz2-1.0", "liblzma5",
    "libssl3", "libcrypt1", "libuuid1",
)

# Paths never copied into an image (documentation, translations, the kernel's full module tree).
_SKIP_PREFIXES = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "usr/share/lintian",
                  "lib/modules", "boot", "usr/lib/python3.11/test", "usr/lib/python3.11/idlelib",
                  "usr/lib/python3.11/tkinter", "usr/lib/python3.11/ensurepip", "usr/lib/python3.11/lib2to3",
                  "usr/lib/python3.11/pydoc_data", "etc/ppp/options")

# Init, shared by every guest: mount the pseudo file systems, load modules, run the recipe's
# setup, then serve the control channel on the virtio-serial port named "ctl" (qemu.py says why
# ports, not consoles; udev is absent, so init makes the /dev/virtio-ports/NAME links itself from
# sysfs). The control protocol is line based:
# the host sends "<id> <timeout> <base64 script>\n"; the guest answers "@@B <id>\n", the
# base64 of the script's combined output, then "@@E <id> <rc>\n". Base64 both ways keeps the
# channel 8-bit clean and immune to tty processing.
_INIT = r"""#!/bin/busybox sh
[ -n "$guestdebug" ] && set -x  # boot with guestdebug=1 on the kernel command line to trace init
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/run /var/log /var/lock /mnt /root
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug  # virtio-ports/*: whether a port's host side is open
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
echo 1 > /proc/sys/kernel/printk
for m in $(cat /etc/guest/modules); do
  insmod "$m" || echo "guest: insmod $m failed" > /dev/console
done
ip link set lo up
hostname pppstack-guest
. /etc/guest/setup.sh > /tmp/setup.log 2>&1
mkdir -p /dev/virtio-ports
i=0
while [ ! -c /dev/virtio-ports/ctl ] && [ $i -lt 200 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ -r "$p/name" ] && ln -sfn "/dev/${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
  done
  sleep 0.05; i=$((i+1))
done
# one open file for both directions: a port allows a single open at a time (EBUSY)
exec 0<> /dev/virtio-ports/ctl 1>&0 2>/dev/console
exec sh /etc/guest/agent.sh
"""

# A port reads end of file while no host side is connected (before the test connects): keep the
# port open and read again rather than reopen it (closing a port discards what it buffered).
_AGENT = r"""# control channel: see build.py
while true; do
  read -r id tmo b64 || { sleep 0.05; continue; }
  [ -n "$id" ] || continue
  printf '%s' "$b64" | base64 -d > /tmp/.cmd
  timeout -s KILL "$tmo" sh /tmp/.cmd > /tmp/.out 2>&1 < /dev/null
  rc=$?
  printf '\n@@B %s\n' "$id"
  base64 /tmp/.out
  printf '@@E %s %d\n' "$id" "$rc"
done
"""


@dataclass(frozen=True)
class Recipe:
    """What goes into one guest image."""

    name: str
    packages: tuple[str, ...]
    modules: tuple[str, ...]            # module names; their dependencies are added in load order
    setup: str = ""                     # shell run by init before the control channel starts
    executables: tuple[str, ...] = ()   # paths whose shared-library closure must be complete
    dlopened: tuple[str, ...] = ()      # libraries loaded by dlopen/ctypes (closure checked too)
    extra_files: tuple[tuple[str, str], ...] = ()   # (path in guest, text)
    python: bool = False
    notes: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class GuestImage:
    directory: Path
    kernel: Path
    initrd: Path
    kernel_release: str


class GuestBuildError(RuntimeError):
    """The guest image could not be built; the message says which step and why."""


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GuestBuildError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def kernel_package() -> str:
    """The concrete linux-image package Debian's linux-image-amd64 points at today."""
    override = os.environ.get("PPPSTACK_GUEST_KERNEL")
    if override:
        return override
    out = _run(["apt-cache", "depends", "linux-image-amd64"])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split()[1]
    raise GuestBuildError("apt-cache knows no linux-image-amd64: run `apt-get update` first")


def recipe_hash(recipe: Recipe, kernel_pkg: str) -> str:
    blob = json.dumps({
        "v": BUILDER_VERSION, "kernel": kernel_pkg, "packages": sorted(set(BASE_PACKAGES + recipe.packages)),
        "modules": recipe.modules, "setup": recipe.setup, "exe": recipe.executables, "dl": recipe.dlopened,
        "extra": recipe.extra_files, "python": recipe.python,
        # the builder's own source: any change to how images are assembled gives a new image
        "builder": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build(recipe: Recipe, log: Iterable[str] | None = None) -> GuestImage:
    """Return the cached image for ``recipe``, building it first if needed (locked across processes)."""
    kpkg = kernel_package()
    h = recipe_hash(recipe, kpkg)
    out = CACHE_ROOT / f"{recipe.name}-{h}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f".{recipe.name}-{h}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = out / "image.json"
        if not done.exists():
            if out.exists():
                shutil.rmtree(out)
            work = Path(tempfile.mkdtemp(prefix=f".{recipe.name}-", dir=CACHE_ROOT))
            try:
                _build_into(recipe, kpkg, work)
                work.rename(out)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            _prune(recipe.name, keep=out)
        meta = json.loads(done.read_text())
        os.utime(out)          # marks the image as in use for _prune
    return GuestImage(out, out / "vmlinux", out / "initrd.cpio", meta["kernel_release"])


def _prune(name: str, keep: Path, min_age: float = 3600.0) -> None:
    """Drop this recipe's older images (~100 MB each) that nothing has used for an hour."""
    import time

    for old in CACHE_ROOT.glob(f"{name}-*"):
        if old != keep and old.is_dir() and time.time() - old.stat().st_mtime > min_age:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# steps


def _download(packages: Iterable[str], debs: Path) -> list[Path]:
    debs.mkdir(parents=True, exist_ok=True)
    names = sorted(set(packages))
    # apt-get download drops privileges to _apt when it can; a root-owned cache dir makes it
    # warn and continue unsandboxed, which is fine for public packages.
    proc = subprocess.run(["apt-get", "download", "-q", *names], cwd=debs, capture_output=True, text=True)
    if proc.returncode != 0:
        hint = " (package lists missing? run `apt-get update`)" if "Unable to locate" in proc.stderr else ""
        raise GuestBuildError(f"apt-get download failed{hint}: {proc.stderr.strip()[-1500:]}")
    files = sorted(debs.glob("*.deb"))
    if len(files) < len(names):
        raise GuestBuildError(f"apt-get download fetched {len(files)} of {len(names)} packages")
    return files


def _extract_kernel(bzimage: Path, dest: Path) -> None:
    """Cut the xz-compressed ELF payload out of a bzImage (what extract-vmlinux does)."""
    data = bzimage.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    while start >= 0:
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
        except lzma.LZMAError:
            elf = b""
        if elf.startswith(b"\x7fELF"):
            dest.write_bytes(elf)
            return
        start = data.find(b"\xfd7zXZ\x00", start + 1)
    raise GuestBuildError(f"no xz-compressed ELF kernel inside {bzimage}")


def _modinfo_depends(ko: Path) -> list[str]:
    data = ko.read_bytes()
    i = data.find(b"\x00depends=")
    if i < 0:
        i = data.find(b"depends=")
        if i != 0:
            return []
    else:
        i += 1
    end = data.index(b"\x00", i)
    value = data[i + len(b"depends="):end].decode()
    return [d for d in value.split(",") if d]


def _module_order(moddir: Path, wanted: Iterable[str]) -> list[Path]:
    """Module files for ``wanted`` and everything they depend on, dependencies first."""
    index: dict[str, Path] = {}
    for ko in moddir.rglob("*.ko"):
        index[ko.stem.replace("-", "_")] = ko
    builtin = set()
    builtin_file = moddir / "modules.builtin"
    if builtin_file.exists():
        builtin = {Path(line).stem.replace("-", "_") for line in builtin_file.read_text().split()}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        key = name.replace("-", "_")
        if key in seen or key in builtin:
            return
        if key not in index:
            raise GuestBuildError(f"kernel module {name} not found (needed by {' -> '.join(chain) or 'recipe'})")
        seen.add(key)
        for dep in _modinfo_depends(index[key]):
            visit(dep, (*chain, name))
        order.append(index[key])

    for name in wanted:
        visit(name, ())
    return order


def _elf_needed(path: Path) -> list[str] | None:
    """DT_NEEDED sonames of a 64-bit little-endian ELF file, or None if it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return None
            data = head + f.read()
    except OSError:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    for sh in sections:
        if sh[1] != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for off in range(sh[4], sh[4] + sh[5], 16):
            tag, val = struct.unpack_from("<qQ", data, off)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\x00", str_off + val)
                needed.append(data[str_off + val:end].decode())
    return needed


def _check_closure(root: Path, paths: Iterable[str]) -> None:
    libdirs = [root / "usr/lib" / MULTIARCH, root / "usr/lib", root / "usr/lib64"]
    missing: list[str] = []
    todo = [root / p.lstrip("/") for p in paths]
    seen: set[Path] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if not p.exists():
            missing.append(f"{p.relative_to(root)} itself")
            continue
        for soname in _elf_needed(p) or []:
            for d in libdirs:
                if (d / soname).exists():
                    todo.append((d / soname).resolve() if (d / soname).is_symlink() else d / soname)
                    break
            else:
                missing.append(f"{soname} (needed by /{p.relative_to(root)})")
    if missing:
        raise GuestBuildError("guest image lacks shared libraries: " + ", ".join(sorted(set(missing)))
                              + " — add the Debian package that ships them to the recipe")


def _usrmerge(root: Path) -> None:
    """Fold /bin, /sbin, /lib, /lib64 into /usr and leave symlinks, as Debian 12 systems do."""
    for top in ("bin", "sbin", "lib", "lib64"):
        src = root / top
        dst = root / "usr" / top
        dst.mkdir(parents=True, exist_ok=True)
        if src.is_dir() and not src.is_symlink():
            for item in list(src.rglob("*")):
                rel = item.relative_to(src)
                target = dst / rel
                if item.is_dir() and not item.is_symlink():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() or target.is_symlink():
                    target.unlink()
                os.rename(item, target)
            shutil.rmtree(src)
        if not src.is_symlink():
            src.symlink_to(f"usr/{top}")


def _build_into(recipe: Recipe, kpkg: str, work: Path) -> None:
    debs = work / "debs"
    pkgs = sorted(set(BASE_PACKAGES + recipe.packages + (kpkg,)))
    files = _download(pkgs, debs)
    unpack = work / "unpack"
    root = work / "root"
    root.mkdir()
    kernel_release = ""
    for deb in files:
        dest = unpack / deb.name
        dest.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(dest)])
        if deb.name.startswith("linux-image-"):
            bz = next((dest / "boot").glob("vmlinuz-*"))
            kernel_release = bz.name[len("vmlinuz-"):]
            _extract_kernel(bz, work / "vmlinux")
            moddir = dest / "lib/modules" / kernel_release
            order = _module_order(moddir, recipe.modules)
            guest_moddir = root / "usr/lib/modules" / kernel_release
            rels = []
            for ko in order:
                rel = ko.relative_to(moddir)
                (guest_moddir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ko, guest_moddir / rel)
                rels.append(f"/lib/modules/{kernel_release}/{rel}")
            (root / "etc/guest").mkdir(parents=True, exist_ok=True)
            (root / "etc/guest/modules").write_text("\n".join(rels) + "\n")
            continue
        for item in sorted(dest.rglob("*")):
            rel = item.relative_to(dest).as_posix()
            if any(rel == s or rel.startswith(s + "/") for s in _SKIP_PREFIXES):
                continue
            target = root / rel
            if item.is_dir() and not item.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() or target.is_symlink():
                    target.unlink()
                os.rename(item, target)
    if not kernel_release:
        raise GuestBuildError(f"{kpkg} held no kernel")
    shutil.rmtree(unpack)
    _usrmerge(root)
    if not (root / "usr/lib/modules").exists():
        raise GuestBuildError("no kernel modules staged")
    # busybox-static ships /bin/busybox only; init makes the applet links at boot.
    (root / "init").write_text(_INIT)
    (root / "init").chmod(0o755)
    guest = root / "etc/guest"
    guest.mkdir(parents=True, exist_ok=True)
    (guest / "agent.sh").write_text(_AGENT)
    (guest / "setup.sh").write_text(recipe.setup)
    for path, text in recipe.extra_files:
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        if text.startswith("#!"):
            p.chmod(0o755)
    (root / "etc/ld.so.conf").write_text(f"/usr/lib/{MULTIARCH}\n/usr/lib\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    _run(["ldconfig", "-r", str(root)])
    _check_closure(root, ("usr/lib/" + MULTIARCH + "/libc.so.6", *recipe.executables, *recipe.dlopened))
    if recipe.python:
        # Byte-compile with the host's 3.11 (same bytecode magic as Debian's 3.11.x) so imports in
        # the guest do not compile the stdlib under software emulation at every boot.
        for d in ("usr/lib/python3.11", "usr/lib/python3/dist-packages"):
            if (root / d).exists():
                subprocess.run(["python3", "-m", "compileall", "-q", "-j0", "-s", str(root), "-p", "/",
                                str(root / d)], capture_output=True)
    _write_cpio(root, work / "initrd.cpio")
    shutil.rmtree(root)
    shutil.rmtree(debs)
    (work / "image.json").write_text(json.dumps({"kernel_release": kernel_release, "kernel_package": kpkg,
                                                 "packages": pkgs, "recipe": recipe.name}, indent=1))


def _write_cpio(root: Path, dest: Path) -> None:
    """Write ``root`` as an uncompressed newc cpio archive (the format the kernel unpacks)."""
    ino = 1
    with open(dest, "wb") as out:
        def entry(name: str, mode: int, mtime: int, data: bytes, nlink: int = 1) -> None:
            nonlocal ino
            namez = name.encode() + b"\x00"
            hdr = "070701" + "".join(f"{v:08X}" for v in (
                ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, 0, 0, len(namez), 0))
            ino += 1
            buf = io.BytesIO()
            buf.write(hdr.encode() + namez)
            buf.write(b"\x00" * (-buf.tell() % 4))
            buf.write(data)
            buf.write(b"\x00" * (-(len(data)) % 4))
            out.write(buf.getvalue())

        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            base = Path(dirpath)
            rel_dir = base.relative_to(root).as_posix()
            if rel_dir != ".":
                st = os.lstat(base)
                entry(rel_dir, stat.S_IFDIR | 0o755, int(st.st_mtime), b"", 2)
            for name in sorted(filenames) + sorted(d for d in dirnames if (base / d).is_symlink()):
                p = base / name
                rel = p.relative_to(root).as_posix()
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    entry(rel, stat.S_IFLNK | 0o777, int(st.st_mtime), os.readlink(p).encode())
                elif stat.S_ISREG(st.st_mode):
                    entry(rel, stat.S_IFREG | stat.S_IMODE(st.st_mode), int(st.st_mtime), p.read_bytes())
        entry("TRAILER!!!", 0, 0, b"")
