"""Bad topology input fails with a clear message before any VM starts."""
import copy
import ipaddress
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from lab import topology
from lab.libvirt_host import LibvirtHost
from lab.topology import TopologyError

SHIPPED = yaml.safe_load(topology.DEFAULT_PATH.read_text())


def variant(change) -> dict:
    raw = copy.deepcopy(SHIPPED)
    change(raw)
    return raw


def test_shipped_topology_is_the_articles():
    topo = topology.load()
    assert topo.node_names == ["u1", "u2", "u3"]
    assert [str(n.hostonly_ip) for n in topo.nodes] == ["192.168.56.3", "192.168.56.4", "192.168.56.5"]
    assert topo.hostonly == ipaddress.IPv4Network("192.168.56.0/24")
    assert len(topo.ordered_pairs()) == 6
    for provider in topology.PROVIDERS:
        topo.require_provider(provider)


BAD = {
    "duplicate name": (lambda r: r["nodes"][1].update(name="u1"), "nodes[1].name: duplicate u1"),
    "duplicate hostonly ip": (
        lambda r: r["nodes"][2].update(hostonly_ip="192.168.56.3"),
        "nodes[2].hostonly_ip: duplicate 192.168.56.3 (already used by nodes[0])",
    ),
    "duplicate nat ip": (lambda r: r["nodes"][1].update(nat_ip="10.0.3.15"), "nodes[1].nat_ip: duplicate 10.0.3.15"),
    "ip outside its subnet": (
        lambda r: r["nodes"][0].update(hostonly_ip="192.168.57.3"),
        "nodes[0].hostonly_ip: 192.168.57.3 is outside its network 192.168.56.0/24",
    ),
    "gateway outside nat network": (
        lambda r: r["networks"]["nat"].update(gateway="10.0.4.1"),
        "networks.nat.gateway: 10.0.4.1 is outside its network 10.0.3.0/24",
    ),
    "node on the gateway": (lambda r: r["nodes"][0].update(nat_ip="10.0.3.1"), "is the NAT network's gateway"),
    "network address as node": (
        lambda r: r["nodes"][0].update(hostonly_ip="192.168.56.0"),
        "is the network or broadcast address",
    ),
    "overlapping networks": (
        lambda r: r["networks"]["management"].update(cidr="192.168.56.128/25"),
        "networks.management.cidr: 192.168.56.128/25 overlaps networks.hostonly",
    ),
    "unknown provider in file": (
        lambda r: r["providers"].update(parallels={"box": "x"}),
        "providers: unknown key(s) parallels",
    ),
    "typo in a key": (lambda r: r["nodes"][0].update(hostonly_pi="1.2.3.4"), "nodes[0]: unknown key(s) hostonly_pi"),
    "not an address": (lambda r: r["nodes"][0].update(nat_ip="ten"), "nodes[0].nat_ip: 'ten' is not an IPv4 address"),
    "bad libvirt driver": (
        lambda r: r["providers"]["libvirt"].update(driver="xen"),
        "providers.libvirt.driver: 'xen' is not one of auto, kvm, qemu",
    ),
    "no nodes": (lambda r: r.update(nodes=[]), "nodes: must be a list of 3 nodes"),
    "four nodes": (lambda r: r["nodes"].append({"name": "u4", "hostonly_ip": "192.168.56.6", "nat_ip": "10.0.3.18"}),
                   "nodes: must be a list of 3 nodes: the article's claims are about three"),
    "network on weave's range": (lambda r: r["networks"]["management"].update(cidr="10.40.0.0/24"),
                                 "networks.management.cidr: 10.40.0.0/24 overlaps weave's IPAM range 10.32.0.0/12"),
    "network on docker's bridge": (lambda r: r["networks"]["management"].update(cidr="172.17.5.0/24"),
                                   "overlaps docker's bridge 172.17.0.0/16"),
    "zero memory": (lambda r: r["resources"].update(memory_mb=0), "resources.memory_mb: must be a positive integer"),
    "bad lab name": (lambda r: r.update(name="Lab_1"), "name: 'Lab_1' must be lower-case"),
    "lab name with a trailing newline": (lambda r: r.update(name="nwl\n"), "name: 'nwl\\n' must be lower-case"),
    "node name with a trailing newline": (lambda r: r["nodes"][0].update(name="u1\n"),
                                          "nodes[0].name: 'u1\\n' is not a valid host name"),
    "lab name too long for its bridges": (lambda r: r.update(name="nwl-lab-one"),
                                          "name: 'nwl-lab-one' is too long: the lab's bridge nwl-lab-one-mana would "
                                          "have 16 characters, and Linux allows 15 (use at most 10)"),
    "a list where the lab name belongs": (lambda r: r.update(name=["nwl"]), "name: is required and must be a string"),
    "node on the host's host-only address": (lambda r: r["nodes"][1].update(hostonly_ip="192.168.56.1"),
                                             "nodes[1].hostonly_ip: 192.168.56.1 is the host's own address on "
                                             "networks.hostonly"),
    "management too small for its DHCP range": (lambda r: r["networks"]["management"].update(cidr="192.168.121.0/29"),
                                                "networks.management.cidr: 192.168.121.0/29 is too small"),
    "nodes not named u1 u2 u3": (lambda r: r["nodes"][2].update(name="u4"),
                                 "nodes: the claims and their fixtures need the nodes u1, u2, u3; got u1, u2, u4"),
    "nodes not a list": (lambda r: r.update(nodes={"u1": {}}), "nodes: must be a list of 3 nodes"),
    "a node that is a string": (lambda r: r["nodes"].__setitem__(0, "u1"), "nodes[0]: must be a mapping, got the "
                                                                           "string 'u1'"),
    "resources a list": (lambda r: r.update(resources=[1, 1536]), "resources: must be a mapping, got a list"),
    "a netmask where the prefix length belongs": (
        lambda r: r["networks"]["nat"].update(cidr="10.0.3.0/255.255.255.0"),
        "networks.nat.cidr: '10.0.3.0/255.255.255.0' is not written as a.b.c.d/len with the network's own address: "
        "write 10.0.3.0/24"),
    "host bits set": (lambda r: r["networks"]["management"].update(cidr="192.168.121.1/24"),
                      "networks.management.cidr: '192.168.121.1/24' is not written as a.b.c.d/len"),
    "a network on loopback": (lambda r: r["networks"]["management"].update(cidr="127.1.0.0/24"),
                              "networks.management.cidr: 127.1.0.0/24 overlaps loopback (127.0.0.0/8)"),
    "a network on public addresses": (lambda r: r["networks"]["management"].update(cidr="1.1.1.0/24"),
                                      "1.1.1.0/24 is not inside a private range"),
    "memory too small to run the stack": (lambda r: r["resources"].update(memory_mb=256),
                                          "resources.memory_mb: 256 is outside 512..262144 MiB per VM"),
    "cpus beyond any host": (lambda r: r["resources"].update(cpus=65), "resources.cpus: 65 is outside 1..64 vCPUs"),
}


@pytest.mark.parametrize("change, message", BAD.values(), ids=BAD.keys())
def test_bad_topology_is_refused_with_the_field_named(change, message):
    with pytest.raises(TopologyError) as error:
        topology.parse(variant(change), Path("t.yaml"))
    assert message in str(error.value)
    assert str(error.value).startswith("t.yaml: ")


def test_unknown_provider_is_refused():
    with pytest.raises(TopologyError, match="unknown provider 'hyperv': use one of virtualbox, libvirt"):
        topology.load().require_provider("hyperv")


def test_virtualbox_refuses_hostonly_outside_its_range():
    def move(raw):
        raw["networks"]["hostonly"]["cidr"] = "10.10.0.0/24"
        for i, node in enumerate(raw["nodes"]):
            node["hostonly_ip"] = f"10.10.0.{i + 3}"

    topo = topology.parse(variant(move), Path("t.yaml"))
    topo.require_provider("libvirt")  # libvirt networks have no such rule
    with pytest.raises(TopologyError, match=r"outside 192\.168\.56\.0/21.*/etc/vbox/networks\.conf"):
        topo.require_provider("virtualbox")


def test_the_longest_lab_name_fits_every_bridge_the_lab_makes():
    topo = topology.parse(variant(lambda r: r.update(name="nwl-lab-on")), Path("t.yaml"))
    host = LibvirtHost(topo, Path("/nonexistent"))
    bridges = [ET.fromstring(host.network_xml(role)).find("bridge").get("name") for role in topology.NETWORK_ROLES]
    assert max(map(len, bridges)) == topology.IFNAME_MAX


def test_the_host_side_of_each_network_is_what_the_checks_keep_nodes_off():
    topo = topology.load()
    host = LibvirtHost(topo, Path("/nonexistent"))
    for role in topology.NETWORK_ROLES:
        address = ET.fromstring(host.network_xml(role)).find("ip").get("address")
        assert address == str(topo.host_address(role))
        assert address not in {str(n.hostonly_ip) for n in topo.nodes} | {str(n.nat_ip) for n in topo.nodes}
    dhcp = ET.fromstring(host.network_xml("management")).find("ip/dhcp/range")
    assert (dhcp.get("start"), dhcp.get("end")) == ("192.168.121.10", "192.168.121.254")


BAD_TEXT = {
    "duplicate key": ("name: nwl\nname: other\n", r"t\.yaml line 2: duplicate key 'name' \(first at line 1\)"),
    "duplicate key in a node": (
        topology.DEFAULT_PATH.read_text().replace("    nat_ip: 10.0.3.16\n", "    nat_ip: 10.0.3.16\n    name: u9\n"),
        r"t\.yaml line \d+: duplicate key 'name' \(first at line \d+\)"),
    "not valid YAML": ("name: nwl\nnodes: [\n  - name: u1\n", r"t\.yaml line \d+: not valid YAML"),
    "empty file": ("", r"t\.yaml: the file: must be a mapping, got nothing"),
    "a list, not a mapping": ("- u1\n- u2\n", r"t\.yaml: the file: must be a mapping, got a list"),
    "not UTF-8": (b"name: \xff\n", r"t\.yaml: not UTF-8 text"),
}


@pytest.mark.parametrize("text, message", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_bad_topology_text_is_refused_with_the_line_named(tmp_path, text, message):
    bad = tmp_path / "t.yaml"
    bad.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(TopologyError, match=message):
        topology.load(bad)


def test_an_unknown_node_is_named_with_the_nodes_there_are():
    with pytest.raises(TopologyError, match=r"topology\.yaml: nodes: there is no node 'u9' \(nodes: u1, u2, u3\)"):
        topology.load().node("u9")


def test_malformed_file_names_the_line(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("name: nwl\nnodes: [\n  - name: u1\n")
    with pytest.raises(TopologyError, match=r"t\.yaml line \d+: not valid YAML"):
        topology.load(bad)


def test_missing_file(tmp_path):
    with pytest.raises(TopologyError, match="cannot read topology"):
        topology.load(tmp_path / "nope.yaml")


def test_cli_refuses_bad_topology_before_anything_starts(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump(variant(lambda r: r["nodes"][1].update(name="u1"))))
    # An empty PATH proves no vagrant/virsh was needed to reach the verdict.
    proc = subprocess.run([sys.executable, "-m", "lab", "--topology", str(bad), "--provider", "libvirt", "up"],
                          capture_output=True, text=True, check=False, env={"PATH": "", "HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert "nodes[1].name: duplicate u1" in proc.stderr


def test_pytest_refuses_bad_topology_as_a_usage_error(tmp_path, pytester_root=Path(__file__).parents[2]):
    bad = tmp_path / "t.yaml"
    bad.write_text("name: nwl\nnodes: 3\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--lab-provider", "libvirt",
                           "--lab-topology", str(bad), "tests/connectivity"],
                          capture_output=True, text=True, check=False, cwd=pytester_root)
    assert proc.returncode == 4  # pytest's usage error
    assert "lab topology:" in proc.stderr
