"""The provisioned lab's snapshot: read from real `vagrant snapshot list` outputs, and refused
whenever restoring it would not give the lab that today's inputs provision."""
from pathlib import Path

import pytest

from lab.snapshots import NAME, Snapshot, SnapshotError, names_by_machine, recorded, usable

SAMPLES = Path(__file__).parent / "samples" / "vagrant_snapshot_list"
TOKENS = {"u1": "a1", "u2": "b2", "u3": "c3"}
EVERY_NODE = {node: [NAME] for node in TOKENS}


def sample(name: str) -> str:
    return (SAMPLES / f"lab-vagrant-2.3.4-libvirt-0.11.2-{name}.txt").read_text()


@pytest.mark.parametrize("name, listed", [
    ("three", EVERY_NODE),
    ("u2-none", {"u1": [NAME], "u2": [], "u3": [NAME]}),
    ("one-machine", {"u1": [NAME]}),
])
def test_snapshots_of_each_machine_in_real_vagrant_output(name, listed):
    assert names_by_machine(sample(name)) == listed


def test_a_snapshot_of_todays_inputs_on_every_node_is_usable():
    usable(Snapshot(NAME, dict(TOKENS)), EVERY_NODE, TOKENS)


@pytest.mark.parametrize("snapshot, listed, words", [
    (Snapshot(NAME, dict(TOKENS)), names_by_machine(sample("u2-none")), "u2 has no snapshot 'nwl-provisioned'"),
    (Snapshot(NAME, dict(TOKENS)), {}, "u1, u2, u3 have no snapshot"),
    (Snapshot(NAME, {**TOKENS, "u3": "old"}), EVERY_NODE, "provisioning inputs of u3 changed"),
    (Snapshot(NAME, {}), EVERY_NODE, "provisioning inputs of u1, u2, u3 changed"),
], ids=["one node lost it", "no node has it", "one node's inputs changed", "no tokens recorded"])
def test_a_snapshot_that_would_not_give_todays_lab_is_refused(snapshot, listed, words):
    with pytest.raises(SnapshotError, match=words):
        usable(snapshot, listed, TOKENS)


def test_the_snapshot_a_state_records_is_read_back_as_saved():
    saved = {"name": NAME, "provision_tokens": dict(TOKENS), "saved_seconds": 7.2}
    assert recorded(saved, Path("state.json")) == Snapshot(NAME, dict(TOKENS), 7.2)


def test_a_state_recording_no_snapshot_is_refused():
    with pytest.raises(SnapshotError, match="recorded no snapshot"):
        recorded(None, Path("state.json"))
