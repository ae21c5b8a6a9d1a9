"""Section 2 visits weave's host states once each: every test that needs the hosts unexposed (W4,
W7) runs before W5 exposes them one by one, and W6, which needs all three exposed, comes after.
Each change of state is a weaveexec container per host (about 12 s under emulation), so an order
that went back and forth would hide and expose again and again (what it did before: 42 calls)."""
import os
import re
import subprocess
import sys
from pathlib import Path

from lab import topology

ROOT = Path(__file__).parents[2]
SECTION2 = "tests/connectivity/test_section2_weave.py"
NEEDS_UNEXPOSED, EXPOSES, NEEDS_EXPOSED = ("W4", "W7"), "W5", "W6"


def collected_claims(tmp_path: Path) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", SECTION2, "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--lab-report-dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
                          env={**os.environ, "LAB_ROOT": str(tmp_path), "LAB_TOPOLOGY": str(topology.DEFAULT_PATH)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    return [m.group(1) for m in re.finditer(r"::test_(W\d)_", proc.stdout)]


def test_unexposed_tests_then_the_exposing_one_then_the_exposed_ones(tmp_path):
    order = collected_claims(tmp_path)
    first_expose = order.index(EXPOSES)
    last_expose = len(order) - 1 - order[::-1].index(EXPOSES)
    unexposed = [i for i, c in enumerate(order) if c in NEEDS_UNEXPOSED]
    exposed = [i for i, c in enumerate(order) if c == NEEDS_EXPOSED]
    assert unexposed and exposed, order
    assert max(unexposed) < first_expose and last_expose < min(exposed), order
