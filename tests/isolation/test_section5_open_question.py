"""The article's open question, answered: a configuration that puts the weave address into
consul, checked end to end through consul's DNS (claim I8).

With `network_mode = "weave"` Docker itself knows the overlay network, so Nomad's docker driver
reads the weave address from it and `address_mode = "driver"` advertises that address."""
import uuid

import pytest

from lab import wait
from lab.article import SERVICE_BODY, SERVICE_PORT
from lab.claims import claim, stack_state
from lab.settings import timeouts
from lab.stack import consul, docker, host

pytestmark = stack_state


@pytest.fixture(scope="module")
def weave_driver_job(lab, nodes, nomad_cluster, consul_cluster, subnet_overlay):
    job_id = f"hb-answer-{uuid.uuid4().hex[:6]}"
    with nomad_cluster.using_endpoint(nodes, "docker"), nomad_cluster.deployed(
            nodes, job_id, f"httpbackend-{job_id[-6:]}",
            image=docker.HTTPBACKEND, network_mode="weave", address_mode="driver") as deployment:
        yield deployment.service


def resolve_all(node, service, count):
    return wait.until(lambda: host.resolve(node, f"{service}.service.dc1.consul"),
                      f"{service}.service.dc1.consul to resolve to {count} addresses on {node.name}",
                      timeout=timeouts().dns, interval=3, accept=lambda found: len(found) == count)


@claim("I8")
def test_I8_consul_dns_gives_the_weave_addresses(node, nodes, weave_driver_job, subnet_overlay):
    addresses = resolve_all(node, weave_driver_job, len(nodes))
    assert all(a in subnet_overlay for a in addresses), f"consul DNS gave {addresses}, not weave addresses"
    srv = consul.dig(node, f"{weave_driver_job}.service.dc1.consul", node.hostonly_ip, "SRV")
    assert len(srv) == len(nodes), srv


@claim("I8")
def test_I8_and_each_of_them_answers_from_the_host(node, nodes, weave_driver_job):
    addresses = resolve_all(node, weave_driver_job, len(nodes))
    for address in addresses:
        body = node.run(f"curl -sf --max-time 10 http://{address}:{SERVICE_PORT}").stdout
        assert body.strip() == SERVICE_BODY, f"{node.name} -> {address}"
