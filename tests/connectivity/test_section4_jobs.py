"""Article section 4: the httpbackend service job, scheduled by Nomad onto the Weave network."""
import uuid

import pytest

from lab.article import SERVICE, SERVICE_BODY, SERVICE_PORT
from lab.claims import claim, stack_state
from lab.stack import docker, host

pytestmark = stack_state

SERVICE_NAME = f"{SERVICE}.service.dc1.consul"
URL_BY_NAME = f"http://{SERVICE_NAME}:{SERVICE_PORT}"


@pytest.fixture(scope="module")
def exposed_overlay(lab, weave, overlay):
    weave.ensure_exposed(list(lab.nodes.values()))
    return overlay


@pytest.fixture(scope="module")
def httpbackend(lab, nomad_cluster, exposed_overlay):
    """`nomad job run httpbackend.nomad`: docker driver, network_mode "weave", dns_servers the
    three nodes, count 3, with the docker endpoint of section 4 (the daemon itself). The job gets
    a unique ID; it is stopped and purged afterwards, also under --lab-destroy=never (section 5
    needs the weave network free)."""
    nodes = list(lab.nodes.values())
    with nomad_cluster.using_endpoint(nodes, "docker"), nomad_cluster.deployed(
            nodes, f"httpbackend-{uuid.uuid4().hex[:6]}", SERVICE,
            image=docker.HTTPBACKEND, network_mode="weave") as deployment:
        yield deployment


def task_container(lab, deployment, node_name) -> docker.Container:
    return docker.Container(lab.node(node_name), deployment.on(node_name).container)


@claim("J1")
def test_J1_three_allocations_running_one_on_each_node(lab, nomad_cluster, httpbackend, nodes):
    status = nomad_cluster.status(nodes[0], httpbackend.job_id)
    assert status.status == "running"
    assert status.summary["httpbackend"]["Running"] == len(nodes)
    running = [p for p in httpbackend.placements if p.status == "running"]
    assert sorted(p.node_name for p in running) == sorted(lab.nodes), httpbackend.placements


@claim("J2")
def test_J2_task_container_is_on_the_overlay(node, lab, httpbackend, exposed_overlay):
    address = task_container(lab, httpbackend, node.name).weave_address()
    assert address is not None and address.ip in exposed_overlay, f"{httpbackend.on(node.name)}: ethwe0 {address}"


@claim("J3")
def test_J3_service_answers_on_its_overlay_address_from_the_host(pair, lab, httpbackend):
    source, target = pair
    address = task_container(lab, httpbackend, target.name).weave_address().ip
    body = source.run(f"curl -sf --max-time 10 http://{address}:{SERVICE_PORT}").stdout
    assert body.strip() == SERVICE_BODY


@claim("J4")
def test_J4_service_answers_by_its_consul_name_from_a_host(node, lab, httpbackend, exposed_overlay, nodes):
    addresses = host.resolve(node, f"{SERVICE}.service.dc1.consul")
    assert len(addresses) == len(nodes) and all(a in exposed_overlay for a in addresses), addresses
    body = node.run(f"curl -sf --max-time 10 {URL_BY_NAME}").stdout
    assert body.strip() == SERVICE_BODY


@claim("J5")
def test_J5_service_answers_by_its_consul_name_from_a_weave_container(node, lab, httpbackend, containers, nodes,
                                                                      exposed_overlay):
    # `docker run -ti --net=weave --dns=192.168.56.3 ... ubuntu`, then `curl httpbackend.service.dc1.consul:8081`
    # in the article (no 8.8.8.8 here: nothing leaves the machine). The name is resolved by the
    # container's own resolver (Docker's embedded DNS, forwarding to --dns), then each answer is asked.
    client = containers(node, "client", net="weave", dns=[nodes[0].hostonly_ip])
    addresses = client.resolve(SERVICE_NAME)
    assert len(addresses) == len(nodes) and all(a in exposed_overlay for a in addresses), addresses
    for address in addresses:
        response = client.http_get(address, SERVICE_PORT, host=SERVICE_NAME)
        assert (response.status, response.body.strip()) == (200, SERVICE_BODY), f"{client} -> {address}: {response}"
