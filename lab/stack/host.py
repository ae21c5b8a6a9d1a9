"""A node's own networking: reachability, name resolution, addresses, routes."""
from __future__ import annotations

import ipaddress
import shlex

from lab import parse, recorder
from lab.node import Node


def ping(node: Node, address, count: int = 3, timeout_s: int = 2) -> parse.PingResult:
    """`ping -c COUNT ADDRESS` from the node; a ping that gets no answer is a result, not an error."""
    result = node.run(f"ping -n -c {count} -W {timeout_s} {shlex.quote(str(address))}", check=False)
    return parse.ping(recorder.record("ping", result).stdout)


def resolve(node: Node, name: str) -> list[ipaddress.IPv4Address]:
    """Addresses `getent hosts NAME` gives on the node (files, then DNS, as nsswitch says)."""
    result = node.run(f"getent ahostsv4 {shlex.quote(name)}", check=False)
    seen: list[ipaddress.IPv4Address] = []
    for line in result.stdout.splitlines():
        address = ipaddress.IPv4Address(line.split()[0])
        if address not in seen:
            seen.append(address)
    return seen


def hosts_file(node: Node) -> dict[str, ipaddress.IPv4Address]:
    """Name -> address as written in the node's /etc/hosts (first entry wins, as the resolver does)."""
    mapping: dict[str, ipaddress.IPv4Address] = {}
    for line in node.host.file("/etc/hosts").content_string.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = ipaddress.IPv4Address(fields[0])
        except ValueError:
            continue
        for name in fields[1:]:
            mapping.setdefault(name, address)
    return mapping


def hostname(node: Node) -> str:
    return node.run("hostname").stdout.strip()


def addresses(node: Node) -> dict[str, list[ipaddress.IPv4Interface]]:
    return parse.ip_addrs(recorder.record("ip_addrs", node.run("ip -4 addr")).stdout)


def device_addresses(node: Node, device: str) -> list[ipaddress.IPv4Interface] | None:
    """IPv4 addresses of one device ([] when it has none), or None when there is no such device.

    Read without `-4`: iproute2's `-4` filter drops a link that has no IPv4 address, so
    `ip -4 addr show dev X` prints nothing at all (and exits 0) for an address-less bridge."""
    result = node.run(f"ip addr show dev {shlex.quote(device)}", check=False)
    if not result.ok:
        return None
    return parse.ip_addrs(recorder.record("ip_addrs_device", result).stdout).get(device, [])


def interface_of(node: Node, address) -> str | None:
    address = ipaddress.IPv4Address(str(address))
    for name, interfaces in addresses(node).items():
        if any(i.ip == address for i in interfaces):
            return name
    return None


def routes(node: Node) -> list[parse.Route]:
    return parse.routes(recorder.record("routes", node.run("ip -4 route")).stdout)


def default_route(node: Node) -> parse.Route | None:
    """The default route the kernel prefers (the first listed: lowest metric)."""
    return next((r for r in routes(node) if r.is_default), None)
