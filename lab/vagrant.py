"""Vagrant, through python-vagrant: bring the lab's machines up, ask their state, destroy them."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.parallel import on_each
from lab.settings import Settings

# Vagrant redraws upload progress on one line thousands of times: kept out of the log.
_PROGRESS = re.compile(r"(\x1b\[K)?Progress: \d+%")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# `==> u1: Starting domain.` (a step) or `    u1: consul 1.8.7: unchanged` (a detail): parallel
# output is prefixed per machine.
_LINE = re.compile(r"^(?:==> |\s+)(?P<node>[\w.-]+): (?P<message>.*\S)\s*$")
_BRINGING = re.compile(r"^Bringing machine '(?P<node>[\w.-]+)' up")
# The steps of `vagrant up` that start a phase of a machine, the phase, and what it then awaits
# (in the order vagrant-libvirt and VirtualBox print them).
PHASES = tuple((re.compile(pattern), phase, awaited) for pattern, phase, awaited in (
    (r"^Running action triggers before up", "networks", "the check of the lab's networks"),
    (r"^(Checking if box|Importing base box|Uploading base box image|Creating image \(snapshot)", "box",
     "the box's disk for the VM"),
    (r"^(Creating domain|Matching MAC address|Setting the name of the VM)", "domain", "the VM's definition"),
    (r"^(Starting domain|Booting VM)", "boot", "the VM to boot and take its management address"),
    (r"^Waiting for machine to boot", "ssh", "SSH to answer"),
    (r"^Machine booted and ready", "setup", "Vagrant's guest setup"),
    (r"^Configuring and enabling network interfaces", "interfaces", "the host-only interface"),
    (r"^Running provisioner: (?P<name>[\w-]+)", "provision {name}", "the {name} provisioner"),
))
# Detail lines worth showing: what a provisioner changed, stack component versions, what is missing.
_RESULT = re.compile(r"^(missing: |[\w-]+(?: [\w.+~:-]+)?: (?:\S+ )?(unchanged|changed|built|installed|imported)\b)")
_MAX_MESSAGE = 160


@dataclass(frozen=True)
class Step:
    """What one line of `vagrant up` output says about a machine: a phase it starts, or a note."""

    node: str
    message: str
    phase: str | None = None
    awaited: str = ""


def step(line: str) -> Step | None:
    """The phase change or note a line of `vagrant up` output stands for, if any."""
    line = _ANSI.sub("", _PROGRESS.sub("", line)).rstrip()
    bringing = _BRINGING.match(line)
    if bringing:
        return Step(bringing["node"], line, "start", "Vagrant to start the machine")
    match = _LINE.match(line)
    if not match:
        return None
    node, message = match["node"], match["message"].strip()
    if line.startswith("==> "):
        for pattern, phase, awaited in PHASES:
            found = pattern.match(message)
            if found:
                name = found.groupdict().get("name") or ""
                return Step(node, _short(message), phase.format(name=name), awaited.format(name=name))
    if _RESULT.match(message):
        return Step(node, _short(message))
    return None


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE - 1] + "…"


class VagrantError(RuntimeError):
    pass


def _python_vagrant():
    """python-vagrant, imported when the lab runs Vagrant: on import it warns when vagrant is not on
    PATH, a line commands that never use it (fetch, versions, report) should not print."""
    import vagrant

    return vagrant


class VagrantLab:
    def __init__(self, settings: Settings, topology_digest: str = ""):
        self.settings = settings
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = settings.log_dir / "vagrant.log"
        # The Vagrantfile reads the topology itself, and only the text lab.topology validated.
        env = dict(os.environ, LAB_TOPOLOGY=str(settings.topology_path), LAB_TOPOLOGY_SHA256=topology_digest,
                   VAGRANT_DEFAULT_PROVIDER=settings.provider)
        # Vagrant's own checks for updates would try the internet.
        env.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")
        env.setdefault("VAGRANT_BOX_UPDATE_CHECK_DISABLE", "1")
        self.env = env
        vagrant = _python_vagrant()
        self._vagrant = vagrant.Vagrant(
            root=str(settings.root),
            env=env,
            out_cm=vagrant.make_file_cm(str(self.log_path)),
            err_cm=vagrant.make_file_cm(str(self.log_path)),
        )

    @staticmethod
    def check_installed(provider: str) -> None:
        if not shutil.which("vagrant"):
            raise VagrantError("vagrant is not installed (Debian: apt install vagrant; see README)")
        if provider == "virtualbox" and not shutil.which("VBoxManage"):
            raise VagrantError("provider virtualbox: VBoxManage is not installed")

    def check_plugin(self, provider: str) -> None:
        if provider == "libvirt":
            names = {p.name for p in self._vagrant.plugin_list()}
            if "vagrant-libvirt" not in names:
                raise VagrantError("provider libvirt needs the vagrant-libvirt plugin (apt install vagrant-libvirt)")

    def up(self, machines: list[str] | None = None, on_step: Callable[[Step], None] | None = None) -> None:
        """`vagrant up` (all machines at once unless `machines` is given), reporting each phase and note."""
        names = machines or [None]
        for name in names:
            lines = self._vagrant.up(vm_name=name, provider=self.settings.provider, stream_output=True)
            try:
                with open(self.log_path, "a") as log:
                    for line in lines:
                        log.write(_PROGRESS.sub("", line))
                        log.flush()
                        found = step(line)
                        if found and on_step:
                            on_step(found)
            except subprocess.CalledProcessError as e:
                raise VagrantError(f"vagrant up failed (exit {e.returncode}); see {self.log_path}") from None

    def provision(self, machines: list[str], on_step: Callable[[Step], None] | None = None) -> dict[str, str]:
        """Run every provisioner again on running machines, all machines at once (`vagrant provision
        NAME`, one process per machine), streaming their output; returns each machine's output.

        Not `vagrant up --provision`: on a running domain vagrant-libvirt 0.11 provisions twice
        (its action_up has Provision, and action_start calls action_provision when running)."""
        log_lock = threading.Lock()

        vagrant = _python_vagrant()

        def one(name: str) -> str:
            runner = vagrant.Vagrant(root=str(self.settings.root), env=self.env,
                                     err_cm=vagrant.make_file_cm(str(self.log_path)))
            lines = []
            try:
                # python-vagrant 1.0.0 (its last release) streams only up/reload; its streaming
                # helper runs any subcommand the same way.
                for line in runner._stream_vagrant_command(["provision", name]):
                    lines.append(line)
                    with log_lock, open(self.log_path, "a") as log:
                        log.write(_PROGRESS.sub("", line))
                    found = step(line)
                    if found and on_step:
                        on_step(found)
            except subprocess.CalledProcessError as e:
                raise VagrantError(f"provisioning {name} failed (exit {e.returncode}); see {self.log_path}") from None
            return "".join(lines)

        return on_each(machines, one, "vagrant provisioning")

    def snapshot_save(self, name: str) -> None:
        """`vagrant snapshot save NAME` on every machine (a running one keeps running)."""
        self._snapshot_command(["save", name], "saving the snapshot")

    def snapshot_restore(self, name: str) -> None:
        """`vagrant snapshot restore --no-provision NAME` on every machine."""
        self._snapshot_command(["restore", "--no-provision", name], "restoring the snapshot")

    def snapshot_list(self) -> str:
        return self._snapshot_command(["list"], "listing the snapshots")

    def _snapshot_command(self, args: list[str], what: str) -> str:
        try:
            output = self._vagrant._run_vagrant_command(["snapshot", *args])
        except subprocess.CalledProcessError as e:
            raise VagrantError(f"{what} failed (vagrant snapshot {' '.join(args)}: exit {e.returncode}); "
                               f"see {self.log_path}") from None
        with open(self.log_path, "a") as log:
            log.write(output)
        return output

    def status(self) -> dict[str, str]:
        return {s.name: s.state for s in self._vagrant.status()}

    def ssh_config(self) -> str:
        """ssh-config of every machine, from one vagrant call."""
        return self._vagrant.ssh_config()

    def destroy(self, machine: str | None = None) -> None:
        """`vagrant destroy -f` of one machine, or of all."""
        try:
            self._vagrant.destroy(vm_name=machine)
        except subprocess.CalledProcessError as e:
            raise VagrantError(f"vagrant destroy failed (exit {e.returncode}); see {self.log_path}") from None

    def box_names(self) -> set[tuple[str, str]]:
        return {(b.name, b.provider) for b in self._vagrant.box_list()}

    def box_add(self, name: str, path: Path) -> None:
        self._vagrant.box_add(name, str(path), provider=None, force=True)

    def ssh_command(self, name: str) -> list[str]:
        return ["vagrant", "ssh", name]

    def forget_machines(self) -> None:
        """Drop Vagrant's record of machines whose resources were reaped behind its back."""
        shutil.rmtree(self.settings.root / ".vagrant" / "machines", ignore_errors=True)
