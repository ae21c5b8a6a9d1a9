"""Article section 5: isolating workloads in Weave subnets (plugin vs Docker API proxy, Nomad)."""
import ipaddress
import uuid

import pytest

from lab.article import DEFAULT_SUBNET, DOCKER_BRIDGE
from lab.article import OTHER_SUBNET as B_SUBNET
from lab.article import OTHER_SUBNET_CIDR as B_CIDR
from lab.claims import claim, stack_state
from lab.stack import TEST_CONTAINER_PREFIX, consul, docker
from lab.stack import weave as weave_ops

pytestmark = stack_state


@claim("I1")
def test_I1_reset_removes_the_weave_device_containers_and_routes(node, weave, overlay):
    weave.ensure_exposed([node])  # exposed in section 4 already, unless run alone
    # Positive control: all three are there before the reset.
    assert weave_ops.has_device(node) and weave_ops.weave_containers(node) and weave_ops.routes_into(node, overlay)
    weave.reset(node)
    assert not weave_ops.has_device(node), f"{node.name}: the weave device survived weave reset"
    assert weave_ops.weave_containers(node) == [], f"{node.name}: weave containers survived weave reset"
    assert weave_ops.routes_into(node, overlay) == [], f"{node.name}: weave routes survived weave reset"


@claim("I2")
def test_I2_default_containers_land_in_the_default_subnet(node, subnet_overlay, containers):
    container = containers(node, "default", net="weave")
    address = container.weave_address()
    assert address is not None and address.ip in DEFAULT_SUBNET, f"{container}: {address}"


@pytest.fixture
def plugin_mode_pair(nodes, subnet_overlay, containers):
    """The article's first try: a1 on u1 plainly, b1 on u2 with WEAVE_CIDR, both --net=weave."""
    a1 = containers(nodes[0], "a1", net="weave")
    b1 = containers(nodes[1], "b1", net="weave", env={"WEAVE_CIDR": B_CIDR})
    return a1, b1


@claim("I3")
def test_I3_with_net_weave_WEAVE_CIDR_is_ignored(plugin_mode_pair):
    _, b1 = plugin_mode_pair
    address = b1.weave_address()
    assert address is not None and address.ip in DEFAULT_SUBNET, f"{b1} asked for {B_CIDR}, got {address}"
    assert address.ip not in B_SUBNET


@claim("I3")
def test_I3_so_the_plugin_containers_still_reach_each_other(plugin_mode_pair):
    a1, b1 = plugin_mode_pair
    result = a1.ping(b1.weave_address().ip)
    assert result.received == result.transmitted == 3, f"{a1} -> {b1}: {result}"


@pytest.fixture(scope="module")
def proxy_containers(lab, nodes, subnet_overlay):
    """Through the weave Docker API proxy: a1, a2 (default subnet) on u1 and b1, b2 (WEAVE_CIDR
    net:10.32.1.0/24) on u2 as in the article, plus a3 on u2 and b3 on u1 so that each subnet has
    a member on each node (same-node pairs)."""
    u1, u2 = nodes[0], nodes[1]
    plan = {"a1": (u1, None), "a2": (u1, None), "a3": (u2, None),
            "b1": (u2, B_CIDR), "b2": (u2, B_CIDR), "b3": (u1, B_CIDR)}
    run = uuid.uuid4().hex[:6]
    started = {}
    for label, (node, cidr) in plan.items():
        started[label] = docker.start(node, f"{TEST_CONTAINER_PREFIX}i-{label}-{run}", via_weave_proxy=True,
                                      env={"WEAVE_CIDR": cidr} if cidr else None)
    yield started
    for container in started.values():  # later tests start from the article's state
        container.remove()


@pytest.fixture(scope="module")
def proxy_addresses(proxy_containers):
    """Each proxy container's overlay address (ethwe), read once: a container keeps its address,
    and a container gone since fails the ping that would use it (docker.ContainerGone)."""
    return {label: container.weave_address() for label, container in proxy_containers.items()}


@claim("I4")
@pytest.mark.parametrize("label", ["b1", "b2", "b3"])
def test_I4_through_the_proxy_WEAVE_CIDR_is_honoured(proxy_containers, proxy_addresses, label):
    address = proxy_addresses[label]
    assert address is not None and address.ip in B_SUBNET, f"{proxy_containers[label]}: {address}"


@claim("I4")
@pytest.mark.parametrize("label", ["a1", "a2", "a3"])
def test_I4_through_the_proxy_plain_containers_get_the_default_subnet(proxy_containers, proxy_addresses, label):
    address = proxy_addresses[label]
    assert address is not None and address.ip in DEFAULT_SUBNET, f"{proxy_containers[label]}: {address}"


SAME_SUBNET = [("a1", "a2"), ("a2", "a1"), ("a1", "a3"), ("a3", "a1"), ("b1", "b2"), ("b2", "b1"),
               ("b1", "b3"), ("b3", "b1")]
ACROSS_SUBNETS = [("a1", "b1"), ("b1", "a1"),  # across nodes
                  ("a3", "b1"), ("b1", "a3"),  # same node (u2)
                  ("b3", "a1"), ("a1", "b3")]  # same node (u1)
# A member of the same subnet for each container, on the other node where there is one: the
# positive controls of a "blocked" pair.
SIBLING = {"a1": "a2", "a2": "a1", "a3": "a1", "b1": "b2", "b2": "b1", "b3": "b1"}


@claim("I5")
@pytest.mark.parametrize("source, target", SAME_SUBNET, ids=[f"{s}_to_{t}" for s, t in SAME_SUBNET])
def test_I5_containers_of_one_subnet_reach_each_other(proxy_containers, proxy_addresses, source, target):
    src, dst = proxy_containers[source], proxy_containers[target]
    assert proxy_addresses[target] is not None, f"{dst} has no overlay address"
    result = src.ping(proxy_addresses[target].ip)
    assert result.received == result.transmitted == 3, f"{src} -> {dst}: {result}"


@claim("I5")
@pytest.mark.parametrize("source, target", ACROSS_SUBNETS, ids=[f"{s}_to_{t}" for s, t in ACROSS_SUBNETS])
def test_I5_no_traffic_passes_between_subnets(proxy_containers, proxy_addresses, source, target):
    src, dst = proxy_containers[source], proxy_containers[target]
    assert proxy_addresses[target] is not None and proxy_addresses[SIBLING[source]] is not None, proxy_addresses
    address = proxy_addresses[target].ip
    # Positive controls in the same test, so that only the subnet boundary can explain a loss:
    # the target is up and answers its own subnet, and the source can send into its own subnet.
    target_sibling, source_sibling = proxy_containers[SIBLING[target]], proxy_containers[SIBLING[source]]
    control = target_sibling.ping(address)
    assert control.received > 0, f"control failed: {target_sibling} cannot reach {dst} ({address})"
    control = src.ping(proxy_addresses[SIBLING[source]].ip)
    assert control.received > 0, f"control failed: {src} cannot reach {source_sibling} in its own subnet"
    result = src.ping(address)
    assert result.received == 0, f"{src} reached {dst} ({address}) across subnets: {result}"


@pytest.fixture(scope="module")
def agents_on_the_proxy(nodes, nomad_cluster, subnet_overlay):
    """Section 5.3: every agent's docker endpoint is the weave proxy's socket (agent.hcl edited,
    agents restarted), for the jobs of both address modes; afterwards what each node had."""
    with nomad_cluster.using_endpoint(nodes, "weave-proxy"):
        yield


@pytest.fixture(scope="module", params=[None, "driver"], ids=["address_mode_auto", "address_mode_driver"])
def another_subnet_job(request, lab, nodes, nomad_cluster, agents_on_the_proxy):
    """httpbackend-another-subnet.nomad (no network_mode, env WEAVE_CIDR=net:10.32.1.0/24) run by
    the agents on the proxy."""
    job_id = f"hb-subnet-{uuid.uuid4().hex[:6]}"
    with nomad_cluster.deployed(
            nodes, job_id, f"httpbackend-{job_id[-6:]}",
            image=docker.HTTPBACKEND, network_mode=None, weave_cidr=B_CIDR,
            address_mode=request.param) as deployment:
        yield request.param or "auto", deployment


@claim("I6")
def test_I6_nomad_through_the_proxy_places_the_job_in_the_WEAVE_CIDR_subnet(lab, another_subnet_job, nomad_cluster,
                                                                           record_property):
    _, deployment = another_subnet_job
    if nomad_cluster.findings:  # what restarting the agents with the proxy as endpoint took (section 5.3)
        record_property("finding", "; ".join(nomad_cluster.findings))
    for name in lab.nodes:
        placement = deployment.on(name)
        addresses = docker.Container(lab.node(name), placement.container).addresses()
        assert any(a.ip in B_SUBNET for a in addresses.get("ethwe", [])), f"{placement.container}: {addresses}"
        assert any(a.ip in DOCKER_BRIDGE for a in addresses.get("eth0", [])), f"{placement.container}: {addresses}"


def classify(address: str, lab) -> str:
    """What an address advertised in consul is: weave, docker-bridge, host, or node-default."""
    if not address:
        return "node-default"
    ip = ipaddress.IPv4Address(address)
    if ip in B_SUBNET or ip in DEFAULT_SUBNET:
        return "weave"
    if ip in DOCKER_BRIDGE:
        return "docker-bridge"
    if any(ip in (n.hostonly_ip, n.nat_ip) for n in lab.nodes.values()):
        return "host"
    return "unknown"


@claim("I7")
def test_I7_leftover_problem_holds_consul_does_not_advertise_the_weave_address(
        lab, nodes, another_subnet_job, record_property):
    address_mode, deployment = another_subnet_job
    entries = consul.catalog_service(nodes[0], deployment.service)
    assert len(entries) == len(nodes), entries
    kinds = sorted(classify(e["ServiceAddress"], lab) for e in entries)
    ports = sorted(e["ServicePort"] for e in entries)
    holds = "weave" not in kinds
    finding = (f"{'limitation holds' if holds else 'limitation fixed'} (address_mode={address_mode}): "
               f"consul advertises {', '.join(sorted(set(kinds)))} addresses "
               f"{sorted(e['ServiceAddress'] or e['Address'] for e in entries)}, ports {ports}")
    record_property("finding", finding)
    # The article: the host's address with address_mode auto, the docker bridge's with driver.
    # Where a newer Nomad advertises the weave address, this fails and says so: the limitation
    # no longer holds (I8 checks a configuration that does advertise it).
    expected = {"auto": {"host", "node-default"}, "driver": {"docker-bridge"}}[address_mode]
    assert holds and set(kinds) <= expected, finding
