"""What a Linux host needs before vagrant-libvirt can run the lab, and how to remove it again.

- libvirt's daemons (started by hand, and stopped by their PIDs, where no init system runs them);
- the lab's storage pool and its three networks, defined *isolated*: no <forward> element (so
  nothing is routed off the machine) and no DNS (so nothing is forwarded to the host's resolver);
- the reaper, which removes every domain, volume, network and pool whose name carries the
  lab's prefix, and nothing else.
"""
from __future__ import annotations

import grp
import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from lab import wait
from lab.topology import NETWORK_ROLES, Topology, bridge_name

URI = "qemu:///system"
POOL_ROOT = Path("/var/lib/libvirt/images")
_DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"


class LibvirtError(RuntimeError):
    pass


def virsh(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LibvirtError(f"virsh {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _names(*args: str) -> list[str]:
    return [line.strip() for line in virsh(*args).stdout.splitlines() if line.strip()]


class LibvirtHost:
    def __init__(self, topo: Topology, state_dir: Path):
        self.topo = topo
        self.daemon_dir = state_dir / "daemons"
        self.prefix = f"{topo.name}-"

    # -- daemons ---------------------------------------------------------------------------
    def daemons_running(self) -> bool:
        try:
            return virsh("uri", check=False, timeout=15).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def ensure_daemons(self) -> list[str]:
        """Start virtlogd and libvirtd unless a libvirtd already answers. Returns what was started."""
        if self.daemons_running():
            return []
        if os.geteuid() != 0:
            raise LibvirtError("libvirtd is not running; start it (`sudo systemctl start libvirtd`) or run as root")
        self._fix_kvm_permissions()
        self.daemon_dir.mkdir(parents=True, exist_ok=True)
        started = []
        for daemon in ("virtlogd", "libvirtd"):
            pid_file = self.daemon_dir / f"{daemon}.pid"
            with open(self.daemon_dir / f"{daemon}.log", "a") as log:
                subprocess.run([daemon, "--daemon", f"--pid-file={pid_file}"], check=True, stdout=log, stderr=log)
            started.append(daemon)
        wait.until(self.daemons_running, "libvirtd to answer on " + URI, timeout=60, interval=1)
        return started

    @staticmethod
    def _fix_kvm_permissions() -> None:
        # With /dev/kvm root:root 0600, libvirtd re-probes QEMU on every API call (~4 s each) and
        # `vagrant up` seems to hang. Debian's normal mode is root:kvm 0660.
        kvm = Path("/dev/kvm")
        if kvm.exists():
            try:
                os.chown(kvm, 0, grp.getgrnam("kvm").gr_gid)
                os.chmod(kvm, 0o660)
            except (KeyError, PermissionError):
                pass

    def stop_daemons(self) -> list[str]:
        """Stop the daemons this lab started (by their recorded PIDs); leave any others alone."""
        stopped = []
        for daemon in ("libvirtd", "virtlogd"):
            pid_file = self.daemon_dir / f"{daemon}.pid"
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text().strip() or 0)
            if pid and _alive(pid):
                os.kill(pid, signal.SIGTERM)
                try:
                    wait.until(lambda pid=pid: not _alive(pid), f"{daemon} (pid {pid}) to exit",
                               timeout=30, interval=0.5)
                except wait.WaitTimeout:
                    os.kill(pid, signal.SIGKILL)
                stopped.append(f"{daemon}({pid})")
            pid_file.unlink(missing_ok=True)
        return stopped

    # -- pool and networks -----------------------------------------------------------------
    @property
    def pool_name(self) -> str:
        return self.topo.resource("images")

    def ensure_pool(self) -> None:
        if self.pool_name in _names("pool-list", "--all", "--name"):
            if self.pool_name not in _names("pool-list", "--name"):
                virsh("pool-start", self.pool_name)
            return
        xml = (
            f"<pool type='dir'><name>{self.pool_name}</name>"
            f"<target><path>{POOL_ROOT / self.pool_name}</path></target></pool>"
        )
        self._define("pool-define", xml)
        virsh("pool-build", self.pool_name)
        virsh("pool-start", self.pool_name)

    def network_xml(self, role: str) -> str:
        root = ET.Element("network")
        ET.SubElement(root, "name").text = self.topo.resource(role)
        ET.SubElement(root, "bridge", name=bridge_name(self.topo.name, role), stp="on", delay="0")
        ET.SubElement(root, "dns", enable="no")
        ip = ET.SubElement(root, "ip", address=str(self.topo.host_address(role)),
                           netmask=str(self.topo.network(role).netmask))
        if role == "management":
            first, last = self.topo.dhcp_range()
            dhcp = ET.SubElement(ip, "dhcp")
            ET.SubElement(dhcp, "range", start=str(first), end=str(last))
            # Vagrant only needs SSH over this network: offer no router, so the guests' default
            # route is the NAT network's, as in the article.
            ET.register_namespace("dnsmasq", _DNSMASQ_NS)
            opts = ET.SubElement(root, f"{{{_DNSMASQ_NS}}}options")
            ET.SubElement(opts, f"{{{_DNSMASQ_NS}}}option", value="dhcp-option=3")
        return ET.tostring(root, encoding="unicode")

    def ensure_networks(self) -> None:
        defined = set(_names("net-list", "--all", "--name"))
        active = set(_names("net-list", "--name"))
        for role in NETWORK_ROLES:
            name = self.topo.resource(role)
            if name in defined:
                self._check_isolated(name)
            else:
                self._define("net-define", self.network_xml(role))
            if name not in active:
                virsh("net-start", name)

    def _check_isolated(self, name: str) -> None:
        xml = ET.fromstring(virsh("net-dumpxml", name).stdout)
        if xml.find("forward") is not None or (xml.find("dns") is None or xml.find("dns").get("enable") != "no"):
            raise LibvirtError(
                f"libvirt network {name} exists but is not isolated (it forwards or serves DNS); "
                "run `python -m lab reap` to remove the lab's networks, then try again"
            )

    def _define(self, verb: str, xml: str) -> None:
        path = self.daemon_dir.parent / f"define-{os.getpid()}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(xml)
        try:
            virsh(verb, str(path))
        finally:
            path.unlink(missing_ok=True)

    # -- reaper ----------------------------------------------------------------------------
    def reap(self) -> list[str]:
        """Remove every libvirt resource named with the lab's prefix. Returns what went."""
        if not self.daemons_running():
            return []
        removed = []
        running = set(_names("list", "--name"))
        for domain in _names("list", "--all", "--name"):
            if not domain.startswith(self.prefix):
                continue
            if domain in running:
                virsh("destroy", domain, check=False)
            # The provisioned lab's snapshot (lab/snapshots.py) lives in the domain's disk; libvirt
            # refuses to undefine a domain that still has snapshot metadata.
            virsh("undefine", "--snapshots-metadata", domain, check=False)
            removed.append(f"domain {domain}")
        for network in _names("net-list", "--all", "--name"):
            if network.startswith(self.prefix):
                virsh("net-destroy", network, check=False)
                virsh("net-undefine", network, check=False)
                removed.append(f"network {network}")
        for pool in _names("pool-list", "--all", "--name"):
            if not pool.startswith(self.prefix):
                continue
            virsh("pool-start", pool, check=False)
            for line in virsh("vol-list", pool, check=False).stdout.splitlines()[2:]:
                volume = line.split()[0] if line.split() else ""
                if volume:
                    virsh("vol-delete", volume, "--pool", pool, check=False)
                    removed.append(f"volume {pool}/{volume}")
            virsh("pool-destroy", pool, check=False)
            virsh("pool-delete", pool, check=False)
            virsh("pool-undefine", pool, check=False)
            removed.append(f"pool {pool}")
        return removed

    def leftovers(self) -> list[str]:
        """Lab resources that still exist (for checks after teardown)."""
        if not self.daemons_running():
            return []
        found = [f"domain {d}" for d in _names("list", "--all", "--name") if d.startswith(self.prefix)]
        found += [f"network {n}" for n in _names("net-list", "--all", "--name") if n.startswith(self.prefix)]
        found += [f"pool {p}" for p in _names("pool-list", "--all", "--name") if p.startswith(self.prefix)]
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists"; treat it as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
