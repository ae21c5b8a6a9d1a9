"""Article section 1: three VMs u1/u2/u3 on a host-only network plus a NAT network, Docker on each."""
from lab.claims import claim
from lab.stack import docker, host


@claim("L1")
def test_L1_node_is_named_as_in_the_article(node):
    assert host.hostname(node) == node.name


@claim("L1")
def test_L1_hosts_file_maps_every_node_to_its_hostonly_address(pair):
    a, b = pair
    assert host.hosts_file(a).get(b.name) == b.hostonly_ip
    assert host.resolve(a, b.name) == [b.hostonly_ip]


@claim("L1")
def test_L1_nodes_reach_each_other_on_the_hostonly_network(pair):
    a, b = pair
    assert host.interface_of(a, a.hostonly_ip), f"{a.name} has no interface with {a.hostonly_ip}"
    result = host.ping(a, b.hostonly_ip)
    assert result.transmitted == 3 and result.received == 3, f"{a.name} -> {b.name}: {result}"


@claim("L2")
def test_L2_default_route_goes_through_the_nat_network(node, lab):
    nat_interface = host.interface_of(node, node.nat_ip)
    assert nat_interface, f"{node.name} has no interface with its NAT address {node.nat_ip}"
    route = host.default_route(node)
    assert route is not None, f"{node.name} has no default route"
    assert (route.via, route.dev) == (lab.topology.nat_gateway, nat_interface)


@claim("L2")
def test_L2_nat_gateway_answers(node, lab):
    # The gateway is the lab's own (on libvirt: the host's isolated bridge). Nothing beyond it
    # is tried: lab traffic must not leave the machine.
    result = host.ping(node, lab.topology.nat_gateway)
    assert result.received == result.transmitted == 3, f"{node.name} -> gateway: {result}"


@claim("L3")
def test_L3_docker_engine_is_running(node):
    assert node.host.service("docker").is_running
    assert docker.server_version(node)


@claim("L3")
def test_L3_docker_runs_a_container(node):
    greeting = f"hello from a container on {node.name}"
    result = docker.run_once(node, docker.BUSYBOX, "echo", greeting)
    assert result.stdout.strip() == greeting
