"""One lab per machine: the lab's resources (nwl-* domains, networks, addresses) are host-wide, so
the checkout that brings a lab up records itself as their owner until it tears the lab down.
Another checkout's `up` or `reap` is refused while that owner is alive.

"Alive" is judged by processes, never by files alone: files survive a killed job, a rebooted
machine or a restored container snapshot, the processes do not. The owner is alive while the
process that claimed the lab runs (same PID and start time), while a VM of the lab runs, or while
a libvirt daemon that checkout started runs."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


class LabBusy(RuntimeError):
    pass


@dataclass(frozen=True)
class Owner:
    root: str
    pid: int
    started: int | None = None   # the claiming process's start time (clock ticks after boot)

    def alive(self, lab_name: str, proc: Path = PROC) -> bool:
        return (self._claimer_running(proc) or bool(vm_processes(lab_name, proc))
                or self._daemons_running(proc))

    def _claimer_running(self, proc: Path) -> bool:
        started = start_time(self.pid, proc)
        if started is None:
            return False
        if self.started is not None:
            return started == self.started
        # Written before start times were recorded: the PID may have been reused since.
        try:
            return b"python" in (proc / str(self.pid) / "cmdline").read_bytes()
        except OSError:
            return False

    def _daemons_running(self, proc: Path) -> bool:
        for pid_file in (Path(self.root) / ".lab" / "daemons").glob("*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                comm = (proc / str(pid) / "comm").read_text().strip()
            except (OSError, ValueError):
                continue
            if comm == pid_file.stem:
                return True
        return False


def start_time(pid: int, proc: Path = PROC) -> int | None:
    """The start time of a live, non-zombie process, or None if there is none with that PID."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # the command name may contain spaces
    return None if fields[0] == "Z" else int(fields[19])


def vm_processes(lab_name: str, proc: Path = PROC) -> list[int]:
    """PIDs of the lab's VMs: QEMU names them `guest=<lab>-<node>`, VirtualBox `--comment <lab>-<node>`."""
    markers = (f"guest={lab_name}-".encode(), f"--comment\0{lab_name}-".encode())
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            found.append(int(entry.name))
    return found


def owner_file(lab_name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"nomad-weave-lab-{lab_name}.owner"


def current(lab_name: str) -> Owner | None:
    path = owner_file(lab_name)
    try:
        return Owner(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def check(lab_name: str, root: Path) -> None:
    """Raise LabBusy if another live checkout owns the lab's resources."""
    owner = current(lab_name)
    if owner is not None and owner.root != str(root) and owner.alive(lab_name):
        raise LabBusy(f"the {lab_name}-* lab on this machine belongs to {owner.root} (pid {owner.pid}): "
                      f"tear it down there (python -m lab down) before using it from {root}")


def claim(lab_name: str, root: Path) -> None:
    check(lab_name, root)
    me = os.getpid()
    owner_file(lab_name).write_text(json.dumps({"root": str(root), "pid": me, "started": start_time(me)}))


def release(lab_name: str, root: Path) -> None:
    owner = current(lab_name)
    if owner is None or owner.root == str(root) or not owner.alive(lab_name):
        owner_file(lab_name).unlink(missing_ok=True)
