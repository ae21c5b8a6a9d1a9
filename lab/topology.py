"""The lab's topology: load `topology.yaml`, validate it, and answer questions about it.

This is the only Python module that knows addresses. The Vagrantfile reads the same file.
Every problem is reported as a `TopologyError` naming the offending field, before any VM starts.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import article

DEFAULT_PATH = Path(__file__).with_name("topology.yaml")
NODE_COUNT = 3
PROVIDERS = ("virtualbox", "libvirt")
LIBVIRT_DRIVERS = ("auto", "kvm", "qemu")
# VirtualBox >= 6.1.28 refuses host-only addresses outside this range unless
# /etc/vbox/networks.conf allows more.
VIRTUALBOX_HOSTONLY_RANGE = ipaddress.IPv4Network("192.168.56.0/21")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_TOP_KEYS = {"name", "networks", "nodes", "resources", "providers"}
_NETWORK_KEYS = {"hostonly": {"cidr"}, "nat": {"cidr", "gateway"}, "management": {"cidr"}}
_NODE_KEYS = {"name", "hostonly_ip", "nat_ip"}
_RESOURCE_KEYS = {"cpus", "memory_mb"}
_PROVIDER_KEYS = {"virtualbox": {"box", "box_version"}, "libvirt": {"box", "driver"}}


class TopologyError(ValueError):
    """The topology file is unusable; the message says where and why."""


@dataclass(frozen=True)
class Node:
    name: str
    hostonly_ip: ipaddress.IPv4Address
    nat_ip: ipaddress.IPv4Address


@dataclass(frozen=True)
class Topology:
    name: str
    hostonly: ipaddress.IPv4Network
    nat: ipaddress.IPv4Network
    nat_gateway: ipaddress.IPv4Address
    management: ipaddress.IPv4Network
    nodes: tuple[Node, ...]
    cpus: int
    memory_mb: int
    providers: dict[str, dict[str, str]]
    path: Path

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in topology {self.path} (nodes: {', '.join(self.node_names)})")

    def ordered_pairs(self) -> list[tuple[Node, Node]]:
        return [(a, b) for a in self.nodes for b in self.nodes if a != b]

    def resource(self, suffix: str) -> str:
        """Name of a lab-owned resource (`nwl-hostonly`, ...): the reaper matches the prefix."""
        return f"{self.name}-{suffix}"

    def require_provider(self, provider: str) -> dict[str, str]:
        """Checks that apply to one provider; returns its settings."""
        if provider not in PROVIDERS:
            raise TopologyError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")
        if provider not in self.providers:
            raise TopologyError(f"{self.path}: providers.{provider} is not configured")
        if provider == "virtualbox" and not self.hostonly.subnet_of(VIRTUALBOX_HOSTONLY_RANGE):
            raise TopologyError(
                f"{self.path}: networks.hostonly.cidr {self.hostonly} is outside {VIRTUALBOX_HOSTONLY_RANGE}, "
                "which VirtualBox >= 6.1.28 refuses unless /etc/vbox/networks.conf allows it"
            )
        return self.providers[provider]


def load(path: str | os.PathLike[str] | None = None) -> Topology:
    path = Path(path or os.environ.get("LAB_TOPOLOGY") or DEFAULT_PATH)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise TopologyError(f"cannot read topology {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        raise TopologyError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return parse(raw, path)


def parse(raw: Any, path: Path = DEFAULT_PATH) -> Topology:
    v = _Validator(path)
    top = v.mapping(raw, "the file", _TOP_KEYS)
    name = v.string(top, "name", "name")
    if not _NAME.match(name):
        v.fail("name", f"{name!r} must be lower-case letters, digits and dashes, starting with a letter")

    nets = v.mapping(top.get("networks"), "networks", set(_NETWORK_KEYS))
    sections = {key: v.mapping(nets.get(key), f"networks.{key}", keys) for key, keys in _NETWORK_KEYS.items()}
    hostonly = v.network(sections["hostonly"], "networks.hostonly.cidr")
    nat = v.network(sections["nat"], "networks.nat.cidr")
    management = v.network(sections["management"], "networks.management.cidr")
    for (a_name, a), (b_name, b) in _pairs([("hostonly", hostonly), ("nat", nat), ("management", management)]):
        if a.overlaps(b):
            v.fail(f"networks.{b_name}.cidr", f"{b} overlaps networks.{a_name} ({a})")
    for net_name, net in (("hostonly", hostonly), ("nat", nat), ("management", management)):
        for taken, what in ((article.WEAVE_RANGE, "weave's IPAM range"), (article.DOCKER_BRIDGE, "docker's bridge")):
            if net.overlaps(taken):
                v.fail(f"networks.{net_name}.cidr", f"{net} overlaps {what} {taken}, which the claims use")
    gateway = v.address(sections["nat"], "gateway", "networks.nat.gateway", nat)

    raw_nodes = top.get("nodes")
    if not isinstance(raw_nodes, list) or len(raw_nodes) != NODE_COUNT:
        v.fail("nodes", f"must be a list of {NODE_COUNT} nodes: the article's claims are about three")
    nodes: list[Node] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(raw_nodes):
        where = f"nodes[{i}]"
        entry = v.mapping(item, where, _NODE_KEYS)
        node_name = v.string(entry, "name", f"{where}.name")
        if not _NAME.match(node_name):
            v.fail(f"{where}.name", f"{node_name!r} is not a valid host name (lower-case letters, digits, dashes)")
        node = Node(
            node_name,
            v.address(entry, "hostonly_ip", f"{where}.hostonly_ip", hostonly),
            v.address(entry, "nat_ip", f"{where}.nat_ip", nat),
        )
        for key, value in (("name", node.name), ("hostonly_ip", str(node.hostonly_ip)), ("nat_ip", str(node.nat_ip))):
            if (key, value) in seen:
                v.fail(f"{where}.{key}", f"duplicate {value} (already used by {seen[(key, value)]})")
            seen[(key, value)] = where
        if node.nat_ip == gateway:
            v.fail(f"{where}.nat_ip", f"{node.nat_ip} is the NAT network's gateway")
        nodes.append(node)

    resources = v.mapping(top.get("resources"), "resources", _RESOURCE_KEYS)
    cpus = v.positive_int(resources, "cpus", "resources.cpus")
    memory_mb = v.positive_int(resources, "memory_mb", "resources.memory_mb")

    providers_raw = v.mapping(top.get("providers"), "providers", set(PROVIDERS))
    providers: dict[str, dict[str, str]] = {}
    for provider, settings in providers_raw.items():
        entry = v.mapping(settings, f"providers.{provider}", _PROVIDER_KEYS[provider])
        providers[provider] = {k: v.string(entry, k, f"providers.{provider}.{k}") for k in entry}
        if "box" not in entry:
            v.fail(f"providers.{provider}.box", "is required")
    driver = providers.get("libvirt", {}).get("driver", "auto")
    if driver not in LIBVIRT_DRIVERS:
        v.fail("providers.libvirt.driver", f"{driver!r} is not one of {', '.join(LIBVIRT_DRIVERS)}")

    return Topology(name, hostonly, nat, gateway, management, tuple(nodes), cpus, memory_mb, providers, path)


def _pairs(items):
    return [(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items))]


class _Validator:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, field: str, problem: str):
        raise TopologyError(f"{self.path}: {field}: {problem}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {type(value).__name__}")
        unknown = sorted(set(map(str, value)) - allowed)
        if unknown:
            self.fail(where, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
        return value

    def string(self, entry: dict, key: str, where: str) -> str:
        value = entry.get(key)
        if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
            self.fail(where, "is required and must be a string")
        return str(value)

    def positive_int(self, entry: dict, key: str, where: str) -> int:
        value = entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self.fail(where, f"must be a positive integer, got {value!r}")
        return value

    def network(self, entry: dict, where: str) -> ipaddress.IPv4Network:
        text = self.string(entry, "cidr", where)
        try:
            net = ipaddress.IPv4Network(text)
        except ValueError as e:
            self.fail(where, f"{text!r} is not an IPv4 network ({e})")
        if net.prefixlen > 29:
            self.fail(where, f"{net} is too small for a lab network")
        return net

    def address(self, entry: dict, key: str, where: str, network: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
        text = self.string(entry, key, where)
        try:
            ip = ipaddress.IPv4Address(text)
        except ValueError:
            self.fail(where, f"{text!r} is not an IPv4 address")
        if ip not in network:
            self.fail(where, f"{ip} is outside its network {network}")
        if ip in (network.network_address, network.broadcast_address):
            self.fail(where, f"{ip} is the network or broadcast address of {network}")
        return ip
