"""Weave Net on a node: launch, expose, hide, reset, and what the router reports."""
from __future__ import annotations

import ipaddress
import re
import shlex

from lab import parse, wait
from lab.node import CommandResult, Node
from lab.stack import host

PROXY_SOCKET = "unix:///var/run/weave/weave.sock"
BRIDGE = "weave"
# The script's version check would try the internet (weave's "next check at ..."); Docker API
# and image settings come from the profile (lab/versions.yaml).
_BASE_ENV = {"CHECKPOINT_DISABLE": "1"}


class Weave:
    """The `weave` script as the lab calls it: same environment on every node."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = {**_BASE_ENV, **(env or {})}

    def _run(self, node: Node, args: str, check: bool = True, timeout: float = 300) -> CommandResult:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return node.run(f"{prefix} weave {args}", check=check, timeout=timeout)

    def is_running(self, node: Node) -> bool:
        result = node.run("docker inspect -f '{{.State.Running}}' weave", check=False)
        return result.ok and result.stdout.strip() == "true"

    def launch(self, node: Node, peers: list, *, ipalloc_range=None, default_subnet=None) -> str:
        """`weave launch --no-dns [--ipalloc-range R [--ipalloc-default-subnet S]] PEER...`."""
        args = ["launch", "--no-dns"]
        if ipalloc_range:
            args += ["--ipalloc-range", str(ipalloc_range)]
        if default_subnet:
            args += ["--ipalloc-default-subnet", str(default_subnet)]
        args += [str(p) for p in peers]
        return self._run(node, " ".join(args)).stdout.strip()

    def reset(self, node: Node) -> None:
        self._run(node, "reset")

    def expose(self, node: Node) -> ipaddress.IPv4Address:
        """`weave expose`: the address it gives the host's weave bridge (it prints it)."""
        out = self._run(node, "expose").stdout
        found = re.findall(r"\b(\d+\.\d+\.\d+\.\d+)(?:/\d+)?\b", out)
        if not found:
            raise ValueError(f"{node.name}: `weave expose` printed no address: {out!r}")
        return ipaddress.IPv4Address(found[-1])

    def hide(self, node: Node) -> None:
        """Undo `weave expose` (so a test can start from the article's "before expose")."""
        self._run(node, "hide")

    def status(self, node: Node) -> parse.WeaveStatus:
        return parse.weave_status(self._run(node, "status").stdout)

    def connections(self, node: Node) -> list[parse.WeaveConnection]:
        return parse.weave_connections(self._run(node, "status connections").stdout)

    def launch_mesh(self, nodes: list[Node], *, ipalloc_range=None, default_subnet=None) -> None:
        """`weave launch --no-dns <the other peers>` on every node, then wait for the full mesh."""
        for node in nodes:
            peers = [other.hostonly_ip for other in nodes if other is not node]
            self.launch(node, peers, ipalloc_range=ipalloc_range, default_subnet=default_subnet)
        for node in nodes:
            wait.until(lambda node=node: self.established_peers(node) == len(nodes) - 1,
                       f"weave on {node.name} to establish connections to its {len(nodes) - 1} peers",
                       timeout=180, interval=3)

    def established_peers(self, node: Node) -> int:
        return sum(c.state == "established" for c in self.connections(node))

    def reset_all(self, nodes: list[Node]) -> None:
        for node in nodes:
            self.reset(node)


def bridge_address(node: Node, bridge: str = BRIDGE) -> ipaddress.IPv4Interface | None:
    """The address `weave expose` gave the host's weave bridge; None before expose or without a bridge."""
    addresses = host.device_addresses(node, bridge)
    return addresses[0] if addresses else None


def has_device(node: Node) -> bool:
    return node.run("ip link show dev weave", check=False).ok


def routes_into(node: Node, network: ipaddress.IPv4Network) -> list[parse.Route]:
    """Routes of the node whose destination overlaps the weave range."""
    return [r for r in host.routes(node) if not r.is_default and r.dst.overlaps(network)]


def weave_containers(node: Node) -> list[str]:
    """Names of the weave router/plugin/proxy containers present on the node."""
    out = node.run("docker ps -a --format '{{.Names}} {{.Image}}'").stdout
    return [line.split()[0] for line in out.splitlines() if "/weave" in line.split()[-1]]
