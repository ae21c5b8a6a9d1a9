"""Vagrant, through python-vagrant: bring the lab's machines up, ask their state, destroy them."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from lab.parallel import on_each
from lab.settings import Settings

# Vagrant redraws upload progress on one line thousands of times: kept out of the log.
_PROGRESS = re.compile(r"(\x1b\[K)?Progress: \d+%")
# `==> u1: Creating shared folders metadata...` (parallel output is prefixed per machine)
_STEP = re.compile(r"^==> (?P<node>[\w.-]+): (?P<message>.*)$")


class VagrantError(RuntimeError):
    pass


def _python_vagrant():
    """python-vagrant, imported when the lab runs Vagrant: on import it warns when vagrant is not on
    PATH, a line commands that never use it (fetch, versions, report) should not print."""
    import vagrant

    return vagrant


class VagrantLab:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = settings.log_dir / "vagrant.log"
        env = dict(os.environ, LAB_TOPOLOGY=str(settings.topology_path), VAGRANT_DEFAULT_PROVIDER=settings.provider)
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

    def up(self, machines: list[str] | None = None, on_step: Callable[[str, str], None] | None = None) -> None:
        """`vagrant up` (all machines at once unless `machines` is given), reporting each step."""
        names = machines or [None]
        for name in names:
            lines = self._vagrant.up(vm_name=name, provider=self.settings.provider, stream_output=True)
            try:
                with open(self.log_path, "a") as log:
                    for line in lines:
                        log.write(_PROGRESS.sub("", line))
                        step = _STEP.match(line.rstrip())
                        if step and on_step:
                            on_step(step["node"], step["message"])
            except subprocess.CalledProcessError as e:
                raise VagrantError(f"vagrant up failed (exit {e.returncode}); see {self.log_path}") from None

    def provision(self, machines: list[str], on_line: Callable[[str, str], None] | None = None) -> dict[str, str]:
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
                    if on_line:
                        on_line(name, line.rstrip())
            except subprocess.CalledProcessError as e:
                raise VagrantError(f"provisioning {name} failed (exit {e.returncode}); see {self.log_path}") from None
            return "".join(lines)

        return on_each(machines, one, "vagrant provisioning")

    def status(self) -> dict[str, str]:
        return {s.name: s.state for s in self._vagrant.status()}

    def ssh_config(self) -> str:
        """ssh-config of every machine, from one vagrant call."""
        return self._vagrant.ssh_config()

    def destroy(self) -> None:
        try:
            self._vagrant.destroy()
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
