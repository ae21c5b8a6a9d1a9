"""The provisioned lab's snapshot, on a real lab of its own: `python -m lab up` saves it, whatever
a run left behind is gone after `python -m lab restore`, the guests' clocks are the host's again,
and `pytest --lab-reuse=fresh` tests the restored lab. Restoring a snapshot taken with other
provisioning inputs is refused.

Like test_live_progress.py it cannot run while a lab is up, and .ci/run runs it after the README's
command. The commands' output goes to reports/bringup/snapshot-*.txt.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.lifecycle import Lab
from lab.settings import Settings

ROOT = Path(__file__).parents[2]
OUT = ROOT / "reports" / "bringup"
PROFILE = os.environ.get("LAB_PROFILE", "debian")
LEFTOVER = "nwl-leftover"
MAX_CLOCK_SKEW = 5


def lab(*argv: str, name: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lab", "--profile", PROFILE, *argv], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, check=False)
    (OUT / f"snapshot-{name}.txt").write_text(proc.stdout + proc.stderr)
    return proc


def on_u1(command: str) -> str:
    """`command` as root on u1, over a connection of its own (a restore drops every connection)."""
    node = Lab(Settings(profile=PROFILE), say=lambda _m: None).nodes()["u1"]
    try:
        return node.run(command).stdout
    finally:
        node.close()


@pytest.fixture(scope="module")
def lab_of_its_own():
    if (ROOT / ".lab" / "state.json").exists():
        pytest.fail("a lab is up: this test brings up its own (`python -m lab down` first)", pytrace=False)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        up = lab("up", name="up")
        assert up.returncode == 0, f"python -m lab up failed: {OUT / 'snapshot-up.txt'}"
        yield json.loads((ROOT / ".lab" / "state.json").read_text())
    finally:
        lab("down", name="down")


def test_restore_returns_the_lab_to_its_provisioned_state(lab_of_its_own):
    snapshot = lab_of_its_own["snapshot"]
    assert snapshot and snapshot["name"] == "nwl-provisioned", lab_of_its_own.get("snapshot")
    assert snapshot["provision_tokens"] == lab_of_its_own["provision_tokens"]

    # What a run leaves behind: a container and a file. Positive control: both are there.
    on_u1(f"docker run -d --name {LEFTOVER} nomad-weave-lab/busybox:1 sleep 3600 && touch /var/tmp/{LEFTOVER}")
    assert LEFTOVER in on_u1("docker ps --format '{{.Names}}'") and LEFTOVER in on_u1("ls /var/tmp")

    restore = lab("restore", name="restore")
    assert restore.returncode == 0, f"python -m lab restore failed: {OUT / 'snapshot-restore.txt'}"
    assert "restored the provisioned snapshot in" in restore.stdout
    assert LEFTOVER not in on_u1("docker ps -a --format '{{.Names}}'")
    assert LEFTOVER not in on_u1("ls /var/tmp")
    skew = abs(int(on_u1("date -u +%s")) - time.time())
    assert skew <= MAX_CLOCK_SKEW, f"u1's clock is {skew:.0f}s off the host's after the restore"
    state = json.loads((ROOT / ".lab" / "state.json").read_text())
    assert set(state["phases"]["restore"]) >= {"restore", "clock", "provisioned"}, state["phases"]["restore"]

    tested = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:junitxml",
                             "--lab-profile", PROFILE, "--lab-reuse=fresh", f"--lab-report-dir={OUT / 'fresh'}",
                             "tests/connectivity/test_section1_lab.py", "-k", "L1 or L3"],
                            cwd=ROOT, text=True, capture_output=True, timeout=1800, check=False,
                            env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")})
    (OUT / "snapshot-fresh-pytest.txt").write_text(tested.stdout + tested.stderr)
    assert tested.returncode == 0, f"pytest --lab-reuse=fresh failed: {OUT / 'snapshot-fresh-pytest.txt'}"
    assert "lab restore" in tested.stdout + tested.stderr and " passed" in tested.stdout


def test_a_snapshot_taken_with_other_provisioning_inputs_is_refused(lab_of_its_own):
    """On the same lab, after the restore above (the state file is the lab's record of its snapshot)."""
    state_path = ROOT / ".lab" / "state.json"
    state = json.loads(state_path.read_text())
    state["snapshot"]["provision_tokens"]["u3"] = "taken-with-other-inputs"
    state_path.write_text(json.dumps(state))
    refused = lab("restore", name="refused")
    assert refused.returncode == 1 and "provisioning inputs of u3 changed" in refused.stderr, refused.stderr
