"""The lab's bring-up watched as CI sees it: a real `pytest -n 3` whose output is a pipe (no TTY).

Between xdist's `3 workers [N items]` and the first test result, the output must name every
node and never stay silent for more than MAX_SILENCE seconds; the claims report must carry the
bring-up's and the teardown's timings per node and phase.

It brings a lab up of its own, so it is not part of the default run (pyproject's testpaths leave
tests/bringup out) and cannot run while a lab is up. `.ci/run` runs it after the README's command:

    pytest -p no:junitxml tests/bringup

The nested run's output (with each line's arrival time), claims report and JUnit XML go to
reports/bringup/ (-p no:junitxml keeps this run's own XML from replacing reports/junit.xml).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
OUT = ROOT / "reports" / "bringup"
MAX_SILENCE = 90.0
TIMEOUT = 45 * 60
NESTED = ["-n", "3", "--lab-profile", os.environ.get("LAB_PROFILE", "debian"), "--lab-destroy=always",
          "-p", "no:cacheprovider", "--lab-report-dir", str(OUT),
          "tests/connectivity/test_section1_lab.py", "-k", "L1 or L2 or L3"]
HEADER = re.compile(r"^\d+ workers? \[\d+ items?\]")
RESULT = re.compile(r"^[.sSFExX]+(\s|$)")  # xdist's progress characters, one per finished test
NODES = ("u1", "u2", "u3")


def run_timestamped(argv: list[str], timeout: float) -> tuple[int, list[tuple[float, str]]]:
    """Run a command with its output on a pipe; each output line with when its first byte came."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items()
                                                           if not k.startswith("PYTEST_XDIST")})
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    lines: list[tuple[float, str]] = []
    pending, started = b"", None
    try:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            now = time.monotonic()
            for piece in chunk.splitlines(keepends=True):
                if not pending:
                    started = now
                pending += piece
                if pending.endswith(b"\n"):
                    lines.append((started, pending.decode(errors="replace").rstrip("\n")))
                    pending = b""
        if pending:
            lines.append((started, pending.decode(errors="replace")))
        return proc.wait(), lines
    finally:
        killer.cancel()
        proc.stdout.close()


def test_a_real_bringup_under_xdist_is_shown_live_with_its_timings():
    if (ROOT / ".lab" / "state.json").exists():
        pytest.fail("a lab is up: this test brings up its own (`python -m lab down` first)", pytrace=False)
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    status, lines = run_timestamped([sys.executable, "-m", "pytest", *NESTED], TIMEOUT)
    (OUT / "pytest-output.txt").write_text("".join(f"{t - start:8.1f}s  {text}\n" for t, text in lines))

    texts = [text for _, text in lines]
    assert status == 0, f"the nested pytest exited {status}; its output: {OUT / 'pytest-output.txt'}"
    header = next(i for i, text in enumerate(texts) if HEADER.match(text))
    first_result = next(i for i in range(header + 1, len(texts)) if RESULT.match(texts[i]))
    watched = lines[header:first_result + 1]
    between = "\n".join(texts[header + 1:first_result])
    for node in NODES:
        assert re.search(rf"\b{node}\b", between), f"no line before the first result names {node}:\n{between}"
    gaps = [(later[0] - earlier[0], earlier[1], later[1]) for earlier, later in itertools.pairwise(watched)]
    longest = max(gaps)
    print(f"longest silence between the xdist header and the first result: {longest[0]:.0f}s "
          f"(after {longest[1]!r})")
    assert longest[0] <= MAX_SILENCE, (f"{longest[0]:.0f}s without a line, between {longest[1]!r} "
                                       f"and {longest[2]!r}")
    assert any(text.startswith("[lab teardown") for text in texts[first_result:]), "the teardown was not shown"

    phases = json.loads((OUT / "claims.json").read_text())["metadata"]["phases"]
    for stage in ("bring-up", "teardown"):
        timed = {node for by_node in phases[stage].values() for node in by_node}
        assert set(NODES) <= timed, f"{stage}: no timings for every node: {phases[stage]}"
    assert any(phase.startswith("provision ") and "u1" in by_node for phase, by_node in phases["bring-up"].items())
