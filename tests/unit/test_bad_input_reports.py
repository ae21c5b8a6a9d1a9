"""Bad input to the claims reports and to what a pytest run writes (issue 16, round 2).

`python -m lab report` refuses in one line (exit status 2) a claims.json the renderers would
misread, and an output that is one of its inputs; it shows, with a warning, a claim this version
does not know. pytest refuses a --lab-report-dir it cannot write before any test runs (exit
status 4), and a run that is no lab run leaves the last lab run's records as they were: each
case is a real nested `pytest` or `python -m lab` in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import topology
from tests.unit.test_bad_input import DEEP, GOOD_RUN, ROOT, _fill, lab, write

RESULT = GOOD_RUN["results"][0]


def run_with(metadata: dict | None = None, **result) -> dict:
    """GOOD_RUN with metadata fields and its one result's fields replaced (None removes a field)."""
    case = {k: v for k, v in {**RESULT, **result}.items() if v is not None}
    return {"schema": 1, "metadata": {"profile": "current", **(metadata or {})}, "results": [case]}


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda tmp: [setup(tmp) for setup in setups]


def link(name: str, target: str, hard: bool = False) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        write(target, GOOD_RUN)(tmp)
        (os.link if hard else os.symlink)(tmp / target, tmp / name)
    return setup


MERGE = ["report", "--merge", "{tmp}/a.json"]
FROM = ["report", "--from", "{tmp}/a.json"]

# name: (setup, argv, words in the one line on stderr)
BAD_REPORTS = {
    # tracebacks before
    "a result without claim": (write("a.json", run_with(claim=None)), MERGE,
                               "{tmp}/a.json: results[0].claim: is required (the claim's ID, or null"),
    "a result without claim, re-rendered": (write("a.json", run_with(claim=None)), FROM,
                                            "{tmp}/a.json: results[0].claim: is required"),
    "nested 100000 deep": (write("a.json", DEEP), MERGE, "{tmp}/a.json: not usable JSON (nested too deep)"),
    "nested 100000 deep, re-rendered": (write("a.json", DEEP), FROM, "{tmp}/a.json: not usable JSON (nested too deep)"),
    "phases a string": (write("a.json", run_with({"phases": "bring-up"})), MERGE,
                        "{tmp}/a.json: metadata.phases: must be a mapping, got the string 'bring-up'"),
    "phases a string, re-rendered": (write("a.json", run_with({"phases": "bring-up"})), FROM,
                                     "metadata.phases: must be a mapping"),
    "a stage's phases a list": (write("a.json", run_with({"phases": {"bring-up": ["box"]}})), FROM,
                                "metadata.phases.bring-up: must be a mapping, got a list"),
    "a phase's seconds a string": (write("a.json", run_with({"phases": {"bring-up": {"box": {"u1": "3s"}}}})),
                                   FROM, "metadata.phases.bring-up.box.u1: must be a number of seconds, got the "
                                         "string '3s'"),
    "bring-up seconds a string": (write("a.json", run_with({"up_seconds": "521"})), FROM,
                                  "metadata.up_seconds: must be a number of seconds, got the string '521'"),
    "a version a list": (write("a.json", run_with({"versions": {"weave": ["2.8.1"]}})), MERGE,
                         "metadata.versions.weave: must be a version string, got a list"),
    "installed versions numbers": (write("a.json", run_with({"stack": {"weave": {"installed": [2.8]}}})), MERGE,
                                   "metadata.stack.weave.installed: must be a list of versions, got a list"),
    "a component's status a number": (write("a.json", run_with({"stack": {"weave": {"status": 1}}})), FROM,
                                      "metadata.stack.weave.status: must be a string, got the number 1"),
    "a component's trust a list": (write("a.json", run_with({"stack": {"weave": {"status": "ready",
                                                                                   "trust": ["x"]}}})), MERGE,
                                   "metadata.stack.weave.trust: must be a string, got a list"),
    "a count a string": (write("a.json", run_with({"counts": {"passed": "1"}})), MERGE,
                         "metadata.counts.passed: must be a number of tests, got the string '1'"),
    "the exit status a string": (write("a.json", run_with({"exit_status": "0"})), MERGE,
                                 "metadata.exit_status: must be pytest's exit status (a number), got the string"),
    "nodes not names": (write("a.json", run_with({"nodes": [["u1"]]})), FROM,
                        "metadata.nodes: must be a list of node names, got a list"),
    # what the messages quote of the input
    "a claim that is not an ID": (write("a.json", run_with(claim="the mesh")), MERGE,
                                  "results[0].claim: 'the mesh' is not a claim ID (a letter and a number, like W3)"),
    "a huge outcome is cut": (write("a.json", run_with(outcome="x" * 100_000)), MERGE,
                              "results[0].outcome: '" + "x" * 79 + "... (100002 characters) is not one of passed"),
    "an escape sequence in a key is quoted": (write("a.json", run_with({"counts": {"\x1b[2J": "x"}})), MERGE,
                                              "metadata.counts.'\\x1b[2J': must be a number of tests"),
    # data loss before
    "merge written over its input": (write("a.json", GOOD_RUN), [*MERGE, "-o", "{tmp}/a.json"],
                                     "{tmp}/a.json: the output is the input {tmp}/a.json: writing it would destroy "
                                     "the report; choose another -o"),
    "merge written over its second input": (both(write("a.json", GOOD_RUN), write("b.json", GOOD_RUN)),
                                            [*MERGE, "{tmp}/b.json", "-o", "{tmp}/./b.json"],
                                            "the output is the input {tmp}/b.json"),
    "merge written over a symlink to its input": (link("out.md", "a.json"), [*MERGE, "-o", "{tmp}/out.md"],
                                                  "{tmp}/out.md: the output is the input {tmp}/a.json"),
    "merge written over a hard link to its input": (link("out.md", "a.json", hard=True),
                                                    [*MERGE, "-o", "{tmp}/out.md"],
                                                    "{tmp}/out.md: the output is the input {tmp}/a.json"),
    "re-rendered over its input": (write("r/claims.md", GOOD_RUN), ["report", "--from", "{tmp}/r/claims.md"],
                                   "{tmp}/r/claims.md: the output is the input {tmp}/r/claims.md"),
    "re-rendered into a folder over its input": (write("claims.html", GOOD_RUN),
                                                 ["report", "--from", "{tmp}/claims.html", "-o", "{tmp}/."],
                                                 "{tmp}/claims.html: the output is the input {tmp}/claims.html"),
}


@pytest.mark.parametrize("setup, argv, words", BAD_REPORTS.values(), ids=BAD_REPORTS.keys())
def test_bad_reports_are_refused_in_one_line(tmp_path, setup, argv, words):
    setup(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    proc = lab(tmp_path, *(_fill(a, tmp_path) for a in argv))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (proc.returncode, len(proc.stderr.splitlines())) == (2, 1), proc.stderr
    assert proc.stderr.startswith("error: ") and _fill(words, tmp_path) in proc.stderr, proc.stderr
    assert len(proc.stderr) < 400 and "\x1b" not in proc.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written


def test_an_unknown_claim_is_shown_with_a_warning_naming_it(tmp_path):
    """A report from a newer version may name claims this one does not know: shown, never dropped."""
    write("a.json", run_with(nodeid="t.py::test_Z9_new", claim="Z9", outcome="failed"))(tmp_path)
    merged = lab(tmp_path, "report", "--merge", f"{tmp_path}/a.json")
    assert merged.returncode == 0, merged.stderr
    assert merged.stderr.splitlines() == [
        f"warning: {tmp_path}/a.json: results[0].claim: Z9 is not a claim of this version's lab/claims.py "
        "(a report from another version?): shown as it is"]
    assert "| Z9 | ? | (not a claim of this version's lab/claims.py: the report comes from another version?) " \
           "| ✗ failed |" in merged.stdout
    rendered = lab(tmp_path, "report", "--from", f"{tmp_path}/a.json")
    assert rendered.returncode == 0 and "Z9 is not a claim" in rendered.stderr
    assert "| Z9 |" in (tmp_path / "claims.md").read_text()
    assert 'id="claim-Z9"' in (tmp_path / "claims.html").read_text()


def test_an_unknown_trust_level_is_shown_not_taken_for_verified(tmp_path):
    stack = {"weave": {"name": "weave", "version": "2.8.1", "status": "ready", "trust": "signed-by-a-friend"}}
    write("a.json", run_with({"stack": stack}))(tmp_path)
    proc = lab(tmp_path, "report", "--merge", f"{tmp_path}/a.json")
    assert proc.returncode == 0, proc.stderr
    assert "2.8.1 installed (signed-by-a-friend)" in proc.stdout


def test_escape_sequences_in_a_report_are_shown_not_sent_to_the_terminal(tmp_path):
    write("a.json", run_with({"profile": "\x1b]0;owned\x07current"}, outcome="failed", message="\x1b[2Jgone"))(tmp_path)
    proc = lab(tmp_path, "report", "--merge", f"{tmp_path}/a.json")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\\x1b[2Jgone" in proc.stdout and "\\x1b]0;owned\\x07current" in proc.stdout


# -- pytest's --lab-report-dir -------------------------------------------------------------------

def pytest_run(tmp: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """A real nested `python -m pytest` whose lab (LAB_ROOT) and reports are in tmp."""
    env = {**os.environ, "LAB_ROOT": str(tmp / "root"), "LAB_TOPOLOGY": str(topology.DEFAULT_PATH),
           "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    (tmp / "root").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=300, env=env)


# name: (setup, --lab-report-dir, words)
BAD_REPORT_DIRS = {
    "a file": (write("reports", "not a folder"), "{tmp}/reports", "{tmp}/reports is not a directory"),
    "under a file": (write("reports", "not a folder"), "{tmp}/reports/out", "{tmp}/reports is not a directory"),
    "under /dev/null": (None, "/dev/null/reports", "--lab-report-dir /dev/null/reports: /dev/null is not a directory"),
    "unwritable": (None, "{unwritable}", "cannot write in"),
}


@pytest.mark.parametrize("setup, directory, words", BAD_REPORT_DIRS.values(), ids=BAD_REPORT_DIRS.keys())
def test_an_unusable_report_dir_is_a_usage_error_before_any_test(tmp_path, setup, directory, words):
    if setup:
        setup(tmp_path)
    directory = _fill(directory, tmp_path)
    proc = pytest_run(tmp_path, f"--lab-report-dir={directory}", "tests/unit/test_recorder.py")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [f"ERROR: {proc.stderr.strip()[7:]}"], proc.stderr
    assert _fill(words, tmp_path) in proc.stderr and "passed" not in proc.stdout


# -- what a run that is no lab run leaves alone ----------------------------------------------------

def last_lab_run(reports: Path) -> dict[Path, bytes]:
    """The records a lab run left in the report directory, and the lab's own state."""
    files = {
        "claims.json": json.dumps(GOOD_RUN), "claims.md": "# the last lab run", "claims.html": "<p>last</p>",
        "junit.xml": "<testsuites name='last lab run'/>", "lab-state.json": '{"profile": "current"}',
        "real-outputs/weave_status/output.txt": "Version: 2.8.1", "real-outputs/index.jsonl": "{}\n",
        "diagnostics/test_W3/u1/SUMMARY.txt": "weave: down",
    }
    for name, text in files.items():
        (reports / name).parent.mkdir(parents=True, exist_ok=True)
        (reports / name).write_text(text)
    return {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}


SKIPPED_CLAIM_TEST = """
import pytest

@pytest.mark.claim("W3")
@pytest.mark.skip(reason="not today")
def test_W3_skipped():
    pass
"""

# name: pytest arguments after --lab-report-dir
NO_LAB_RUNS = {
    "collect-only": ["--collect-only", "-q", "tests/connectivity"],
    "unit tests only": ["tests/unit/test_recorder.py"],
    "every claim test deselected": ["-k", "no_test_has_this_name", "tests/connectivity"],
    "every claim test skipped": ["-p", "lab.pytest_report", "-p", "lab.pytest_plugin", "{tmp}/t/test_skipped.py"],
}


@pytest.mark.parametrize("args", NO_LAB_RUNS.values(), ids=NO_LAB_RUNS.keys())
def test_a_run_without_a_lab_leaves_the_last_lab_runs_records(tmp_path, args):
    reports = tmp_path / "reports"
    before = last_lab_run(reports)
    lab_state = tmp_path / "root" / ".lab" / "state.json"
    lab_state.parent.mkdir(parents=True)
    lab_state.write_text('{"provider": "libvirt"}')
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_skipped.py").write_text(textwrap.dedent(SKIPPED_CLAIM_TEST))
    proc = pytest_run(tmp_path, f"--lab-report-dir={reports}", *(_fill(a, tmp_path) for a in args))
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr
    after = {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}
    assert {p: after.get(p) for p in before} == before
    assert set(after) - set(before) == {reports / "junit-without-lab.xml"}  # this run's, beside them
    assert lab_state.read_text() == '{"provider": "libvirt"}'
    assert not list((tmp_path / "root" / ".lab" / "runs").iterdir())  # no empty run folder left either
    assert "the last lab run's records in" in proc.stdout


LAB_RUN_CONFTEST = """
import pytest
from lab import recorder
from lab.node import CommandResult
from lab.pytest_report import REAL_OUTPUTS, remember_lab, run_records

def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): the article claim a test checks")

@pytest.fixture(scope="session")
def lab(request):
    remember_lab(request.config, {"provider": "libvirt", "profile": "debian"})
    recorder.start(run_records(request.config) / REAL_OUTPUTS, {"weave": "2.8.1"})
    yield "lab"
    recorder.stop()
"""

LAB_RUN_TESTS = """
import pytest
from lab import recorder
from lab.node import CommandResult

@pytest.mark.claim("L1")
@pytest.mark.parametrize("n", range(4))
def test_L1_up(lab, n):
    recorder.record("routes", CommandResult("u1", "ip -4 route", 0, "default via 10.0.2.2\\n", ""))
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_lab_run_replaces_the_last_lab_runs_records_at_its_end(tmp_path, xdist):
    reports = tmp_path / "reports"
    last_lab_run(reports)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(textwrap.dedent(LAB_RUN_CONFTEST))
    (suite / "test_lab.py").write_text(textwrap.dedent(LAB_RUN_TESTS))
    proc = pytest_run(tmp_path, "-p", "lab.pytest_report", f"--lab-report-dir={reports}", *xdist, str(suite),
                      cwd=suite)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((reports / "lab-state.json").read_text()) == {"provider": "libvirt", "profile": "debian"}
    assert report_profile(reports) == "debian"
    assert sorted(p.name for p in (reports / "real-outputs").iterdir()) == ["index.jsonl", "routes"]
    assert "4" in (reports / "junit.xml").read_text() and "last lab run" not in (reports / "junit.xml").read_text()
    assert (reports / "diagnostics/test_W3/u1/SUMMARY.txt").exists()  # a failure's folder is not the run's to remove
    assert not list(reports.glob(".run-*")) and not (reports / "junit-without-lab.xml").exists()


def report_profile(reports: Path) -> str:
    return json.loads((reports / "claims.json").read_text())["metadata"]["profile"]
