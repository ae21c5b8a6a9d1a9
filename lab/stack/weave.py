"""Weave Net on a node: launch, expose, hide, reset, and what the router reports.

The commands the article types (`launch`, `expose`, `hide`, `reset`, `ps`) go through the
`weave` script, which runs each of them in a fresh weaveexec container: heavy under emulation.
Everything the lab only reads (status, connections, peers, IPAM, DNS) comes from the router's
own HTTP status endpoint on the node, 127.0.0.1:6784, which serves the very text `weave status
[SUB]` prints (the script is `echo; curl .../status/SUB; echo`).
"""
from __future__ import annotations

import ipaddress
import re
import shlex

from lab import parse, recorder, wait
from lab.node import CommandResult, Node
from lab.parallel import on_each
from lab.settings import timeouts
from lab.stack import docker_networks, host

PROXY_SOCKET = "unix:///var/run/weave/weave.sock"
BRIDGE = "weave"
# The Docker network weave's legacy plugin creates (`docker run --net=weave`).
DOCKER_NETWORK = "weave"
STATUS_ENDPOINT = "http://127.0.0.1:6784/status"
# Sub-reports of `weave status SUB` that the endpoint serves at /status/SUB.
STATUS_REPORTS = ("", "connections", "peers", "ipam", "dns", "targets")
# The script's version check would try the internet (weave's "next check at ..."); Docker API
# and image settings come from the profile (lab/versions.yaml).
_BASE_ENV = {"CHECKPOINT_DISABLE": "1"}


class Weave:
    """The `weave` script as the lab calls it: same environment on every node."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = {**_BASE_ENV, **(env or {})}

    def cli(self, node: Node, args: str, check: bool = True) -> CommandResult:
        """`weave ARGS` with the lab's environment (one weaveexec container per call)."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return node.run(f"{prefix} weave {args}", check=check, timeout=timeouts().weave_command)

    # -- what the router reports (its HTTP endpoint) ------------------------------------------
    @staticmethod
    def report(node: Node, sub: str = "") -> str:
        """The text of `weave status [SUB]`, read from the router's endpoint."""
        if sub not in STATUS_REPORTS:
            raise ValueError(f"unknown weave status report {sub!r} (one of {', '.join(STATUS_REPORTS[1:])})")
        url = f"{STATUS_ENDPOINT}/{sub}" if sub else STATUS_ENDPOINT
        result = node.run(f"curl -sS --fail --max-time 20 {url}")
        return recorder.record(f"weave_status_{sub}" if sub else "weave_status", result).stdout

    def is_running(self, node: Node) -> bool:
        """The router answers on its endpoint."""
        return node.run(f"curl -s --fail --max-time 20 -o /dev/null {STATUS_ENDPOINT}", check=False).ok

    def status(self, node: Node) -> parse.WeaveStatus:
        return parse.weave_status(self.report(node))

    def connections(self, node: Node) -> list[parse.WeaveConnection]:
        return parse.weave_connections(self.report(node, "connections"))

    def established_peers(self, node: Node) -> int:
        return sum(c.state == "established" for c in self.connections(node))

    # -- what the article types ---------------------------------------------------------------
    def launch(self, node: Node, peers: list, *, ipalloc_range=None, default_subnet=None) -> str:
        """`weave launch --no-dns [--ipalloc-range R [--ipalloc-default-subnet S]] PEER...`."""
        args = ["launch", "--no-dns"]
        if ipalloc_range:
            args += ["--ipalloc-range", str(ipalloc_range)]
        if default_subnet:
            args += ["--ipalloc-default-subnet", str(default_subnet)]
        args += [str(p) for p in peers]
        return recorder.record("weave_launch", self.cli(node, " ".join(args))).stdout.strip()

    def expose(self, node: Node) -> ipaddress.IPv4Address:
        """`weave expose`: the address it gives the host's weave bridge (it prints it)."""
        out = recorder.record("weave_expose", self.cli(node, "expose")).stdout
        found = re.findall(r"\b(\d+\.\d+\.\d+\.\d+)(?:/\d+)?\b", out)
        if not found:
            raise ValueError(f"{node.name}: `weave expose` printed no address: {out!r}")
        return ipaddress.IPv4Address(found[-1])

    def hide(self, node: Node) -> None:
        """Undo `weave expose` (so a test can start from the article's "before expose")."""
        self.cli(node, "hide")

    def reset(self, node: Node) -> None:
        """`weave reset`, once nothing is attached to Docker's weave network any more.

        While a container is attached the script cannot remove the network, and the next launch
        would hand out addresses from the old network's range. So the lab's own test containers
        still attached (those kept after a failure or under --lab-destroy=never: the reset ends
        what they showed anyway) are removed first; then the reset waits, bounded, for the rest
        (a job's task within its kill timeout) to go, resets, and checks the network is gone."""
        docker_networks.empty(node, DOCKER_NETWORK, timeout=timeouts().weave_detached,
                              why="weave reset cannot remove it before")
        self.cli(node, "reset")
        left = docker_networks.attached_containers(node, DOCKER_NETWORK)
        if left is not None:
            raise RuntimeError(f"{node.name}: docker's {DOCKER_NETWORK} network survived weave reset "
                               f"(attached: {', '.join(left) or 'nothing'})")

    def launch_mesh(self, nodes: list[Node], *, ipalloc_range=None, default_subnet=None) -> None:
        """`weave launch --no-dns <the other peers>` on every node at once, then wait for the full mesh."""
        def launch(node: Node) -> None:
            peers = [other.hostonly_ip for other in nodes if other is not node]
            self.launch(node, peers, ipalloc_range=ipalloc_range, default_subnet=default_subnet)

        on_each(nodes, launch, "weave launch")
        on_each(nodes, lambda node: wait.until(
            lambda: self.connections(node), f"weave on {node.name} to establish connections to its "
            f"{len(nodes) - 1} peers", timeout=timeouts().weave_mesh, interval=3,
            accept=lambda found: sum(c.state == "established" for c in found) == len(nodes) - 1), "weave mesh")

    def reset_all(self, nodes: list[Node]) -> None:
        """`weave reset` on every node that has anything of weave left; one that never launched
        it (a freshly provisioned node) has nothing a reset would remove, and the reset's weaveexec
        container costs tens of seconds on an emulated node."""
        on_each([node for node in nodes if has_traces(node)], self.reset, "weave reset")

    def ensure_exposed(self, nodes: list[Node]) -> dict[str, ipaddress.IPv4Address]:
        """`weave expose` on each host whose weave bridge has no address yet; every host's address.

        A host whose bridge has one was exposed earlier in the run (nothing else addresses the
        bridge). Typing it again for each test that needs the exposed state cost a weaveexec
        container per host and test (about 12 s each under emulation) and proves nothing new."""
        missing = [node for node in nodes if bridge_address(node) is None]
        on_each(missing, self.expose, "weave expose")
        return {node.name: bridge_address(node).ip for node in nodes}


def bridge_address(node: Node, bridge: str = BRIDGE) -> ipaddress.IPv4Interface | None:
    """The address `weave expose` gave the host's weave bridge; None before expose or without a bridge."""
    addresses = host.device_addresses(node, bridge)
    return addresses[0] if addresses else None


def has_device(node: Node) -> bool:
    return node.run(f"ip link show dev {BRIDGE}", check=False).ok


def has_traces(node: Node) -> bool:
    """Anything `weave launch` leaves that `weave reset` removes: a weave container (router,
    plugin, proxy, weavedb), the weave bridge, or Docker's weave network."""
    return (bool(weave_containers(node)) or has_device(node)
            or docker_networks.attached_containers(node, DOCKER_NETWORK) is not None)


def routes_into(node: Node, network: ipaddress.IPv4Network) -> list[parse.Route]:
    """Routes of the node whose destination overlaps the weave range."""
    return [r for r in host.routes(node) if not r.is_default and r.dst.overlaps(network)]


def weave_containers(node: Node) -> list[str]:
    """Names of the weave router/plugin/proxy containers present on the node."""
    out = node.run("docker ps -a --format '{{.Names}} {{.Image}}'").stdout
    return [line.split()[0] for line in out.splitlines() if "/weave" in line.split()[-1]]
