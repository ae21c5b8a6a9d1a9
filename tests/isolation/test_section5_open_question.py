"""The article's open question, answered: a configuration that puts the weave address into
consul, checked end to end through consul's DNS (claim I8).

With `network_mode = "weave"` Docker itself knows the overlay network, so Nomad's docker driver
reads the weave address from it and `address_mode = "driver"` advertises that address."""
import uuid

import pytest

from lab import wait
from lab.article import SERVICE_BODY, SERVICE_PORT
from lab.claims import changes_weave, claim
from lab.stack import consul, docker, host, nomad

pytestmark = changes_weave


@pytest.fixture(scope="module")
def weave_driver_job(lab, nomad_cluster, consul_cluster, subnet_overlay):
    u1 = lab.node("u1")
    if nomad_cluster.docker_endpoint(u1) != nomad.DOCKER_SOCKET:
        nomad_cluster.use_docker_endpoint(list(lab.nodes.values()), nomad.DOCKER_SOCKET)
    job_id = f"hb-answer-{uuid.uuid4().hex[:6]}"
    service = f"httpbackend-{job_id[-6:]}"
    text = nomad.render_job(lab.topology, nomad_cluster.hcl, job=job_id, service=service, image=docker.HTTPBACKEND,
                            network_mode="weave", address_mode="driver")
    nomad_cluster.run_job(u1, job_id, text)
    wait.until(lambda: nomad_cluster.status(u1, job_id).summary.get("httpbackend", {}).get("Running") == 3,
               f"job {job_id} to have 3 running allocations", timeout=600, interval=5)
    yield service
    if lab.settings.destroy != "never":
        nomad_cluster.stop_and_purge(u1, job_id)


@claim("I8")
def test_I8_consul_dns_gives_the_weave_addresses(node, lab, weave_driver_job, subnet_overlay):
    addresses = wait.until(lambda: host.resolve(node, f"{weave_driver_job}.service.dc1.consul"),
                           f"{weave_driver_job}.service.dc1.consul to resolve on {node.name}",
                           timeout=60, interval=3, accept=lambda found: len(found) == 3)
    assert all(a in subnet_overlay for a in addresses), f"consul DNS gave {addresses}, not weave addresses"
    srv = consul.dig(node, f"{weave_driver_job}.service.dc1.consul", node.hostonly_ip, "SRV")
    assert len(srv) == 3, srv


@claim("I8")
def test_I8_and_each_of_them_answers_from_the_host(node, lab, weave_driver_job):
    for address in host.resolve(node, f"{weave_driver_job}.service.dc1.consul"):
        body = node.run(f"curl -sf --max-time 10 http://{address}:{SERVICE_PORT}").stdout
        assert body.strip() == SERVICE_BODY, f"{node.name} -> {address}"
