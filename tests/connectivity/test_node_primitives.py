"""The helpers the claims rest on, pinned on the real primitives of a lab node (no weave needed)."""
import ipaddress
import uuid

import pytest

from lab import wait
from lab.stack import docker, docker_networks, host
from lab.stack import weave as weave_ops

TEST_BRIDGE = "nwl-test"
# TEST-NET-1: no lab network, route or claim uses it, and the bridge stays down (no route appears).
TEST_ADDRESS = ipaddress.IPv4Interface("192.0.2.1/24")
# A Docker network of the test's own, standing in for weave's (`weave reset` cannot remove that
# one while anything is attached); no weave needed.
TEST_NETWORK = "nwl-test-net"


@pytest.fixture
def address_less_bridge(u1):
    """A bridge with no IPv4 address, as `weave launch` leaves the weave bridge before `weave expose`."""
    u1.run(f"ip link del {TEST_BRIDGE} 2>/dev/null; ip link add {TEST_BRIDGE} type bridge")
    yield TEST_BRIDGE
    u1.run(f"ip link del {TEST_BRIDGE}", check=False)


def test_a_bridge_without_an_address_reads_as_no_address(u1, address_less_bridge):
    # The premise: iproute2's -4 filter drops the link, so `ip -4 addr show dev` prints nothing.
    filtered = u1.run(f"ip -4 addr show dev {address_less_bridge}")
    assert (filtered.exit_status, filtered.stdout) == (0, "")
    assert host.device_addresses(u1, address_less_bridge) == []
    assert weave_ops.bridge_address(u1, address_less_bridge) is None
    # Positive control: the same helpers see an address once there is one.
    u1.run(f"ip addr add {TEST_ADDRESS} dev {address_less_bridge}")
    assert host.device_addresses(u1, address_less_bridge) == [TEST_ADDRESS]
    assert weave_ops.bridge_address(u1, address_less_bridge) == TEST_ADDRESS


def test_a_missing_device_reads_as_none(u1):
    assert host.device_addresses(u1, "nwl-absent") is None
    assert weave_ops.bridge_address(u1, "nwl-absent") is None


@pytest.fixture
def busy_network(u1):
    """A Docker network with a lab test container left on it (as after a failed check) and another
    container that ends by itself a few seconds later (as a job's task within its kill timeout).
    Names of its own: xdist may run the tests that use it at the same time."""
    suffix = uuid.uuid4().hex[:6]
    network, left, ending = f"{TEST_NETWORK}-{suffix}", f"nwl-left-behind-{suffix}", f"task-ending-{suffix}"
    u1.run(f"docker network create {network} >/dev/null")
    docker.start(u1, left, net=network)
    docker.start(u1, ending, net=network, command=("sleep", "30"))
    yield network, left, ending
    u1.run(f"docker rm -f {left} {ending}; docker network rm {network}", check=False)


def test_emptying_a_network_removes_the_labs_containers_and_awaits_the_others(u1, busy_network):
    network, left, ending = busy_network
    # Positive control: both containers are seen attached before.
    assert sorted(docker_networks.attached_containers(u1, network)) == sorted([left, ending])
    docker_networks.empty(u1, network, timeout=120, why="test")
    assert docker_networks.attached_containers(u1, network) == []
    # The other container was awaited, not removed: it ended by itself.
    exited = u1.run(f"docker inspect -f '{{{{.State.Status}}}} {{{{.State.ExitCode}}}}' {ending}").stdout.split()
    assert exited == ["exited", "0"]


def test_emptying_a_network_that_keeps_a_container_names_it(u1, busy_network):
    network, _, ending = busy_network
    stays = ending.replace("task-ending", "stays")
    docker.start(u1, stays, net=network)
    try:
        with pytest.raises(wait.WaitTimeout, match=stays):
            docker_networks.empty(u1, network, timeout=5, why="test")
    finally:
        u1.run(f"docker rm -f {stays}", check=False)


def test_a_missing_network_reads_as_none(u1):
    assert docker_networks.attached_containers(u1, "nwl-absent-net") is None


def test_a_container_that_stopped_is_reported_gone_not_unreachable(u1):
    """The container helpers ask Docker whether a container runs only when an exec failed; a
    stopped container must still read as gone, never as a ping that was lost."""
    container = docker.start(u1, f"nwl-stops-{uuid.uuid4().hex[:6]}")
    try:
        # Positive control: while it runs, the same helpers answer.
        assert container.ping("127.0.0.1", count=1).received == 1
        assert container.addresses()["lo"] == [ipaddress.IPv4Interface("127.0.0.1/8")]
        u1.run(f"docker stop -t 0 {container.name}")
        with pytest.raises(docker.ContainerGone, match="is not running"):
            container.ping("127.0.0.1", count=1)
        with pytest.raises(docker.ContainerGone, match="is not running"):
            container.addresses()
    finally:
        container.remove()
