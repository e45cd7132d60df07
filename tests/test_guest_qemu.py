"""The guest harness itself: control channel semantics and image recipe hashing."""

from __future__ import annotations

import os

import pytest

from tests.guest.build import Recipe, recipe_hash
from tests.guest.pppd import PPPD_RECIPE, PppdGuest, shared_pppd_guest


def test_recipe_hash_changes_with_every_ingredient() -> None:
    base = recipe_hash(PPPD_RECIPE, "linux-image-x")
    assert base == recipe_hash(PPPD_RECIPE, "linux-image-x")
    assert base != recipe_hash(PPPD_RECIPE, "linux-image-y")
    changed = Recipe(**{**PPPD_RECIPE.__dict__, "modules": (*PPPD_RECIPE.modules, "dummy")})
    assert recipe_hash(changed, "linux-image-x") != base
    changed = Recipe(**{**PPPD_RECIPE.__dict__, "setup": PPPD_RECIPE.setup + "true\n"})
    assert recipe_hash(changed, "linux-image-x") != base


@pytest.fixture(scope="module")
def guest() -> PppdGuest:
    return shared_pppd_guest()


@pytest.mark.guest
def test_run_returns_status_and_output(guest: PppdGuest) -> None:
    assert guest.run("echo out; echo err >&2; exit 3") == (3, "out\nerr\n")
    assert guest.run("uname -r")[1].strip().endswith("-amd64")


@pytest.mark.guest
def test_run_kills_commands_at_their_timeout(guest: PppdGuest) -> None:
    rc, _ = guest.run("sleep 30", timeout=1)
    assert rc == 137                      # SIGKILL from the guest-side timeout
    assert guest.run("echo still-alive") == (0, "still-alive\n")


@pytest.mark.guest
def test_files_round_trip_byte_exact(guest: PppdGuest) -> None:
    blob = os.urandom(40000) + b"\r\n\x00\x7e\x7d'\"$`\\"
    guest.guest.write_file("/tmp/blob", blob)
    assert guest.guest.read_file("/tmp/blob") == blob
    quoted = "it's \"quoted\" $HOME `x` \\n"
    assert guest.run(f"cat <<'EOF'\n{quoted}\nEOF")[1] == quoted + "\n"
