"""`python -m lab check` ends by saying where the report is, the claims' verdicts, and the time."""
import shutil
import sys
import time
from pathlib import Path

from lab import __main__ as cli
from lab.settings import Settings

SAMPLES = Path(__file__).with_name("report_samples")


def test_the_summary_names_the_report_counts_verdicts_and_times(tmp_path):
    shutil.copy(SAMPLES / "current.json", tmp_path / "claims.json")
    text = cli._check_summary(tmp_path, started_at=time.time() - 60, seconds=1234.4, status=1)
    lines = text.splitlines()
    assert lines[0] == f"check: report {tmp_path / 'claims.md'} (also claims.html, claims.json)"
    assert lines[1] == "check: 26 claims: 2 passed, 1 failed, 1 skipped, 0 partial, 22 not run"
    assert lines[2] == "check: lab bring-up 521s, teardown 16s"
    assert lines[3] == "check: total 1234s, pytest exit status 1"


def test_a_report_older_than_the_run_is_not_taken_for_its_own(tmp_path):
    shutil.copy(SAMPLES / "current.json", tmp_path / "claims.json")
    text = cli._check_summary(tmp_path, started_at=time.time() + 60, seconds=5, status=2)
    assert text.splitlines() == [f"check: this run wrote no claims report (to {tmp_path / 'claims.json'})",
                                 "check: total 5s, pytest exit status 2"]


def test_check_prints_the_summary_after_pytest(tmp_path, monkeypatch, capsys):
    root = tmp_path / "root"
    (root / "reports").mkdir(parents=True)

    def fake_pytest(command, cwd, check):
        assert command[:3] == [sys.executable, "-m", "pytest"] and command[-1] == "-k L1"
        shutil.copy(SAMPLES / "current.json", Path(cwd) / "mine" / "claims.json")
        return type("Done", (), {"returncode": 0})()

    (root / "mine").mkdir()
    monkeypatch.setattr("subprocess.run", fake_pytest)
    assert cli._check(Settings(root=root, provider="libvirt"), ["--lab-report-dir=mine", "-k L1"]) == 0
    out = capsys.readouterr().out
    assert f"check: report {root / 'mine' / 'claims.md'}" in out and "check: total 0s, pytest exit status 0" in out
