"""One lab per machine: the lab's resources (nwl-* domains, networks, addresses) are host-wide, so
the checkout that brings a lab up records itself as their owner until it tears the lab down.
Another checkout's `up` or `reap` is refused while that owner is alive."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


class LabBusy(RuntimeError):
    pass


@dataclass(frozen=True)
class Owner:
    root: str
    pid: int

    def alive(self) -> bool:
        """Still owning: its bring-up is running, or its lab is up (its state file exists)."""
        if (Path(self.root) / ".lab" / "state.json").exists():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


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
    if owner is not None and owner.root != str(root) and owner.alive():
        raise LabBusy(f"the {lab_name}-* lab on this machine belongs to {owner.root} (pid {owner.pid}): "
                      f"tear it down there (python -m lab down) before using it from {root}")


def claim(lab_name: str, root: Path) -> None:
    check(lab_name, root)
    owner_file(lab_name).write_text(json.dumps({"root": str(root), "pid": os.getpid()}))


def release(lab_name: str, root: Path) -> None:
    owner = current(lab_name)
    if owner is None or owner.root == str(root) or not owner.alive():
        owner_file(lab_name).unlink(missing_ok=True)
