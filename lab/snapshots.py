"""The provisioned lab's snapshot: every node as its provisioning left it, before any of the
article's steps, saved with Vagrant's own `vagrant snapshot save` (libvirt and VirtualBox both
have it) right after a bring-up, so that a rerun starts from a restore instead of a rebuild.

A snapshot belongs to the provisioning inputs it was taken with (each node's provision token):
once a script, config or artifact changes, it is refused and the lab must be brought up afresh.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lab.inputs import Fields, kind
from lab.printable import printable

NAME = "nwl-provisioned"
_MACHINE = re.compile(r"^==> (\S+): ?(.*)$")
# What `vagrant snapshot save` takes as a name, and lists back on a line of its own.
_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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


def recorded(raw: object, state_path: Path) -> Snapshot:
    """The snapshot the lab's state records (its `snapshot` field); SnapshotError when there is none
    or it is not one (a hand-edited or damaged state)."""
    if raw is None:
        raise SnapshotError("the lab that is up recorded no snapshot of its provisioned state (it was brought "
                            "up before snapshots, or saving one failed): `python -m lab down` and `up` again")
    f = Fields(state_path, SnapshotError, context="not a snapshot the lab recorded: ")
    f.mapping(raw, "snapshot", allowed=("name", "provision_tokens", "saved_seconds"),
              required=("name", "provision_tokens", "saved_seconds"))
    name = f.text(raw["name"], "snapshot.name", _SNAPSHOT_NAME, "a snapshot name")
    tokens = f.mapping(raw["provision_tokens"], "snapshot.provision_tokens")
    for node, token in tokens.items():
        f.text(token, f"snapshot.provision_tokens.{printable(str(node), 40)}")
    seconds = raw["saved_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        f.fail("snapshot.saved_seconds", f"must be a number of seconds, got {kind(seconds)}")
    return Snapshot(name, dict(tokens), float(seconds))


def usable(snapshot: Snapshot, listed: dict[str, list[str]], tokens: dict[str, str]) -> None:
    """Raise SnapshotError unless every node has the snapshot and it was taken with `tokens`."""
    lacking = sorted(node for node in tokens if snapshot.name not in listed.get(node, []))
    if lacking:
        raise SnapshotError(f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no snapshot "
                            f"{snapshot.name!r} (vagrant snapshot list): `python -m lab down` and `up` again")
    changed = sorted(node for node, token in tokens.items() if snapshot.provision_tokens.get(node) != token)
    if changed:
        raise SnapshotError(f"the provisioning inputs of {', '.join(changed)} changed since the snapshot was "
                            "taken (a script, config or artifact): restoring it would test the old ones; "
                            "`python -m lab down` and `up` again")
