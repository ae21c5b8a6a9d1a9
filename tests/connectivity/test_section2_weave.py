"""Article section 2: a Weave Net overlay across u1/u2/u3, containers on it, and the hosts."""
import pytest

from lab import parse, wait
from lab.claims import claim, stack_state
from lab.parallel import on_each
from lab.settings import timeouts
from lab.stack import TEST_CONTAINER_PREFIX, docker, host
from lab.stack import weave as weave_ops

pytestmark = stack_state


@pytest.fixture(scope="module")
def weave_containers(lab, overlay):
    """`docker run -ti --net=weave busybox /bin/sh` on u1, u2 and u3 (detached here)."""
    def start(node):
        name = f"{TEST_CONTAINER_PREFIX}w-{node.name}"
        docker.Container(node, name).remove()
        return docker.start(node, name, net="weave")

    started = on_each(lab.nodes.values(), start, "starting a busybox on the weave network")
    yield started
    for container in started.values():  # later sections start from the article's state
        container.remove()


@pytest.fixture
def unexposed(lab, weave, overlay):
    """The article's state before `weave expose`: no address on any host's weave bridge."""
    exposed = [node for node in lab.nodes.values() if weave_ops.bridge_address(node) is not None]
    on_each(exposed, weave.hide, "weave hide")
    return lab


@pytest.fixture
def this_host_unexposed(node, weave, overlay):
    """This host before its `weave expose` (the others may already have been exposed: W5 goes
    through the hosts one by one, each time as the article does it, and W6 then finds all three
    exposed instead of typing `weave expose` again for every test)."""
    if weave_ops.bridge_address(node) is not None:
        weave.hide(node)


@pytest.fixture
def exposed(lab, weave, overlay):
    """`weave expose` on all three hosts (those W5 exposed are not exposed again)."""
    return weave.ensure_exposed(list(lab.nodes.values()))


@claim("W1")
def test_W1_launch_forms_a_full_mesh_of_established_connections(node, weave, overlay, nodes):
    connections = weave.connections(node)
    established = [c for c in connections if c.state == "established"]
    others = {n for n in nodes if n is not node}
    assert sorted(c.address.split(":")[0] for c in established) == sorted(str(n.hostonly_ip) for n in others)
    assert sorted(c.peer_nickname for c in established) == sorted(n.name for n in others)


@claim("W1")
def test_W1_connections_use_fastdp_with_mtu_1376(node, weave, overlay, record_property):
    established = [c for c in weave.connections(node) if c.state == "established"]
    modes = sorted({c.mode for c in established})
    record_property("weave_mode", ",".join(map(str, modes)))
    # The article saw fastdp (kernel Open vSwitch datapath); weave falls back to sleeve without it.
    assert modes == ["fastdp"], f"{node.name}: connections use {modes}, not fastdp"
    assert {c.mtu for c in established} == {1376}


@claim("W2")
def test_W2_router_reports_three_peers_six_connections_and_ipam_ready(node, weave, overlay, weave_containers):
    status = wait.until(lambda: weave.status(node), f"weave status on {node.name} to show IPAM ready",
                        timeout=timeouts().weave_ipam, interval=3,
                        accept=lambda s: s.sections.get("ipam", {}).get("Status") == "ready" and s.peers == 3
                        and s.established_connections == 6)
    assert status.sections["ipam"]["Range"] == "10.32.0.0/12"
    assert status.sections["proxy"]["Address"] == "unix:///var/run/weave/weave.sock"


def test_the_router_endpoint_reports_what_weave_status_prints(u1, weave, overlay):
    """The lab reads weave's state from the router's endpoint, not through the CLI (which starts a
    weaveexec container per call): once per run, the two must print the same text."""
    texts = {}
    for sub in ("", "connections"):
        texts[sub] = wait.until(
            lambda sub=sub: (weave.cli(u1, f"status {sub}").stdout.strip(), weave.report(u1, sub).strip()),
            f"`weave status {sub}` and {weave_ops.STATUS_ENDPOINT}/{sub} to print the same on u1",
            timeout=timeouts().weave_command, interval=5, accept=lambda pair: pair[0] == pair[1] != "")[0]
    assert parse.weave_status(texts[""]).peers == 3
    assert [c.state for c in parse.weave_connections(texts["connections"])].count("established") == 2


@claim("W3")
def test_W3_weave_containers_get_addresses_in_the_ipam_range(node, weave_containers, overlay):
    address = weave_containers[node.name].weave_address()
    assert address is not None and address.ip in overlay, f"{node.name}: ethwe0 has {address}, not in {overlay}"


@claim("W3")
def test_W3_containers_ping_each_other_across_nodes(pair, weave_containers):
    a, b = weave_containers[pair[0].name], weave_containers[pair[1].name]
    target = b.weave_address()
    result = a.ping(target.ip)
    assert result.received == result.transmitted == 3, f"{a} -> {b} ({target.ip}): {result}"


@claim("W4")
def test_W4_before_expose_a_host_has_no_route_into_the_overlay(node, unexposed, overlay):
    assert weave_ops.routes_into(node, overlay) == [], f"{node.name} has a route into {overlay} before expose"


@claim("W4")
def test_W4_before_expose_a_host_cannot_reach_its_own_container(node, unexposed, weave_containers, nodes):
    target = weave_containers[node.name]
    address = target.weave_address().ip
    # Positive control in the same run: the container is up and answers on the overlay.
    neighbour = weave_containers[next(n.name for n in nodes if n is not node)]
    assert neighbour.ping(address).received > 0, f"{target} does not answer on the overlay at all"
    result = host.ping(node, address)
    assert result.received == 0, f"{node.name} reached {target} ({address}) before weave expose: {result}"


@claim("W7")
def test_W7_a_container_reaches_the_hosts_hostonly_addresses_without_expose(node, unexposed, weave_containers, nodes):
    container = weave_containers[node.name]
    for target in nodes:
        result = container.ping(target.hostonly_ip)
        assert result.received == result.transmitted == 3, f"{container} -> {target.name}: {result}"


@claim("W5")
def test_W5_expose_gives_the_bridge_an_address_and_a_route_and_the_host_reaches_its_container(
        node, this_host_unexposed, weave, weave_containers, overlay):
    assert host.ping(node, weave_containers[node.name].weave_address().ip).received == 0  # the "before"
    printed = weave.expose(node)
    bridge = weave_ops.bridge_address(node)
    assert bridge is not None and bridge.ip == printed and printed in overlay
    routes = weave_ops.routes_into(node, overlay)
    assert [(r.dst, r.dev) for r in routes] == [(overlay, "weave")], routes
    result = host.ping(node, weave_containers[node.name].weave_address().ip)
    assert result.received == result.transmitted == 3, f"{node.name} -> its container after expose: {result}"


@claim("W6")
def test_W6_after_expose_everywhere_every_host_reaches_every_container(pair, exposed, weave_containers):
    source, target_node = pair
    target = weave_containers[target_node.name]
    result = host.ping(source, target.weave_address().ip)
    assert result.received == result.transmitted == 3, f"host {source.name} -> {target}: {result}"


@claim("W6")
def test_W6_after_expose_every_host_reaches_its_own_container(node, exposed, weave_containers):
    result = host.ping(node, weave_containers[node.name].weave_address().ip)
    assert result.received == result.transmitted == 3, f"host {node.name} -> own container: {result}"
