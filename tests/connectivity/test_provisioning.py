"""Provisioning is idempotent: running the Vagrantfile's stack provisioners again changes nothing."""
import pytest

from lab.claims import stack_state
from lab.lifecycle import Lab

pytestmark = stack_state


def test_second_provisioning_run_changes_nothing(lab):
    if not lab.brought_up:
        pytest.skip("the lab was not brought up by this run: it is tested as is, not provisioned again")
    report = Lab(lab.settings, say=lambda _m: None).provision_stack()
    assert sorted(report) == sorted(lab.nodes), report
    for node, lines in report.items():
        installed = [name for name, c in lab.state.stack.items() if c["status"] == "ready"]
        assert sorted(line.split()[0] for line in lines) == sorted(installed), (node, lines)
        assert all(line.endswith(": unchanged") for line in lines), (node, lines)
