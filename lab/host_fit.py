"""Does the topology fit this host? Its networks against the host's routes, its VMs against the
host's CPUs and memory. Read-only (/proc), and checked before anything touches the host.

A lab network that overlaps a route of the host would shadow those addresses (or libvirt would
refuse to start it half-way through `prepare`). Routes on the lab's own bridges are the lab's,
so `up` on a lab that is up passes; so do VirtualBox's host-only interfaces on the host-only
network, which Vagrant reuses for it.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from lab.topology import NETWORK_ROLES, Topology, TopologyError, bridge_name

ROUTE_TABLE = Path("/proc/net/route")
MEMINFO = Path("/proc/meminfo")
_RTF_UP = 0x1


@dataclass(frozen=True)
class Route:
    device: str
    network: ipaddress.IPv4Network


def routes(table: Path | None = None) -> list[Route]:
    """The host's IPv4 routes of its main table, but the default route (it overlaps everything)."""
    try:
        lines = (table or ROUTE_TABLE).read_text().splitlines()[1:]
    except OSError:
        return []  # not Linux, or no /proc: nothing to compare with
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        device, destination, flags, mask = fields[0], fields[1], fields[3], fields[7]
        if not int(flags, 16) & _RTF_UP or int(mask, 16) == 0:
            continue
        # The kernel prints the addresses as host-order (little-endian) hex.
        address = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(destination), "little"))
        netmask = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(mask), "little"))
        found.append(Route(device, ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)))
    return found


def _is_the_labs(route: Route, topo: Topology, role: str, provider: str) -> bool:
    if route.network != topo.network(role):
        return False
    if route.device == bridge_name(topo.name, role):
        return True
    return provider == "virtualbox" and role == "hostonly" and route.device.startswith("vboxnet")


def check_routes(topo: Topology, provider: str, host_routes: list[Route]) -> None:
    for role in NETWORK_ROLES:
        if role == "management" and provider != "libvirt":
            continue  # only libvirt makes that network
        net = topo.network(role)
        for route in host_routes:
            if net.overlaps(route.network) and not _is_the_labs(route, topo, role, provider):
                raise TopologyError(
                    f"{topo.path}: networks.{role}.cidr: {net} overlaps this host's route to {route.network} "
                    f"on {route.device}: choose a range this host does not use (`ip route` lists them)")


def memory_mib(meminfo: Path | None = None) -> int | None:
    try:
        for line in (meminfo or MEMINFO).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_resources(topo: Topology, host_cpus: int | None, host_memory_mib: int | None) -> None:
    if host_cpus and topo.cpus > host_cpus:
        raise TopologyError(f"{topo.path}: resources.cpus: {topo.cpus} vCPUs per VM, and this host has "
                            f"{host_cpus} CPU(s): a VM gets at most as many as the host has")
    total = topo.memory_mb * len(topo.nodes)
    if host_memory_mib and total > host_memory_mib:
        raise TopologyError(f"{topo.path}: resources.memory_mb: {len(topo.nodes)} VMs of {topo.memory_mb} MiB "
                            f"need {total} MiB, and this host has {host_memory_mib} MiB")


def check(topo: Topology, provider: str) -> None:
    """Refuse a topology this host cannot run (TopologyError): before `prepare` changes anything."""
    check_routes(topo, provider, routes())
    check_resources(topo, os.cpu_count(), memory_mib())
