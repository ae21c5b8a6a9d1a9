"""Every nomad command the lab types exists in the oldest Nomad it checks, the article's 0.8.7.

Checked against the real `nomad [GROUP] -help` outputs of Nomad 0.8.7, recorded on this lab: the
first real run only found out at teardown that 0.8.7 has no `nomad system gc`."""
import re
from pathlib import Path

import pytest

from lab import parse

HELP = Path(__file__).parent / "samples" / "cli_commands"
LAB = Path(__file__).resolve().parents[2] / "lab"
# _cli(node, "server members", ...) / _cli(node, f"job stop -purge {job_id}"): the command words
# before the first option, placeholder or closing quote.
CLI_CALL = re.compile(r'_cli\(\w+,\s*f?"([a-z][a-z -]*?)(?:\s+-|\s*\{|")')


def commands_the_lab_types() -> list[str]:
    return sorted({m.group(1) for path in LAB.rglob("*.py") for m in CLI_CALL.finditer(path.read_text())})


def commands_of(version: str, group: list[str]) -> set[str]:
    name = "-".join([f"lab-nomad-{version}-help", *group]) + ".txt"
    return parse.cli_commands((HELP / name).read_text())


def test_the_scan_sees_the_labs_nomad_commands():
    assert {"job run", "job status", "job stop", "server members", "operator raft list-peers"} <= set(
        commands_the_lab_types())


@pytest.mark.parametrize("command", commands_the_lab_types())
def test_nomad_0_8_7_has_the_command(command):
    words = command.split()
    for depth, word in enumerate(words):
        assert word in commands_of("0.8.7", words[:depth]), \
            f"`nomad {' '.join(words[:depth + 1])}` is not a command of Nomad 0.8.7"


def test_nomad_0_8_7_has_no_system_command():
    # So the lab garbage-collects through PUT /v1/system/gc, which every version serves.
    assert "system" not in commands_of("0.8.7", [])
    assert {"job", "server", "operator", "node"} <= commands_of("0.8.7", [])
