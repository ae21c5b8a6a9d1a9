"""lab.parallel: steps run on every node at once, and every failure is reported."""
import threading
from dataclasses import dataclass

import pytest

from lab.parallel import NodesFailed, on_each


@dataclass
class FakeNode:
    name: str


NODES = [FakeNode("u1"), FakeNode("u2"), FakeNode("u3")]


def test_runs_on_every_node_at_once_and_returns_by_name():
    everyone_started = threading.Barrier(len(NODES), timeout=5)  # breaks unless all three run together

    def step(node):
        everyone_started.wait()
        return node.name.upper()

    assert on_each(NODES, step, "step") == {"u1": "U1", "u2": "U2", "u3": "U3"}


def test_names_every_node_that_failed_after_all_have_finished():
    finished = []

    def step(node):
        if node.name != "u2":
            raise ValueError(f"no luck on {node.name}")
        finished.append(node.name)

    with pytest.raises(NodesFailed) as caught:
        on_each(NODES, step, "weave launch")
    assert str(caught.value) == "weave launch failed on u1, u3: u1: no luck on u1; u3: no luck on u3"
    assert set(caught.value.errors) == {"u1", "u3"}
    assert isinstance(caught.value.__cause__, ValueError)
    assert finished == ["u2"]
