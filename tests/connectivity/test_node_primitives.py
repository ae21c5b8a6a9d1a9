"""The helpers the claims rest on, pinned on the real primitives of a lab node (no weave needed)."""
import ipaddress

import pytest

from lab.stack import host
from lab.stack import weave as weave_ops

TEST_BRIDGE = "nwl-test"
# TEST-NET-1: no lab network, route or claim uses it, and the bridge stays down (no route appears).
TEST_ADDRESS = ipaddress.IPv4Interface("192.0.2.1/24")


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
