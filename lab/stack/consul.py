"""Consul: the servers' config, and what the cluster says about itself."""
from __future__ import annotations

import ipaddress
import json

from lab import parse, recorder, templates
from lab.node import Node
from lab.topology import Topology


def node_name(topo: Topology, node_name_: str) -> str:
    """The article named its consul nodes consul-1, consul-2, consul-3."""
    return f"consul-{topo.node_names.index(node_name_) + 1}"


def render_config(topo: Topology, name: str, recursors: list[str] = ()) -> str:
    node = topo.node(name)
    return templates.render(
        "consul.hcl.j2",
        node=node,
        node_name=node_name(topo, name),
        servers=[n.hostonly_ip for n in topo.nodes],
        peers=[n.hostonly_ip for n in topo.nodes if n.name != name],
        recursors=list(recursors),
    )


def render_resolv_conf(topo: Topology) -> str:
    """The article's /etc/resolv.conf: the consul servers, with its options."""
    lines = ["# nomad-weave-lab: names through consul's DNS (port 53); /etc/hosts is read first"]
    lines += [f"nameserver {n.hostonly_ip}" for n in topo.nodes[:3]]
    lines.append("options timeout:2 attempts:3 rotate single-request-reopen")
    return "\n".join(lines) + "\n"


def raft_peers(node: Node) -> list[parse.RaftPeer]:
    return parse.raft_peers(recorder.record("consul_raft_peers", node.run("consul operator raft list-peers")).stdout)


def leader(node: Node) -> str | None:
    """The leader's address as this node's agent sees it ("" while there is none)."""
    raw = node.run("curl -sf http://127.0.0.1:8500/v1/status/leader", check=False).stdout.strip()
    return json.loads(raw) if raw else None


def dig(node: Node, name: str, server, record: str = "A") -> list[str]:
    """Answers of `dig @SERVER -p 53 NAME RECORD +short`."""
    result = node.run(f"dig +short +time=2 +tries=2 @{server} -p 53 {name} {record}")
    # dig +short reports trouble as ";; ..." lines: they are no answers.
    return [line.strip() for line in result.stdout.splitlines() if line.strip() and not line.startswith(";")]


def dig_addresses(node: Node, name: str, server) -> list[ipaddress.IPv4Address]:
    return sorted(ipaddress.IPv4Address(a) for a in dig(node, name, server) if _is_ipv4(a))


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def catalog_service(node: Node, service: str) -> list[dict]:
    """Consul's catalog entries for a service (what the article read with the Go API)."""
    raw = node.run(f"curl -sf http://127.0.0.1:8500/v1/catalog/service/{service}").stdout
    return json.loads(raw)
