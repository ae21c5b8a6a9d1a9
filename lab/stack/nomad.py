"""Nomad: agent config, the article's job files, and what the cluster says about itself."""
from __future__ import annotations

import json

from lab import parse, templates
from lab.topology import Topology

DOCKER_SOCKET = "unix:///var/run/docker.sock"
WEAVE_PROXY_SOCKET = "unix:///var/run/weave/weave.sock"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


def render_agent_config(topo: Topology, name: str, version: str, docker_endpoint: str = DOCKER_SOCKET) -> str:
    """Agent config; Nomad < 0.9 sets the docker endpoint as a client option, later ones in a plugin block."""
    return templates.render(
        "nomad-agent.hcl.j2",
        node=topo.node(name),
        version=version,
        servers=len(topo.nodes),
        docker_endpoint=docker_endpoint,
        legacy_docker_options=_version_tuple(version) < (0, 9),
    )


def render_job(
    topo: Topology,
    hcl: int,
    *,
    job: str = "httpbackend",
    service: str = "httpbackend",
    image: str,
    network_mode: str | None = "weave",
    weave_cidr: str | None = None,
    address_mode: str | None = None,
    count: int | None = None,
) -> str:
    """The article's httpbackend job (network_mode weave) or its another-subnet variant (WEAVE_CIDR)."""
    if hcl not in (1, 2):
        raise ValueError(f"hcl must be 1 or 2, not {hcl!r}")
    return templates.render(
        f"httpbackend.hcl{hcl}.nomad.j2",
        job=job,
        service=service,
        image=image,
        count=count or len(topo.nodes),
        dns_servers=[n.hostonly_ip for n in topo.nodes],
        network_mode=network_mode,
        weave_cidr=weave_cidr,
        address_mode=address_mode,
    )


def _cli(node, args: str) -> str:
    # Nomad's HTTP API listens on bind_addr, the host-only address (the article used -address too).
    return node.run(f"NOMAD_ADDR=http://{node.hostonly_ip}:4646 nomad {args}").stdout


def server_members(node) -> list[parse.ServerMember]:
    return parse.nomad_server_members(_cli(node, "server members"))


def raft_peers(node) -> list[parse.RaftPeer]:
    return parse.raft_peers(_cli(node, "operator raft list-peers"))


def leader(node) -> str | None:
    raw = node.run(f"curl -sf http://{node.hostonly_ip}:4646/v1/status/leader", check=False).stdout.strip()
    return json.loads(raw) if raw else None


def ready_nodes(node) -> int:
    raw = node.run(f"curl -sf http://{node.hostonly_ip}:4646/v1/nodes", check=False).stdout.strip()
    return sum(1 for n in json.loads(raw or "[]") if n.get("Status") == "ready")
