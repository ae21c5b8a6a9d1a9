"""Fixtures for the article's stack, shared by tests/connectivity and tests/isolation.

Everything that changes weave's state (launch, expose, reset, containers, jobs) runs in one
xdist group, "weave", so `pytest -n 3 --dist loadgroup` keeps it on one worker, in file order,
while the read-only claims (L, C, N) spread over the others. Each fixture establishes the state
its tests need, so `-k W6` alone works as well as the whole suite.
"""
from __future__ import annotations

import uuid

import pytest

from lab import artifacts, wait
from lab.article import WEAVE_RANGE
from lab.settings import timeouts
from lab.stack import TEST_CONTAINER_PREFIX, consul, docker, nomad
from lab.stack.weave import Weave


@pytest.fixture(scope="session")
def profile(lab) -> artifacts.Profile:
    return artifacts.profile(lab.state.profile)


@pytest.fixture(scope="session")
def weave(lab, profile) -> Weave:
    lab.require("docker", "weave")
    return Weave(profile.components["weave"].env)


@pytest.fixture(scope="module")
def overlay(lab, weave):
    """The article's section 2 overlay: default range 10.32.0.0/12, launched on every node.

    A node whose router runs with another range (the isolation suite's) is reset first."""
    nodes = list(lab.nodes.values())
    in_place = all(weave.is_running(n) and weave.status(n).sections.get("ipam", {}).get("Range") == str(WEAVE_RANGE)
                   for n in nodes)
    if not in_place:
        weave.reset_all(nodes)
        weave.launch_mesh(nodes)
    return WEAVE_RANGE


@pytest.fixture
def containers(lab, request):
    """Start containers for one test; they are removed after it unless kept for debugging."""
    started: list[docker.Container] = []

    def start(node, label, **kwargs) -> docker.Container:
        test = request.node.originalname[5:25].replace("_", "-")
        name = f"{TEST_CONTAINER_PREFIX}{test}-{label}-{uuid.uuid4().hex[:6]}"
        container = docker.start(node, name, **kwargs)
        started.append(container)
        return container

    yield start
    if not lab.keep_for_debugging(request.node):
        for container in started:
            container.remove()


@pytest.fixture(scope="session")
def consul_cluster(lab):
    """Consul as the article started it, once every server has joined and a leader is elected."""
    lab.require("consul")
    for node in lab.nodes.values():
        wait.until(lambda node=node: consul.leader(node), f"consul on {node.name} to know a raft leader",
                   timeout=timeouts().consul_leader, interval=3)
        wait.until(lambda node=node: len(consul.catalog_service(node, "consul")) == len(lab.nodes),
                   f"consul's catalog on {node.name} to list all {len(lab.nodes)} servers",
                   timeout=timeouts().consul_catalog, interval=3)
    return lab


@pytest.fixture(scope="session")
def nomad_cluster(lab, consul_cluster, profile) -> nomad.Nomad:
    lab.require("nomad")
    nomad.wait_ready(list(lab.nodes.values()))
    component = profile.components["nomad"]
    return nomad.Nomad(lab.topology, component.version, component.hcl)
