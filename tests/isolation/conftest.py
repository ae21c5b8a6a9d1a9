"""Section 5's weave: a 10.32.0.0/16 range split into subnets, default subnet 10.32.0.0/24.

The run leaves weave in this state: a later run (or `-k W`) finds another range and resets and
relaunches section 2's overlay itself (tests/conftest.py's `overlay`), so relaunching it here at
the end of every run would cost a reset and a launch on three emulated nodes for nothing."""
import pytest

from lab.article import DEFAULT_SUBNET, ISOLATION_RANGE


@pytest.fixture(scope="module")
def subnet_overlay(lab, weave):
    """`weave reset`, then `weave launch --no-dns --ipalloc-range 10.32.0.0/16
    --ipalloc-default-subnet 10.32.0.0/24 <peers>` and `weave expose` on every node."""
    nodes = list(lab.nodes.values())
    ready = all(weave.is_running(n) and _ipam(weave, n) == (str(ISOLATION_RANGE), str(DEFAULT_SUBNET)) for n in nodes)
    if not ready:
        weave.reset_all(nodes)
        weave.launch_mesh(nodes, ipalloc_range=ISOLATION_RANGE, default_subnet=DEFAULT_SUBNET)
    weave.ensure_exposed(nodes)
    return ISOLATION_RANGE


def _ipam(weave, node) -> tuple[str | None, str | None]:
    ipam = weave.status(node).sections.get("ipam", {})
    return ipam.get("Range"), ipam.get("DefaultSubnet")
