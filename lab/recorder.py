"""Keep one real output per command kind from every lab run, to become parser test samples.

The parsers are proven on recorded real outputs (tests/unit/samples). A lab run is the best
source of them: whenever a run reads a command's output to parse it, the first output of each
kind is kept under the folder `start` names (lab.pytest_report's for the run, which becomes
<report dir>/real-outputs/ when the run ends), with the command, node, time and the lab's
versions in index.jsonl. Copying one into tests/unit/samples/<kind>/ (and a line into SOURCES.md)
makes it a sample that tests/unit/test_recorded_samples.py parses.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from lab.node import CommandResult

_directory: Path | None = None
_versions: dict[str, str] = {}


def start(directory: Path, versions: dict[str, str]) -> None:
    """Record into `directory` (one per run) for this process; versions describe the lab."""
    global _directory, _versions
    directory.mkdir(parents=True, exist_ok=True)
    _directory, _versions = directory, dict(versions)


def stop() -> None:
    global _directory
    _directory = None


def record(kind: str, result: CommandResult) -> CommandResult:
    """Keep `result` as the run's sample of `kind` unless one was kept already (by any worker)."""
    if _directory is None or not result.stdout.strip():
        return result
    folder = _directory / kind
    folder.mkdir(exist_ok=True)
    try:  # O_EXCL: the first worker to record a kind wins, the others leave it alone
        fd = os.open(folder / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return result
    with os.fdopen(fd, "w") as out:
        out.write(result.stdout)
    entry = {"kind": kind, "node": result.node, "command": result.command, "exit_status": result.exit_status,
             "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions}
    with open(_directory / "index.jsonl", "a") as index:
        index.write(json.dumps(entry, sort_keys=True) + "\n")
    return result
