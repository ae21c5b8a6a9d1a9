"""Every output a lab run recorded (lab.recorder) and that was kept as a sample parses.

Samples recorded by the lab are named lab-*.txt; their exact facts are pinned in test_parse.py
where they matter, this test makes sure a newly kept one is read at all."""
from pathlib import Path

import pytest

from lab import parse, snapshots, vagrant

SAMPLES = Path(__file__).parent / "samples"
PARSER_OF = {
    "ping": parse.ping, "ip_addrs": parse.ip_addrs, "routes": parse.routes,
    "weave_status": parse.weave_status, "weave_connections": parse.weave_connections,
    "raft_peers": parse.raft_peers, "nomad_server_members": parse.nomad_server_members,
    "nomad_job_status": parse.nomad_job_status, "busybox_nslookup": parse.busybox_nslookup,
    "http_response": parse.http_response, "cli_commands": parse.cli_commands,
    "vagrant_up": lambda text: [vagrant.step(line) for line in text.splitlines()],
    "vagrant_snapshot_list": snapshots.names_by_machine,
}
RECORDED = sorted(SAMPLES.glob("*/lab-*.txt"))


def test_every_sample_folder_has_a_parser():
    assert {p.name for p in SAMPLES.iterdir() if p.is_dir()} == set(PARSER_OF)


@pytest.mark.parametrize("path", RECORDED, ids=[f"{p.parent.name}/{p.name}" for p in RECORDED])
def test_recorded_output_parses(path):
    parsed = PARSER_OF[path.parent.name](path.read_text())
    assert parsed is not None
    assert path.name in (SAMPLES / "SOURCES.md").read_text(), f"{path.name} has no row in SOURCES.md"
