"""Docker networks on a node: who is attached, and emptying one of the lab's own test containers."""
from __future__ import annotations

from lab import wait
from lab.node import CommandError, Node
from lab.stack import TEST_CONTAINER_PREFIX


def attached_containers(node: Node, network: str) -> list[str] | None:
    """Names of the containers attached to the Docker network; None when there is no such network."""
    result = node.run(f"docker network inspect -f '{{{{range .Containers}}}}{{{{.Name}}}} {{{{end}}}}' "
                      f"{network}", check=False)
    if result.ok:
        return result.stdout.split()
    if "No such network" in result.stderr or "not found" in result.stderr:
        return None
    raise CommandError(result)


def empty(node: Node, network: str, *, timeout: float, why: str) -> None:
    """Remove the lab's own test containers (TEST_CONTAINER_PREFIX) from the network, then wait,
    bounded, until the others (a job's task within its kill timeout) have gone by themselves.
    An expired wait names what was still attached."""
    leftovers = [name for name in attached_containers(node, network) or [] if name.startswith(TEST_CONTAINER_PREFIX)]
    if leftovers:
        node.run(f"docker rm -f {' '.join(leftovers)}")
    wait.until(lambda: attached_containers(node, network),
               f"no container attached to docker's {network} network on {node.name} ({why})",
               timeout=timeout, interval=3, accept=lambda attached: not attached)
