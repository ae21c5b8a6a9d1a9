"""The article's claims, by stable ID (see ../shared/claims.md), and the `claim` marker."""
from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    text: str


SECTIONS = {
    "L": "1. Lab",
    "W": "2. Weave overlay",
    "C": "3. Consul and Nomad clusters",
    "N": "3. Consul and Nomad clusters",
    "J": "4. Nomad jobs on the Weave network",
    "I": "5. Isolation",
}

_TEXTS = {
    "L1": "the three nodes are up, named u1/u2/u3, and reach each other on the host-only network",
    "L2": "every node's default route goes through the NAT network",
    "L3": "Docker engine runs on every node",
    "W1": "weave launch --no-dns <other peers> on each node forms a full mesh",
    "W2": "the router reports the whole mesh (3 peers, 6 established connections, IPAM ready)",
    "W3": "containers on --net=weave get addresses in the IPAM range and ping each other across nodes",
    "W4": "before weave expose, a host cannot reach a container on the overlay",
    "W5": "weave expose gives the host's weave bridge an address and a route; the host then reaches its container",
    "W6": "after weave expose on all nodes, every host reaches containers on every node",
    "W7": "a container reaches the host-only addresses of its own and the other hosts without expose",
    "C1": "three consul servers form one raft cluster with exactly one leader",
    "C2": "nodes resolve *.consul names through consul's DNS on port 53",
    "N1": "three nomad agents (server+client) form one cluster with one leader",
    "J1": "the httpbackend service job ends with 3 running allocations, one per node",
    "J2": "each task container is on the overlay with an address in the weave range",
    "J3": "the service answers on its overlay address from the host",
    "J4": "the service answers by its consul name from a host",
    "J5": "the service answers by its consul name from a container on the weave network",
    "I1": "weave reset removes the weave device, containers and routes",
    "I2": "relaunching with --ipalloc-range/--ipalloc-default-subnet puts default containers in 10.32.0.0/24",
    "I3": "with --net=weave (plugin) WEAVE_CIDR is ignored: the container lands in the default subnet",
    "I4": "through the weave Docker API proxy, WEAVE_CIDR=net:10.32.1.0/24 is honoured",
    "I5": "subnet isolation: a<->a and b<->b reach each other, a<->b never (same node and across)",
    "I6": "nomad with the weave proxy as docker endpoint places a WEAVE_CIDR job into 10.32.1.0/24",
    "I7": "leftover problem: consul advertises the host or docker-bridge address, not the weave one",
    "I8": "a configuration that advertises the weave address in consul, end to end through consul DNS",
}

CLAIMS = {cid: Claim(cid, SECTIONS[cid[0]], text) for cid, text in _TEXTS.items()}


# Tests that change the stack's state (weave launch/expose/reset, containers, jobs, nomad agent
# restarts), or read state those changes disturb (nomad membership), share one xdist group:
# `--dist loadgroup` runs them on one worker, in file order, while the others spread out.
stack_state = pytest.mark.xdist_group("stack")


def claim(claim_id: str):
    """Mark a test as checking one of the article's claims; its name must carry the ID."""
    if claim_id not in CLAIMS:
        raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(CLAIMS)}")
    return pytest.mark.claim(claim_id)
