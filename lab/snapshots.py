"""The provisioned lab's snapshot: every node as its provisioning left it, before any of the
article's steps, saved with Vagrant's own `vagrant snapshot save` (libvirt and VirtualBox both
have it) right after a bring-up, so that a rerun starts from a restore instead of a rebuild.

A snapshot belongs to the provisioning inputs it was taken with (each node's provision token):
once a script, config or artifact changes, it is refused and the lab must be brought up afresh.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME = "nwl-provisioned"
_MACHINE = re.compile(r"^==> (\S+): ?(.*)$")


class SnapshotError(RuntimeError):
    """The lab has no usable snapshot; the message says why and what to do."""


@dataclass
class Snapshot:
    """What the lab's state records about its snapshot."""

    name: str
    provision_tokens: dict[str, str] = field(default_factory=dict)
    saved_seconds: float = 0.0


def names_by_machine(output: str) -> dict[str, list[str]]:
    """The snapshots of each machine in `vagrant snapshot list`'s output (a machine without any
    says "No snapshots have been taken yet!", followed by an indented hint)."""
    found: dict[str, list[str]] = {}
    machine = None
    for line in output.splitlines():
        header = _MACHINE.match(line)
        if header:
            machine = header.group(1)
            found.setdefault(machine, [])
            rest = header.group(2).strip()
            if rest and not rest.startswith("No snapshots"):
                found[machine].append(rest)
        elif machine and line.strip() and not line.startswith(" "):
            found[machine].append(line.strip())
    return found


def usable(snapshot: Snapshot | None, listed: dict[str, list[str]], tokens: dict[str, str]) -> None:
    """Raise SnapshotError unless every node has the snapshot and it was taken with `tokens`."""
    if snapshot is None:
        raise SnapshotError("the lab that is up recorded no snapshot of its provisioned state (it was brought "
                            "up before snapshots, or saving one failed): `python -m lab down` and `up` again")
    lacking = sorted(node for node in tokens if snapshot.name not in listed.get(node, []))
    if lacking:
        raise SnapshotError(f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no snapshot "
                            f"{snapshot.name!r} (vagrant snapshot list): `python -m lab down` and `up` again")
    changed = sorted(node for node, token in tokens.items() if snapshot.provision_tokens.get(node) != token)
    if changed:
        raise SnapshotError(f"the provisioning inputs of {', '.join(changed)} changed since the snapshot was "
                            "taken (a script, config or artifact): restoring it would test the old ones; "
                            "`python -m lab down` and `up` again")
