"""Nomad: agent config, the article's job files, and what the cluster says about itself."""
from __future__ import annotations

import json
from dataclasses import dataclass

from lab import parse, templates, wait
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


def wait_ready(nodes) -> None:
    """Every server knows a leader and every client is ready (as Nomad's e2e suite waits)."""
    for node in nodes:
        wait.until(lambda node=node: leader(node), f"nomad on {node.name} to know a leader", timeout=300, interval=3)
    wait.until(lambda: ready_nodes(nodes[0]) == len(nodes), f"{len(nodes)} nomad clients ready",
               timeout=300, interval=3)


def ready_nodes(node) -> int:
    raw = node.run(f"curl -sf http://{node.hostonly_ip}:4646/v1/nodes", check=False).stdout.strip()
    return sum(1 for n in json.loads(raw or "[]") if n.get("Status") == "ready")


@dataclass(frozen=True)
class Placement:
    """One allocation of a job: where it runs and its task's docker container."""

    alloc_id: str
    node_name: str
    status: str
    container: str


class Nomad:
    """Jobs and agent configuration, driven from one node's CLI/API (the article used u1)."""

    def __init__(self, topo: Topology, version: str, hcl: int):
        self.topo = topo
        self.version = version
        self.hcl = hcl

    def run_job(self, node, job_id: str, hcl_text: str) -> None:
        path = f"/tmp/{job_id}.nomad"
        node.run(f"cat > {path} <<'NOMAD_JOB'\n{hcl_text}NOMAD_JOB")
        _cli(node, f"job run -detach {path}")

    def status(self, node, job_id: str) -> parse.JobStatus:
        return parse.nomad_job_status(_cli(node, f"job status {job_id}"))

    def placements(self, node, job_id: str) -> list[Placement]:
        """Running allocations with the node they run on and their task container's name."""
        api = f"http://{node.hostonly_ip}:4646/v1"
        allocs = json.loads(node.run(f"curl -sf {api}/job/{job_id}/allocations").stdout)
        nodes = {n["ID"]: n["Name"] for n in json.loads(node.run(f"curl -sf {api}/nodes").stdout)}
        return [
            Placement(a["ID"], nodes.get(a["NodeID"], a["NodeID"]), a["ClientStatus"], f"{a['TaskGroup']}-{a['ID']}")
            for a in allocs
            if a.get("DesiredStatus") == "run"
        ]

    def stop_and_purge(self, node, job_id: str) -> None:
        _cli_unchecked(node, f"job stop -purge {job_id}")
        _cli_unchecked(node, "system gc")

    def use_docker_endpoint(self, nodes, endpoint: str) -> None:
        """Point every client's docker driver at ENDPOINT and restart the agents (article 5.3)."""
        for node in nodes:
            config = render_agent_config(self.topo, node.name, self.version, endpoint)
            interface = node.run(
                f"ip -o -4 addr show | awk '$4 ~ /^{node.hostonly_ip}\\// {{print $2; exit}}'").stdout.strip()
            node.run(f"cat > /etc/nomad.d/agent.hcl <<'NOMAD_AGENT'\n"
                     f"{config.replace('@HOSTONLY_IF@', interface)}NOMAD_AGENT")
            node.run("systemctl restart nomad")
        wait_ready(list(nodes))

    def docker_endpoint(self, node) -> str:
        config = node.run("cat /etc/nomad.d/agent.hcl").stdout
        return WEAVE_PROXY_SOCKET if "weave.sock" in config else DOCKER_SOCKET


def _cli_unchecked(node, args: str) -> str:
    return node.run(f"NOMAD_ADDR=http://{node.hostonly_ip}:4646 nomad {args}", check=False).stdout
