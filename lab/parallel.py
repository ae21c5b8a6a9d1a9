"""The same step on every node at once, where the article's steps are independent of each other."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class NodesFailed(RuntimeError):
    """A step failed on one or more nodes; `errors` maps each such node to its exception."""

    def __init__(self, what: str, errors: dict[str, BaseException]):
        self.errors = errors
        detail = "; ".join(f"{name}: {error}" for name, error in errors.items())
        super().__init__(f"{what} failed on {', '.join(errors)}: {detail}")


def on_each(nodes: Iterable, action: Callable[..., T], what: str) -> dict[str, T]:
    """Run action(node) for every node (a Node, or a node's name) in parallel and wait for all of them.

    Returns each node's result by name. If any failed, raises NodesFailed naming every node
    that failed and why (the others have finished by then), chained to the first error."""
    nodes = list(nodes)
    with ThreadPoolExecutor(max(1, len(nodes)), thread_name_prefix="lab-node") as pool:
        futures = {getattr(node, "name", node): pool.submit(action, node) for node in nodes}
    errors = {name: f.exception() for name, f in futures.items() if f.exception() is not None}
    if errors:
        raise NodesFailed(what, errors) from next(iter(errors.values()))
    return {name: f.result() for name, f in futures.items()}
