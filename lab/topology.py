"""The lab's topology: load `topology.yaml`, validate it, and answer questions about it.

This is the only Python module that knows addresses. The Vagrantfile reads the same file.
Every problem is reported as a `TopologyError` naming the offending field, before any VM starts.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lab import article
from lab.inputs import QUOTED_CHARS, TOP, Fields, InputError, parse_yaml, quoted, read_text
from lab.printable import printable

DEFAULT_PATH = Path(__file__).with_name("topology.yaml")
NODE_COUNT = len(article.NODES)
PROVIDERS = ("virtualbox", "libvirt")
LIBVIRT_DRIVERS = ("auto", "kvm", "qemu")
# VirtualBox >= 6.1.28 refuses host-only addresses outside this range unless
# /etc/vbox/networks.conf allows more.
VIRTUALBOX_HOSTONLY_RANGE = ipaddress.IPv4Network("192.168.56.0/21")
NETWORK_ROLES = ("management", "hostonly", "nat")
# Linux limits an interface name to 15 characters (IFNAMSIZ, 16 with the terminating NUL).
IFNAME_MAX = 15
# libvirt hands the management network's addresses out by DHCP from its 10th host on.
DHCP_FIRST_HOST = 9
# A lab network lives in a private range (RFC 1918): anywhere else it would hide real hosts.
PRIVATE_RANGES = tuple(map(ipaddress.IPv4Network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")))
# Ranges no host network can use, named for the message.
SPECIAL_RANGES = tuple((ipaddress.IPv4Network(cidr), what) for cidr, what in (
    ("0.0.0.0/8", "'this network' (0.0.0.0/8), which no host can be given"),
    ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
    ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
    ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4, up to the broadcast address 255.255.255.255)"),
))
# Per VM. The stack with the article's job uses about 450 MiB of a guest (topology.yaml); the
# upper bounds only stop absurd values early: what the host has is checked before bring-up (lab.host_fit).
MIN_MEMORY_MB = 512
MAX_MEMORY_MB = 256 * 1024
MAX_CPUS = 64

_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_BOX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?")
_VERSION_CONSTRAINT = r"(?:[<>=!~]{1,2} ?)?[0-9][0-9A-Za-z.+-]{0,40}"
_BOX_VERSION = re.compile(rf"{_VERSION_CONSTRAINT}(?:, ?{_VERSION_CONSTRAINT}){{0,3}}")
_TOP_KEYS = {"name", "networks", "nodes", "resources", "providers"}
_NETWORK_KEYS = {"hostonly": {"cidr"}, "nat": {"cidr", "gateway"}, "management": {"cidr"}}
_NODE_KEYS = {"name", "hostonly_ip", "nat_ip"}
_RESOURCE_KEYS = {"cpus", "memory_mb"}
_PROVIDER_KEYS = {"virtualbox": {"box", "box_version"}, "libvirt": {"box", "driver"}}


class TopologyError(InputError):
    """The topology file is unusable; the message says where and why."""


def bridge_name(lab_name: str, role: str) -> str:
    """The Linux bridge of one of the lab's libvirt networks (`nwl-mana`, `nwl-host`, `nwl-nat`)."""
    return f"{lab_name}-{role[:4]}"


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
    # sha256 of the text validated: the Vagrantfile refuses a file that is not this one.
    digest: str = ""

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise TopologyError(
            f"{self.path}: nodes: there is no node {quoted(name)} (nodes: {', '.join(self.node_names)})")

    def network(self, role: str) -> ipaddress.IPv4Network:
        return {"management": self.management, "hostonly": self.hostonly, "nat": self.nat}[role]

    def host_address(self, role: str) -> ipaddress.IPv4Address:
        """The host's own address on a lab network: the NAT gateway, else the network's first host."""
        return self.nat_gateway if role == "nat" else next(self.network(role).hosts())

    def dhcp_range(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        hosts = list(self.management.hosts())
        return hosts[DHCP_FIRST_HOST], hosts[-1]

    def ordered_pairs(self) -> list[tuple[Node, Node]]:
        return [(a, b) for a in self.nodes for b in self.nodes if a != b]

    def resource(self, suffix: str) -> str:
        """Name of a lab-owned resource (`nwl-hostonly`, ...): the reaper matches the prefix."""
        return f"{self.name}-{suffix}"

    def require_provider(self, provider: str) -> dict[str, str]:
        """Checks that apply to one provider; returns its settings."""
        if provider not in PROVIDERS:
            raise TopologyError(f"unknown provider {quoted(provider)}: use one of {', '.join(PROVIDERS)}")
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
    text = read_text(path, "topology", TopologyError, variable="LAB_TOPOLOGY")
    topo = parse(parse_yaml(text, path, TopologyError), path)
    return replace(topo, digest=hashlib.sha256(text.encode()).hexdigest())


def parse(raw: Any, path: Path = DEFAULT_PATH) -> Topology:
    v = _Validator(path, TopologyError)
    top = v.mapping(raw, TOP, _TOP_KEYS)
    name = v.string(top, "name", "name")
    if not _NAME.fullmatch(name):
        v.fail("name", f"{quoted(name)} must be lower-case letters, digits and dashes, starting with a letter")
    longest = max((bridge_name(name, role) for role in NETWORK_ROLES), key=len)
    if len(longest) > IFNAME_MAX:
        v.fail("name", f"{name!r} is too long: the lab's bridge {longest} would have {len(longest)} characters, "
                       f"and Linux allows {IFNAME_MAX} (use at most {IFNAME_MAX - len(longest) + len(name)})")

    nets = v.mapping(top.get("networks"), "networks", set(_NETWORK_KEYS))
    sections = {key: v.mapping(nets.get(key), f"networks.{key}", keys) for key, keys in _NETWORK_KEYS.items()}
    hostonly = v.network(sections["hostonly"], "networks.hostonly.cidr")
    nat = v.network(sections["nat"], "networks.nat.cidr")
    management = v.network(sections["management"], "networks.management.cidr")
    if len(list(management.hosts())) <= DHCP_FIRST_HOST:
        v.fail("networks.management.cidr", f"{management} is too small: libvirt's DHCP range on it starts at "
                                           f"its host number {DHCP_FIRST_HOST + 1}")
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
        if not _NAME.fullmatch(node_name):
            v.fail(f"{where}.name",
                   f"{quoted(node_name)} is not a valid host name (lower-case letters, digits, dashes)")
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
        if node.hostonly_ip == next(hostonly.hosts()):
            v.fail(f"{where}.hostonly_ip", f"{node.hostonly_ip} is the host's own address on networks.hostonly "
                                           "(the host side takes the network's first address)")
        nodes.append(node)
    names = [n.name for n in nodes]
    if sorted(names) != sorted(article.NODES):
        v.fail("nodes", f"the claims and their fixtures need the nodes {', '.join(article.NODES)}; "
                        f"got {', '.join(names)}")

    resources = v.mapping(top.get("resources"), "resources", _RESOURCE_KEYS)
    cpus = v.bounded_int(resources.get("cpus"), "resources.cpus", 1, MAX_CPUS, "vCPUs per VM")
    memory_mb = v.bounded_int(resources.get("memory_mb"), "resources.memory_mb", MIN_MEMORY_MB, MAX_MEMORY_MB,
                              "MiB per VM")

    providers_raw = v.mapping(top.get("providers"), "providers", set(PROVIDERS))
    providers: dict[str, dict[str, str]] = {}
    for provider, settings in providers_raw.items():
        entry = v.mapping(settings, f"providers.{provider}", _PROVIDER_KEYS[provider])
        providers[provider] = {k: v.string(entry, k, f"providers.{provider}.{k}") for k in entry}
        if "box" not in entry:
            v.fail(f"providers.{provider}.box", "is required")
        # Both go to Vagrant (and its Vagrantfile, box names into commands): only the forms Vagrant knows.
        v.text(providers[provider]["box"], f"providers.{provider}.box", _BOX, "a box name (owner/name)")
        if "box_version" in entry:
            v.text(providers[provider]["box_version"], f"providers.{provider}.box_version", _BOX_VERSION,
                   "a box version or constraint (like 202401.31.0 or >= 12, < 13)")
    driver = providers.get("libvirt", {}).get("driver", "auto")
    if driver not in LIBVIRT_DRIVERS:
        v.fail("providers.libvirt.driver", f"{quoted(driver)} is not one of {', '.join(LIBVIRT_DRIVERS)}")

    return Topology(name, hostonly, nat, gateway, management, tuple(nodes), cpus, memory_mb, providers, path)


def _pairs(items):
    return [(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items))]


class _Validator(Fields):
    """The topology's own checks: values looked up by key, networks and addresses."""

    def string(self, entry: dict, key: str, where: str) -> str:
        value = entry.get(key)
        if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
            self.fail(where, "is required and must be a string")
        return str(value)


    def bounded_int(self, value: Any, where: str, low: int, high: int, unit: str) -> int:
        number = self.positive_int(value, where)
        if not low <= number <= high:
            self.fail(where, f"{number} is outside {low}..{high} {unit}")
        return number

    def network(self, entry: dict, where: str) -> ipaddress.IPv4Network:
        """Only `a.b.c.d/len` with the network's own address: the Vagrantfile takes what follows
        the `/` as the prefix length, so a netmask, a hostmask or host bits would be misread there."""
        text = self.string(entry, "cidr", where)
        try:
            net = ipaddress.IPv4Network(text, strict=False)
        except ValueError as e:
            self.fail(where, f"{quoted(text)} is not an IPv4 network ({printable(str(e), QUOTED_CHARS)})")
        if str(net) != text:
            self.fail(where, f"{quoted(text)} is not written as a.b.c.d/len with the network's own address: "
                             f"write {net}")
        for special, what in SPECIAL_RANGES:
            if net.overlaps(special):
                self.fail(where, f"{net} overlaps {what}")
        if not any(net.subnet_of(private) for private in PRIVATE_RANGES):
            self.fail(where, f"{net} is not inside a private range ({', '.join(map(str, PRIVATE_RANGES))}): "
                             "a lab network elsewhere would hide real hosts from this machine")
        if net.prefixlen > 29:
            self.fail(where, f"{net} is too small for a lab network")
        return net

    def address(self, entry: dict, key: str, where: str, network: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
        text = self.string(entry, key, where)
        try:
            ip = ipaddress.IPv4Address(text)
        except ValueError:
            self.fail(where, f"{quoted(text)} is not an IPv4 address")
        if ip not in network:
            self.fail(where, f"{ip} is outside its network {network}")
        if ip in (network.network_address, network.broadcast_address):
            self.fail(where, f"{ip} is the network or broadcast address of {network}")
        return ip
