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

    def alive(self, lab_name: str, proc: Path | None = None) -> bool:
        return bool(self.evidence(lab_name, proc))

    def evidence(self, lab_name: str, proc: Path | None = None) -> list[str]:
        """What shows the owner alive: its claiming process, the lab's VMs, the daemons it started."""
        proc = proc or PROC
        found = []
        if self._claimer_running(proc):
            found.append(f"the process that brought it up (pid {self.pid}) runs")
        vms = vm_processes(lab_name, proc)
        if vms:
            found.append(f"{len(vms)} VM process(es) of the lab run (pid {', '.join(map(str, vms))})")
        found += [f"{name} (pid {pid}), started there, runs" for name, pid in self._daemons_running(proc)]
        return found

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

    def _daemons_running(self, proc: Path) -> list[tuple[str, int]]:
        running = []
        for pid_file in sorted((Path(self.root) / ".lab" / "daemons").glob("*.pid")):
            try:
                pid = int(pid_file.read_text().strip())
                comm = (proc / str(pid) / "comm").read_text().strip()
            except (OSError, ValueError):
                continue
            if comm == pid_file.stem:
                running.append((comm, pid))
        return running


def start_time(pid: int, proc: Path | None = None) -> int | None:
    """The start time of a live, non-zombie process, or None if there is none with that PID."""
    proc = proc or PROC
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # the command name may contain spaces
    return None if fields[0] == "Z" else int(fields[19])


def vm_processes(lab_name: str, proc: Path | None = None) -> list[int]:
    """PIDs of the lab's VMs: QEMU names them `guest=<lab>-<node>`, VirtualBox `--comment <lab>-<node>`."""
    markers = (f"guest={lab_name}-".encode(), f"--comment\0{lab_name}-".encode())
    found = []
    for entry in (proc or PROC).iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            found.append(int(entry.name))
    return sorted(found)


def owner_file(lab_name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"nomad-weave-lab-{lab_name}.owner"


def current(lab_name: str) -> Owner | None:
    path = owner_file(lab_name)
    try:
        return Owner(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def foreign_owner(lab_name: str, root: Path, proc: Path | None = None) -> Owner | None:
    """The other checkout that owns the lab's resources and is alive, if there is one."""
    owner = current(lab_name)
    if owner is not None and owner.root != str(root) and owner.alive(lab_name, proc):
        return owner
    return None


def check(lab_name: str, root: Path) -> None:
    """Raise LabBusy if another live checkout owns the lab's resources."""
    owner = foreign_owner(lab_name, root)
    if owner is not None:
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
