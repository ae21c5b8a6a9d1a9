"""Provisioning: idempotent, and recorded by the lab itself so that an unfinished one is never tested."""
import dataclasses

import pytest

from lab import provisioned
from lab.claims import stack_state
from lab.lifecycle import Lab
from lab.provisioned import ProvisioningIncomplete

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


def test_every_node_recorded_its_finished_provisioning(lab, nodes):
    assert {n.name: provisioned.recorded(n) for n in nodes} == lab.state.provision_tokens


def test_an_unfinished_provisioning_is_refused_and_up_provisions_it_again(lab, u3):
    """Vagrant's sentinel says "already provisioned" even after a provisioning that failed half
    way; the lab's own marker is what counts. Removing it is what such a failure leaves."""
    if not lab.brought_up:
        pytest.skip("the lab was not brought up by this run: it is tested as is, not provisioned again")
    u3.run(f"rm -f {provisioned.MARKER}")
    with pytest.raises(ProvisioningIncomplete, match=r"u3 \(no finished provisioning recorded\)"):
        Lab(lab.settings, say=lambda _m: None).check_provisioned(lab.state)
    # A failure here must not take the run's lab down with it.
    keep = dataclasses.replace(lab.settings, destroy="never")
    state = Lab(keep, say=lambda _m: None).up(created_by=lab.state.created_by)
    assert provisioned.recorded(u3) == state.provision_tokens["u3"] == lab.state.provision_tokens["u3"]
    Lab(lab.settings, say=lambda _m: None).check_provisioned(state)
    # The report keeps the run's own bring-up timings; this completion is shown beside them.
    assert (state.phases["bring-up"], state.up_seconds) == (lab.state.phases["bring-up"], lab.state.up_seconds)
    assert "u3" in state.phases["completion"]["provision stack"]
    # ... and its snapshot of the provisioned lab (the real run of 2026-12-04 lost it here).
    assert state.snapshot == lab.state.snapshot
