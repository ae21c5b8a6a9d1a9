"""Provisioning: idempotent, and recorded by the lab itself so that an unfinished one is never tested."""
import dataclasses

import pytest

from lab import provisioned
from lab.claims import stack_state
from lab.lifecycle import Lab
from lab.provisioned import ProvisioningIncomplete

pytestmark = stack_state


def test_every_node_recorded_its_finished_provisioning(lab, nodes):
    assert {n.name: provisioned.recorded(n) for n in nodes} == lab.state.provision_tokens


def test_an_unfinished_provisioning_is_refused_and_up_runs_it_again_which_changes_nothing(lab, nodes):
    """Vagrant's sentinel says "already provisioned" even after a provisioning that failed half
    way; the lab's own marker is what counts. Removing it is what such a failure leaves. `up` then
    runs every provisioner a second time on every node, and that second run changes nothing.

    One second provisioning for both checks: each costs minutes of emulated guests (and of the
    vagrant processes that drive them), and the whole real run has to fit in half an hour."""
    if not lab.brought_up:
        pytest.skip("the lab was not brought up by this run: it is tested as is, not provisioned again")
    for node in nodes:
        node.run(f"rm -f {provisioned.MARKER}")
    unfinished = ", ".join(f"{node.name} \\(no finished provisioning recorded\\)" for node in nodes)
    with pytest.raises(ProvisioningIncomplete, match=unfinished):
        Lab(lab.settings, say=lambda _m: None).check_provisioned(lab.state)
    # A failure here must not take the run's lab down with it.
    again = Lab(dataclasses.replace(lab.settings, destroy="never"), say=lambda _m: None)
    state = again.up(created_by=lab.state.created_by)
    assert {n.name: provisioned.recorded(n) for n in nodes} == state.provision_tokens == lab.state.provision_tokens
    Lab(lab.settings, say=lambda _m: None).check_provisioned(state)
    # The second run changed nothing: every installed component says so, on every node.
    installed = sorted(name for name, c in lab.state.stack.items() if c["status"] == "ready")
    assert sorted(again.provisioned_again) == sorted(lab.nodes), again.provisioned_again
    for node, lines in again.provisioned_again.items():
        assert sorted(line.split()[0] for line in lines) == installed, (node, lines)
        assert all(line.endswith(": unchanged") for line in lines), (node, lines)
    # The report keeps the run's own bring-up timings; this completion is shown beside them.
    assert (state.phases["bring-up"], state.up_seconds) == (lab.state.phases["bring-up"], lab.state.up_seconds)
    assert set(lab.nodes) <= set(state.phases["completion"]["provision stack"])
    # ... and its snapshot of the provisioned lab (the real run of 2026-12-04 lost it here).
    assert state.snapshot == lab.state.snapshot
