"""Nomad: agent config, the article's job files, and what the cluster says about itself."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from lab import parse, recorder, templates, wait
from lab.parallel import on_each
from lab.settings import NOMAD_ENDPOINTS, timeouts
from lab.stack import consul
from lab.stack.weave import PROXY_SOCKET
from lab.topology import Topology
from lab.version import version_tuple

DOCKER_SOCKET = "unix:///var/run/docker.sock"
WEAVE_PROXY_SOCKET = PROXY_SOCKET
# The docker driver's endpoint, by the name runs choose it with (--lab-nomad-endpoint).
ENDPOINTS = dict(zip(NOMAD_ENDPOINTS, (DOCKER_SOCKET, WEAVE_PROXY_SOCKET)))
# The task's name in the article's job: Nomad names its containers <task>-<allocation id>.
TASK = "httpbackend"
AGENT_CONFIG = "/etc/nomad.d/agent.hcl"
AGENT_VARIANT = "/etc/nomad-weave-lab/nomad/agent-{endpoint}.hcl"  # staged by provision/stack/nomad.sh
CLIENT_STATE = "/var/lib/nomad/client/state.db"  # Nomad 0.8's client state (BoltDB)
CORRUPT_STATE = "Nomad is unable to start due to corrupt state"


def render_agent_config(topo: Topology, name: str, version: str, docker_endpoint: str = DOCKER_SOCKET) -> str:
    """Agent config; Nomad < 0.9 sets the docker endpoint as a client option, later ones in a plugin block."""
    return templates.render(
        "nomad-agent.hcl.j2",
        node=topo.node(name),
        version=version,
        servers=len(topo.nodes),
        docker_endpoint=docker_endpoint,
        legacy_docker_options=version_tuple(version) < (0, 9),
        # Nomad 1.0 renamed the option; 0.8 only knows the old name.
        fingerprint_option="fingerprint.denylist" if version_tuple(version) >= (1, 0) else "fingerprint.blacklist",
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


def _cli(node, args: str, check: bool = True, kind: str | None = None) -> str:
    """`nomad ARGS` on the node; its output is kept as the run's sample of `kind` (lab.recorder)."""
    # Nomad's HTTP API listens on bind_addr, the host-only address (the article used -address too).
    result = node.run(f"NOMAD_ADDR=http://{node.hostonly_ip}:4646 nomad {args}", check=check)
    return (recorder.record(kind, result) if kind else result).stdout


def _api(node, path: str):
    return json.loads(node.run(f"curl -sf http://{node.hostonly_ip}:4646/v1/{path}").stdout or "null")


def server_members(node) -> list[parse.ServerMember]:
    return parse.nomad_server_members(_cli(node, "server members", kind="nomad_server_members"))


def raft_peers(node) -> list[parse.RaftPeer]:
    return parse.raft_peers(_cli(node, "operator raft list-peers", kind="nomad_raft_peers"))


def leader(node) -> str | None:
    return _api(node, "status/leader") or None


def ready_nodes(node) -> int:
    return sum(1 for n in _api(node, "nodes") or [] if n.get("Status") == "ready")


def wait_ready(nodes) -> None:
    """Every server knows a leader and every client is ready (as Nomad's e2e suite waits)."""
    for node in nodes:
        wait.until(lambda node=node: leader(node), f"nomad on {node.name} to know a leader",
                   timeout=timeouts().nomad_leader, interval=3)
    wait.until(lambda: ready_nodes(nodes[0]) == len(nodes), f"{len(nodes)} nomad clients ready",
               timeout=timeouts().nomad_clients, interval=3)


@dataclass(frozen=True)
class Placement:
    """One allocation of a job: where it runs and its task's docker container."""

    alloc_id: str
    node_name: str
    status: str
    container: str


@dataclass(frozen=True)
class Deployment:
    job_id: str
    service: str
    placements: list[Placement]

    def on(self, node_name: str) -> Placement:
        """The running allocation on a node (the job places one per node)."""
        running = [p for p in self.placements if p.node_name == node_name and p.status == "running"]
        if len(running) != 1:
            raise AssertionError(f"job {self.job_id}: expected one running allocation on {node_name}, "
                                 f"found {self.placements}")
        return running[0]


class Nomad:
    """Jobs and agent configuration, driven from the first node's CLI/API (the article used u1)."""

    def __init__(self, topo: Topology, version: str, hcl: int):
        self.topo = topo
        self.version = version
        self.hcl = hcl
        # What the agents did that the article does not say (reported with the claims they touch).
        self.findings: list[str] = []

    def run_job(self, node, job_id: str, hcl_text: str) -> None:
        path = f"/tmp/{job_id}.nomad"
        node.run(f"cat > {path} <<'NOMAD_JOB'\n{hcl_text}NOMAD_JOB")
        _cli(node, f"job run -detach {path}")

    def status(self, node, job_id: str) -> parse.JobStatus:
        return parse.nomad_job_status(_cli(node, f"job status {job_id}", kind="nomad_job_status"))

    def placements(self, node, job_id: str) -> list[Placement]:
        """Allocations meant to run, with the node they run on and their task container's name."""
        names = {n["ID"]: n["Name"] for n in _api(node, "nodes")}
        return [
            Placement(a["ID"], names.get(a["NodeID"], a["NodeID"]), a["ClientStatus"], f"{TASK}-{a['ID']}")
            for a in _api(node, f"job/{job_id}/allocations")
            if a.get("DesiredStatus") == "run"
        ]

    def stop_and_purge(self, node, job_id: str) -> None:
        _cli(node, f"job stop -purge {job_id}")
        wait.until(lambda: node.run(f"curl -s -o /dev/null -w '%{{http_code}}' "
                                    f"http://{node.hostonly_ip}:4646/v1/job/{job_id}").stdout == "404",
                   f"job {job_id} to be purged", timeout=timeouts().nomad_job_purged, interval=3)
        # `nomad system gc` only came with 0.9; the endpoint under it is there in every version.
        node.run(f"curl -sf -X PUT http://{node.hostonly_ip}:4646/v1/system/gc")

    @contextlib.contextmanager
    def deployed(self, nodes, job_id: str, service: str, **job) -> Iterator[Deployment]:
        """Run the article's job, wait until one allocation runs on every node and consul lists
        the service on all of them; stop and purge it afterwards, also when it never got there (a
        job left running would keep its tasks on the weave network and spoil the later sections;
        a failure's state is in the diagnostics collected when it happened)."""
        first = nodes[0]
        self.run_job(first, job_id, render_job(self.topo, self.hcl, job=job_id, service=service, **job))
        wanted = len(nodes)
        try:
            wait.until(lambda: self.status(first, job_id).summary.get(TASK, {}).get("Running") == wanted,
                       f"job {job_id} to have {wanted} running allocations", timeout=timeouts().nomad_job_running,
                       interval=5)
            wait.until(lambda: len(consul.catalog_service(first, service)) == wanted,
                       f"consul to list service {service} on {wanted} nodes", timeout=timeouts().consul_catalog,
                       interval=3)
            yield Deployment(job_id, service, self.placements(first, job_id))
        finally:
            self.stop_and_purge(first, job_id)

    def docker_endpoint(self, node) -> str:
        """Which staged agent config is active on the node: "docker" or "weave-proxy"."""
        for endpoint in ENDPOINTS:
            if node.run(f"cmp -s {AGENT_CONFIG} {AGENT_VARIANT.format(endpoint=endpoint)}", check=False).ok:
                return endpoint
        raise RuntimeError(f"{node.name}: {AGENT_CONFIG} is none of the staged variants")

    @contextlib.contextmanager
    def using_endpoint(self, nodes, endpoint: str) -> Iterator[None]:
        """Point every client's docker driver at ENDPOINT for a while (the article's section 5.3:
        edit agent.hcl, restart the agents), then restore what each node had."""
        before = {node.name: self.docker_endpoint(node) for node in nodes}
        self._switch(nodes, {node.name: endpoint for node in nodes})
        try:
            yield
        finally:
            self._switch(nodes, before)

    def _switch(self, nodes, endpoints: dict[str, str]) -> None:
        """Install each node's agent config variant and restart its agent, all nodes at once."""
        def switch(node) -> bool:
            if self.docker_endpoint(node) == endpoints[node.name]:
                return False
            node.run(f"install -m 0640 {AGENT_VARIANT.format(endpoint=endpoints[node.name])} {AGENT_CONFIG}")
            self.restart_agent(node)
            return True

        if any(on_each(nodes, switch, "switching nomad's docker endpoint").values()):
            wait_ready(list(nodes))

    def restart_agent(self, node) -> None:
        """`systemctl restart nomad`, as the article did after editing agent.hcl.

        Nomad 0.8's client often cannot restore its own state after a restart and refuses to start
        ("Nomad is unable to start due to corrupt state": hashicorp/nomad#2560, #4748; 0.9's client
        rewrite ended it). The lab restarts agents only with no job placed, so when that happens it
        does what the message advises, starts the client from an empty state, and records the finding."""
        since = node.run("date +%s").stdout.strip()
        node.run("systemctl restart nomad")
        outcome = wait.until(lambda: _agent_outcome(node, since), f"nomad on {node.name} to start again",
                             timeout=timeouts().nomad_leader, interval=3, accept=lambda seen: seen != "starting")
        if outcome == "corrupt state":
            self.findings.append(f"{node.name}: Nomad {self.version} refused to restart ({CORRUPT_STATE}, "
                                 "hashicorp/nomad#4748); started again from an empty client state")
            node.run(f"systemctl stop nomad && rm -f {CLIENT_STATE} && systemctl start nomad")


def _agent_outcome(node, since: str) -> str:
    """"corrupt state" once the agent said so after `since` (epoch seconds), "up" once its API answers."""
    journal = node.run(f"journalctl -u nomad --since @{since} --no-pager -o cat", check=False).stdout
    if CORRUPT_STATE in journal:
        return "corrupt state"
    answered = node.run(f"curl -s -o /dev/null -w '%{{http_code}}' http://{node.hostonly_ip}:4646/v1/agent/self",
                        check=False).stdout
    return "up" if answered == "200" else "starting"
