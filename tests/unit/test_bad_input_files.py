"""Bad topology, version profiles and environment, round 2: every row goes through the real command
line with nothing on PATH and must stop with exit status 2 and one line naming the file (or the
environment variable) and the key, before anything touches the host. Then what the host itself
brings in (its routes, CPUs, memory), what the stage writes into stack.env, and the Vagrantfile's
own refusal of a topology nobody validated."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import artifacts, host_fit, stage, topology
from lab.host_fit import Route
from lab.topology import TopologyError
from tests.unit.test_bad_input import DEEP, ROOT, T_YAML, VERSIONS, _fill, folder, lab, topo, versions, write
from tests.unit.test_stage import cached_profile, env_of

ESC = "\x1b[31m"
LONG = "x" * 5000


def cidr(role: str, value: str):
    return topo(lambda r: r["networks"][role].update(cidr=value))


def resources(**values):
    return topo(lambda r: r["resources"].update(values))


def weave_env(**values):
    return versions(lambda r: r["profiles"]["current"]["weave"].update(env=values))


def unwritable_root(tmp: Path) -> str:
    """A directory the lab cannot write in, also as root (who ignores file modes)."""
    if os.geteuid() == 0:
        return "/sys"
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o500)
    return str(tmp / "ro")


UP = ["--provider", "libvirt", "up"]
RESERVED = "is reserved: the stage writes NODE, HOSTONLY_IP, COMPONENTS"

# id: (setup, environment, argv, words of the message). {tmp} is the row's temp folder.
BAD = {
    # CIDR forms the Vagrantfile would split wrongly (it takes what follows the "/" as the prefix)
    "hostonly as a netmask (up)": (cidr("hostonly", "192.168.56.0/255.255.255.0"), {}, [*T_YAML, *UP],
                                   "t.yaml: networks.hostonly.cidr: '192.168.56.0/255.255.255.0' is not written as "
                                   "a.b.c.d/len with the network's own address: write 192.168.56.0/24"),
    "nat as a hostmask (status)": (cidr("nat", "10.0.3.0/0.0.0.255"), {}, [*T_YAML, "status"],
                                   "networks.nat.cidr: '10.0.3.0/0.0.0.255' is not written as a.b.c.d/len"),
    "hostonly with host bits set (versions)": (cidr("hostonly", "192.168.56.7/24"), {}, [*T_YAML, "versions"],
                                               "'192.168.56.7/24' is not written as a.b.c.d/len with the network's "
                                               "own address: write 192.168.56.0/24"),
    "management without a prefix (up)": (cidr("management", "192.168.121.0"), {}, [*T_YAML, *UP],
                                         "networks.management.cidr: '192.168.121.0' is not written as a.b.c.d/len"),
    "management with a prefix 024 (up)": (cidr("management", "192.168.121.0/024"), {}, [*T_YAML, *UP],
                                          "'192.168.121.0/024' is not written as a.b.c.d/len"),
    "a cidr with escapes (status)": (cidr("nat", f"{ESC}10.0.3.0/24"), {}, [*T_YAML, "status"],
                                     "networks.nat.cidr: '\\x1b[31m10.0.3.0/24' is not an IPv4 network"),
    "a cidr of 5000 characters (status)": (cidr("nat", LONG), {}, [*T_YAML, "status"],
                                           "is not an IPv4 network"),
    # ranges no lab network may take
    "management on loopback (up)": (cidr("management", "127.0.0.0/24"), {}, [*T_YAML, *UP],
                                    "networks.management.cidr: 127.0.0.0/24 overlaps loopback (127.0.0.0/8)"),
    "management on 0.0.0.0/0 (up)": (cidr("management", "0.0.0.0/0"), {}, [*T_YAML, *UP],
                                     "networks.management.cidr: 0.0.0.0/0 overlaps 'this network' (0.0.0.0/8)"),
    "management on link-local (status)": (cidr("management", "169.254.0.0/24"), {}, [*T_YAML, "status"],
                                          "169.254.0.0/24 overlaps link-local (169.254.0.0/16)"),
    "management on multicast (up)": (cidr("management", "224.0.1.0/24"), {}, [*T_YAML, *UP],
                                     "224.0.1.0/24 overlaps multicast (224.0.0.0/4)"),
    "management on the reserved range (up)": (cidr("management", "250.0.0.0/24"), {}, [*T_YAML, *UP],
                                              "250.0.0.0/24 overlaps reserved (240.0.0.0/4"),
    "management on public addresses (versions)": (cidr("management", "8.8.8.0/24"), {}, [*T_YAML, "versions"],
                                                  "networks.management.cidr: 8.8.8.0/24 is not inside a private "
                                                  "range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"),
    "management on carrier-grade NAT (up)": (cidr("management", "100.64.0.0/24"), {}, [*T_YAML, *UP],
                                             "100.64.0.0/24 is not inside a private range"),
    # resources
    "memory of a terabyte per VM (up)": (resources(memory_mb=1 << 20), {}, [*T_YAML, *UP],
                                         "t.yaml: resources.memory_mb: 1048576 is outside 512..262144 MiB per VM"),
    "memory of 100 MiB (status)": (resources(memory_mb=100), {}, [*T_YAML, "status"],
                                   "resources.memory_mb: 100 is outside 512..262144 MiB per VM"),
    "memory of 10**30 (up)": (resources(memory_mb=10 ** 30), {}, [*T_YAML, *UP],
                              "resources.memory_mb: 1000000000000000000000000000000 is outside"),
    "memory a list of 10000 (status)": (resources(memory_mb=[1] * 10000), {}, [*T_YAML, "status"],
                                        "resources.memory_mb: must be a positive integer, got [1, 1, 1"),
    "cpus 1000 (up)": (resources(cpus=1000), {}, [*T_YAML, *UP], "resources.cpus: 1000 is outside 1..64 vCPUs"),
    "memory the whole host times three (up)": (resources(memory_mb=262144), {}, [*T_YAML, *UP],
                                               "resources.memory_mb: 3 VMs of 262144 MiB need 786432 MiB, and this "
                                               "host has"),
    # what YAML makes of a value, and what a message shows of one
    "an integer of 5000 digits (status)": (write("t.yaml", f"name: {'1' * 5000}\n"), {}, [*T_YAML, "status"],
                                           "t.yaml: not usable YAML (Exceeds the limit (4300 digits)"),
    "a key with escapes (versions)": (topo(lambda r: r.update({f"{ESC}name": 1})), {}, [*T_YAML, "versions"],
                                      "t.yaml: the file: unknown key(s) \\x1b[31mname"),
    "a lab name of 5000 characters (status)": (topo(lambda r: r.update(name=LONG)), {}, [*T_YAML, "status"],
                                               "name: 'xxxxxxxxxx"),
    # the environment
    "LAB_ROOT a file (status)": (write("file", "x"), {"LAB_ROOT": "{tmp}/file"}, ["--provider", "libvirt", "status"],
                                 "LAB_ROOT='{tmp}/file': not a directory (LAB_ROOT names the checkout"),
    "LAB_ROOT a file (up)": (write("file", "x"), {"LAB_ROOT": "{tmp}/file"}, UP, "LAB_ROOT='{tmp}/file': not a "
                                                                                  "directory"),
    "LAB_ROOT a file (versions)": (write("file", "x"), {"LAB_ROOT": "{tmp}/file"}, ["versions"],
                                   "LAB_ROOT='{tmp}/file': not a directory"),
    "LAB_ROOT not there (down)": (None, {"LAB_ROOT": "{tmp}/gone"}, ["--provider", "libvirt", "down"],
                                  "LAB_ROOT='{tmp}/gone': not a directory"),
    "LAB_ROOT with escapes (status)": (None, {"LAB_ROOT": f"{ESC}red"}, ["status"],
                                       "LAB_ROOT='\\x1b[31mred': not a directory"),
    "LAB_ROOT of 5000 characters (status)": (None, {"LAB_ROOT": LONG}, ["status"],
                                             "LAB_ROOT='xxxxxxxxxx"),
    "LAB_ROOT not writable (up)": (None, {"LAB_ROOT": "{readonly}"}, UP, "LAB_ROOT='{readonly}': cannot write"),
    "LAB_ROOT not writable (down)": (None, {"LAB_ROOT": "{readonly}"}, ["--provider", "libvirt", "down"],
                                     "LAB_ROOT='{readonly}': cannot write {readonly}/.lab"),
    "LAB_TOPOLOGY a folder (status)": (folder("t"), {"LAB_TOPOLOGY": "{tmp}/t"}, ["status"],
                                       "cannot read topology {tmp}/t: Is a directory (from LAB_TOPOLOGY)"),
    "LAB_TOPOLOGY /dev/zero (up)": (None, {"LAB_TOPOLOGY": "/dev/zero"}, UP,
                                    "cannot read topology /dev/zero: not a regular file (from LAB_TOPOLOGY)"),
    "LAB_TOPOLOGY with escapes (status)": (None, {"LAB_TOPOLOGY": f"{ESC}t.yaml"}, ["status"],
                                           "cannot read topology \\x1b[31mt.yaml: No such file or directory "
                                           "(from LAB_TOPOLOGY)"),
    "LAB_TOPOLOGY nested 100000 deep (up)": (write("t.yaml", DEEP), {"LAB_TOPOLOGY": "{tmp}/t.yaml"}, UP,
                                             "t.yaml line 1: nested deeper than 64 levels"),
    "LAB_VERSIONS a folder (versions)": (folder("v"), {"LAB_VERSIONS": "{tmp}/v"}, ["versions"],
                                         "cannot read the version profiles {tmp}/v: Is a directory (from "
                                         "LAB_VERSIONS)"),
    "LAB_VERSIONS /dev/zero (up)": (None, {"LAB_VERSIONS": "/dev/zero"}, UP,
                                    "/dev/zero: not a regular file (from LAB_VERSIONS)"),
    "LAB_PROFILE unknown, with escapes (versions)": (None, {"LAB_PROFILE": f"{ESC}x"}, ["versions"],
                                                     "profiles: unknown profile '\\x1b[31mx' (from LAB_PROFILE): "
                                                     "use one of article"),
    "LAB_PROFILE unknown (up)": (None, {"LAB_PROFILE": "newest"}, UP, "unknown profile 'newest' (from LAB_PROFILE)"),
    "LAB_CACHE_DIR relative (versions)": (None, {"LAB_CACHE_DIR": "cache"}, ["versions"],
                                          "LAB_CACHE_DIR='cache': must be an absolute path"),
    "LAB_CACHE_DIR relative (fetch)": (None, {"LAB_CACHE_DIR": "cache"}, ["fetch", "--component", "nomad"],
                                       "LAB_CACHE_DIR='cache': must be an absolute path"),
    "LAB_HASHICORP_RELEASES not a URL (versions)": (None, {"LAB_HASHICORP_RELEASES": "ftp://mirror"}, ["versions"],
                                                    "LAB_HASHICORP_RELEASES='ftp://mirror': not an http(s) URL"),
    # a component's env: the stage writes stack.env itself
    "weave.env PATH (versions)": (weave_env(PATH="/opt/bin"), VERSIONS, ["versions"],
                                  f"versions.yaml: profiles.current.weave.env.PATH: PATH {RESERVED}"),
    "weave.env WEAVE_SCRIPT (up)": (weave_env(WEAVE_SCRIPT="evil"), VERSIONS, UP,
                                    f"profiles.current.weave.env.WEAVE_SCRIPT: WEAVE_SCRIPT {RESERVED}"),
    "weave.env COMPONENTS (fetch)": (weave_env(COMPONENTS="weave"), VERSIONS, ["fetch", "--component", "weave"],
                                     f"weave.env.COMPONENTS: COMPONENTS {RESERVED}"),
    "weave.env IFS (up)": (weave_env(IFS=","), VERSIONS, UP,
                                                         "weave.env.IFS: IFS is reserved"),
    "weave.env LD_PRELOAD (versions)": (weave_env(LD_PRELOAD="/tmp/x.so"), VERSIONS, ["versions"],
                                        "LD_PRELOAD is reserved: the stage writes NODE"),
    "weave.env MISSING, where debian extends current (versions)": (
        weave_env(MISSING="()"), VERSIONS, ["--profile", "debian", "versions"],
        "versions.yaml: debian extends current: profiles.current.weave.env.MISSING: MISSING is reserved"),
    "weave.env a value with a newline (versions)": (weave_env(DOCKERHUB_USER="me\nreboot"), VERSIONS, ["versions"],
                                                    "weave.env.DOCKERHUB_USER: 'me\\nreboot' holds a control "
                                                    "character"),
    "weave.env a value with escapes (up)": (weave_env(DOCKERHUB_USER=f"{ESC}me"), VERSIONS, UP,
                                            "weave.env.DOCKERHUB_USER: '\\x1b[31mme' holds a control character"),
    "weave.env a lower-case name (versions)": (weave_env(path="/opt/bin"), VERSIONS, ["versions"],
                                               "weave.env.path: 'path' is not an environment variable name"),
    "weave.env a name with escapes (versions)": (weave_env(**{f"{ESC}X": "1"}), VERSIONS, ["versions"],
                                                 "weave.env.\\x1b[31mX: '\\x1b[31mX' is not an environment"),
}


def _fill_all(text: str, tmp: Path, unwritable: str) -> str:
    return _fill(text, tmp).replace("{readonly}", unwritable)


@pytest.mark.parametrize("setup, env, argv, words", BAD.values(), ids=BAD.keys())
def test_bad_files_and_environment_are_refused_in_one_line(tmp_path, setup, env, argv, words):
    if setup:
        setup(tmp_path)
    unwritable = unwritable_root(tmp_path) if "{readonly}" in str(env) else ""
    proc = lab(tmp_path, *(_fill(a, tmp_path) for a in argv),
               env={k: _fill_all(v, tmp_path, unwritable) for k, v in env.items()})
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (proc.returncode, proc.stderr.splitlines()) == (2, [f"error: {proc.stderr.strip()[7:]}"]), proc.stderr
    assert "\x1b" not in proc.stderr and len(proc.stderr) < 1000, proc.stderr
    assert _fill_all(words, tmp_path, unwritable) in proc.stderr
    assert not (tmp_path / "root" / ".lab").exists()  # refused before the lab wrote anything


# -- pytest reads the same environment (a usage error there is pytest's exit status 4) ----------

PYTEST_BAD = {
    "LAB_ROOT a file": ({"LAB_ROOT": "{tmp}/file"}, "lab settings: LAB_ROOT='{tmp}/file': not a directory"),
    "LAB_ROOT not writable": ({"LAB_ROOT": "{readonly}"}, "lab settings: LAB_ROOT='{readonly}': cannot write"),
    "a topology with a netmask": ({"LAB_TOPOLOGY": "{tmp}/t.yaml"},
                                  "lab topology: {tmp}/t.yaml: networks.hostonly.cidr: '192.168.56.0/255.255.255.0'"),
    "weave.env PATH": ({"LAB_VERSIONS": "{tmp}/versions.yaml"}, "lab profile: {tmp}/versions.yaml: "
                                                                "profiles.current.weave.env.PATH: PATH is reserved"),
}


@pytest.mark.parametrize("env, words", PYTEST_BAD.values(), ids=PYTEST_BAD.keys())
def test_pytest_refuses_the_same_as_a_usage_error(tmp_path, env, words):
    (tmp_path / "file").write_text("x")
    cidr("hostonly", "192.168.56.0/255.255.255.0")(tmp_path)
    weave_env(PATH="/opt/bin")(tmp_path)
    unwritable = unwritable_root(tmp_path) if "{readonly}" in str(env) else ""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--lab-report-dir={tmp_path}", "tests/connectivity"],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, "LAB_ROOT": str(tmp_path), "LAB_TOPOLOGY": str(topology.DEFAULT_PATH),
                               **{k: _fill_all(v, tmp_path, unwritable) for k, v in env.items()}})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert _fill_all(words, tmp_path, unwritable) in proc.stderr and "Traceback" not in proc.stderr


# -- the host's routes, CPUs and memory -----------------------------------------------------------

SHIPPED = topology.load()


def route(device: str, cidr_text: str) -> Route:
    return Route(device, ipaddress.IPv4Network(cidr_text))


LAB_UP = [route("nwl-mana", "192.168.121.0/24"), route("nwl-host", "192.168.56.0/24"), route("nwl-nat", "10.0.3.0/24")]
ROUTES_BAD = {
    "another libvirt network on the management range": (
        "libvirt", [route("virbr1", "192.168.121.0/24")],
        "networks.management.cidr: 192.168.121.0/24 overlaps this host's route to 192.168.121.0/24 on virbr1"),
    "a VPN's 10.0.0.0/8 over the NAT network": (
        "libvirt", [*LAB_UP, route("tun0", "10.0.0.0/8")],
        "networks.nat.cidr: 10.0.3.0/24 overlaps this host's route to 10.0.0.0/8 on tun0"),
    "the host's LAN inside the host-only network": (
        "virtualbox", [route("eth0", "192.168.56.128/25")],
        "networks.hostonly.cidr: 192.168.56.0/24 overlaps this host's route to 192.168.56.128/25 on eth0"),
    "the lab's bridge on another role's range": (
        "libvirt", [route("nwl-host", "192.168.121.0/24")], "networks.management.cidr: 192.168.121.0/24 overlaps"),
    "VirtualBox's host-only interface, for libvirt": (
        "libvirt", [route("vboxnet0", "192.168.56.0/24")], "on vboxnet0"),
}
ROUTES_GOOD = {
    "no routes": ("libvirt", []),
    "the lab's own bridges, the lab being up": ("libvirt", LAB_UP),
    "VirtualBox's host-only interface on the host-only network": ("virtualbox", [route("vboxnet0", "192.168.56.0/24")]),
    "VirtualBox makes no management network": ("virtualbox", [route("virbr0", "192.168.121.0/24")]),
    "routes elsewhere": ("libvirt", [route("eth0", "192.0.2.0/24"), route("docker0", "172.17.0.0/16")]),
}


@pytest.mark.parametrize("provider, routes, words", ROUTES_BAD.values(), ids=ROUTES_BAD.keys())
def test_a_network_over_a_route_of_the_host_is_refused(provider, routes, words):
    with pytest.raises(TopologyError) as error:
        host_fit.check_routes(SHIPPED, provider, routes)
    assert words in str(error.value) and "`ip route` lists them" in str(error.value)


@pytest.mark.parametrize("provider, routes", ROUTES_GOOD.values(), ids=ROUTES_GOOD.keys())
def test_routes_that_are_the_labs_or_elsewhere_pass(provider, routes):
    host_fit.check_routes(SHIPPED, provider, routes)


PROC_NET_ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
nwl-nat\t0003000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
virbr1\t0079A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
down0\t0038A8C0\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_the_route_table_is_read_from_proc(tmp_path):
    table = tmp_path / "route"
    table.write_text(PROC_NET_ROUTE)
    # The default route overlaps everything and is left out; so is a route that is not up.
    assert host_fit.routes(table) == [route("nwl-nat", "10.0.3.0/24"), route("virbr1", "192.168.121.0/24")]
    assert host_fit.routes(tmp_path / "none") == []


def test_up_refuses_a_network_over_a_route_of_the_host_before_anything(tmp_path):
    """The real command line, with nothing on PATH and a route table where virbr1 holds the management range."""
    table = tmp_path / "route"
    table.write_text(PROC_NET_ROUTE)
    (tmp_path / "root").mkdir()
    code = ("import sys; from pathlib import Path; from lab import host_fit, __main__ as cli; "
            f"host_fit.ROUTE_TABLE = Path({str(table)!r}); sys.exit(cli.main(sys.argv[1:]))")
    for argv in (UP, ["--provider", "libvirt", "prepare"], ["--provider", "libvirt", "check"]):
        env = {"PATH": "", "HOME": str(tmp_path), "LAB_ROOT": str(tmp_path / "root"),
               "LAB_TOPOLOGY": str(topology.DEFAULT_PATH)}
        proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                              check=False, timeout=60, env=env)
        assert (proc.returncode, proc.stderr.count("\n")) == (2, 1), proc.stderr
        assert "networks.management.cidr: 192.168.121.0/24 overlaps this host's route to 192.168.121.0/24 on " \
               "virbr1" in proc.stderr
        assert not (tmp_path / "root" / ".lab").exists()


RESOURCES_BAD = {
    "more vCPUs than the host has": ({"cpus": 4}, 2, 8192, "resources.cpus: 4 vCPUs per VM, and this host has 2 "
                                                           "CPU(s)"),
    "three VMs more than the host's memory": ({"memory_mb": 4096}, 8, 8000,
                                              "resources.memory_mb: 3 VMs of 4096 MiB need 12288 MiB, and this host "
                                              "has 8000 MiB"),
}


@pytest.mark.parametrize("change, cpus, memory, words", RESOURCES_BAD.values(), ids=RESOURCES_BAD.keys())
def test_resources_beyond_the_host_are_refused(change, cpus, memory, words):
    with pytest.raises(TopologyError) as error:
        host_fit.check_resources(dataclasses.replace(SHIPPED, **change), cpus, memory)
    assert words in str(error.value)


def test_the_shipped_resources_fit_a_small_host_and_unknown_facts_pass():
    host_fit.check_resources(SHIPPED, 2, 4 * 1024 + 512)
    host_fit.check_resources(dataclasses.replace(SHIPPED, cpus=64, memory_mb=262144), None, None)


# -- what the stage writes into stack.env ---------------------------------------------------------

def test_every_key_the_stage_writes_is_reserved(tmp_path):
    profile, cache = cached_profile(tmp_path)
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", SHIPPED, profile, cache,
                       stage.plan(profile, cache))
    assert set(env_of(root / "u1")) | {"MISSING"} <= set(artifacts.STAGE_ENV)


def test_an_env_value_with_quotes_and_command_substitution_reaches_the_shell_as_written(tmp_path):
    value = "a'b\"c $(touch pwned) `touch pwned` ${HOME}; rm -rf /"
    profile, cache = cached_profile(tmp_path)
    weave = profile.components["weave"]
    settings = {**weave.settings, "env": {"DOCKERHUB_USER": value}}
    profile.components["weave"] = dataclasses.replace(weave, settings=settings)
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", SHIPPED, profile, cache,
                       stage.plan(profile, cache))
    stack_env = str(root / "u1" / "stack.env")
    shown = subprocess.run(["bash", "-c", '. "$1" && printf %s "$DOCKERHUB_USER"', "-", stack_env],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert shown.stdout == value and not (tmp_path / "pwned").exists()


# -- the Vagrantfile reads only a topology lab.topology validated ---------------------------------

RUBY = shutil.which("ruby")
# Enough of Vagrant for the Vagrantfile's top level to run: its configure block is never called.
VAGRANT_STUB = "module Vagrant; def self.configure(_version); end; end\n"


def vagrantfile(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    checkout = tmp / "checkout"
    checkout.mkdir(exist_ok=True)
    shutil.copy(ROOT / "Vagrantfile", checkout / "Vagrantfile")
    (tmp / "stub.rb").write_text(VAGRANT_STUB)
    return subprocess.run([RUBY, "-r", str(tmp / "stub.rb"), str(checkout / "Vagrantfile")], capture_output=True,
                          text=True, check=False, timeout=60, env={"PATH": os.environ["PATH"], **env})


@pytest.mark.skipif(RUBY is None, reason="ruby is not installed")
def test_the_vagrantfile_refuses_a_topology_nobody_validated(tmp_path):
    good = tmp_path / "t.yaml"
    good.write_text(topology.DEFAULT_PATH.read_text())
    validated = topology.load(good).digest
    assert vagrantfile(tmp_path, {"LAB_TOPOLOGY": str(good), "LAB_TOPOLOGY_SHA256": validated}).returncode == 0
    # A file changed after `python -m lab` validated it (here into what the Ruby loader refuses).
    good.write_text(topology.DEFAULT_PATH.read_text() + "alias: &a [1]\nagain: *a\n")
    for env in ({"LAB_TOPOLOGY": str(good), "LAB_TOPOLOGY_SHA256": validated}, {"LAB_TOPOLOGY": str(good)}):
        proc = vagrantfile(tmp_path, env)
        assert proc.returncode != 0 and "is not the topology `python -m lab` validated" in proc.stderr
        assert "run `python -m lab prepare`" in proc.stderr and "BadAlias" not in proc.stderr


@pytest.mark.skipif(RUBY is None, reason="ruby is not installed")
def test_a_vagrant_typed_by_hand_takes_the_topology_prepare_recorded(tmp_path):
    good = tmp_path / "t.yaml"
    good.write_text(topology.DEFAULT_PATH.read_text())
    record = tmp_path / "checkout" / ".lab" / "topology.sha256"
    record.parent.mkdir(parents=True)
    record.write_text(f"{topology.load(good).digest}  {good}\n")
    assert vagrantfile(tmp_path, {"LAB_TOPOLOGY": str(good)}).returncode == 0
    good.write_text(good.read_text().replace("memory_mb: 1536", "memory_mb: 2048"))
    assert vagrantfile(tmp_path, {"LAB_TOPOLOGY": str(good)}).returncode != 0
