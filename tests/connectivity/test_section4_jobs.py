"""Article section 4: the httpbackend service job, scheduled by Nomad onto the Weave network."""
import uuid

import pytest

from lab import wait
from lab.article import SERVICE, SERVICE_BODY, SERVICE_PORT
from lab.claims import changes_weave, claim
from lab.stack import docker, host, nomad

pytestmark = changes_weave

URL_BY_NAME = f"http://{SERVICE}.service.dc1.consul:{SERVICE_PORT}"


@pytest.fixture(scope="module")
def exposed_overlay(lab, weave, overlay):
    for node in lab.nodes.values():
        weave.expose(node)
    return overlay


@pytest.fixture(scope="module")
def httpbackend(lab, nomad_cluster, exposed_overlay):
    """`nomad job run httpbackend.nomad`: docker driver, network_mode "weave", dns_servers the
    three nodes, count 3. The job gets a unique ID and is purged afterwards (unless kept)."""
    u1 = lab.node("u1")
    if nomad_cluster.docker_endpoint(u1) != nomad.DOCKER_SOCKET:
        nomad_cluster.use_docker_endpoint(lab.nodes.values(), nomad.DOCKER_SOCKET)
    job_id = f"httpbackend-{uuid.uuid4().hex[:6]}"
    text = nomad.render_job(lab.topology, nomad_cluster.hcl, job=job_id, service=SERVICE, image=docker.HTTPBACKEND,
                            network_mode="weave")
    nomad_cluster.run_job(u1, job_id, text)
    wait.until(lambda: nomad_cluster.status(u1, job_id).summary.get("httpbackend", {}).get("Running") == 3,
               f"job {job_id} to have 3 running allocations", timeout=600, interval=5)
    placements = nomad_cluster.placements(u1, job_id)
    yield job_id, placements
    if lab.settings.destroy != "never":
        nomad_cluster.stop_and_purge(u1, job_id)


def task_container(lab, placement) -> docker.Container:
    return docker.Container(lab.node(placement.node_name), placement.container)


@claim("J1")
def test_J1_three_allocations_running_one_on_each_node(lab, nomad_cluster, httpbackend):
    job_id, placements = httpbackend
    status = nomad_cluster.status(lab.node("u1"), job_id)
    assert status.status == "running"
    assert status.summary["httpbackend"]["Running"] == 3
    running = [p for p in placements if p.status == "running"]
    assert sorted(p.node_name for p in running) == sorted(lab.nodes), placements


@claim("J2")
def test_J2_task_container_is_on_the_overlay(node, lab, httpbackend, exposed_overlay):
    _, placements = httpbackend
    placement = next(p for p in placements if p.node_name == node.name)
    address = task_container(lab, placement).weave_address()
    assert address is not None and address.ip in exposed_overlay, f"{placement.container}: ethwe0 {address}"


@claim("J3")
def test_J3_service_answers_on_its_overlay_address_from_the_host(pair, lab, httpbackend):
    source, target = pair
    _, placements = httpbackend
    placement = next(p for p in placements if p.node_name == target.name)
    address = task_container(lab, placement).weave_address().ip
    body = source.run(f"curl -sf --max-time 10 http://{address}:{SERVICE_PORT}").stdout
    assert body.strip() == SERVICE_BODY


@claim("J4")
def test_J4_service_answers_by_its_consul_name_from_a_host(node, lab, httpbackend, exposed_overlay):
    addresses = host.resolve(node, f"{SERVICE}.service.dc1.consul")
    assert addresses and all(a in exposed_overlay for a in addresses), addresses
    body = node.run(f"curl -sf --max-time 10 {URL_BY_NAME}").stdout
    assert body.strip() == SERVICE_BODY


@claim("J5")
def test_J5_service_answers_by_its_consul_name_from_a_weave_container(node, lab, httpbackend, containers):
    # `docker run -ti --net=weave --dns=192.168.56.3 ... ubuntu` in the article (no 8.8.8.8 here:
    # nothing leaves the machine).
    client = containers(node, "client", net="weave", dns=[lab.node("u1").hostonly_ip])
    result = client.http_get(URL_BY_NAME)
    assert result.stdout.strip() == SERVICE_BODY, result.stderr
