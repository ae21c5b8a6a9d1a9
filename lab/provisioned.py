"""Whether a node's provisioning finished, recorded by the lab itself.

Vagrant writes its "already provisioned" sentinel *before* the provisioners run (vagrant 2.3.4,
lib/vagrant/action/builtin/provision.rb), so after a failed provisioning `vagrant up` answers
"Machine already provisioned" and runs nothing. The lab does not rely on it: the Vagrantfile's
first provisioner removes MARKER on the node and its last one writes there the token of what was
provisioned (a digest of the node's stage and of the provisioning sources), which only happens
if every provisioner before it succeeded. The lab compares that with the token it expects.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from lab.node import Node

MARKER = "/etc/nomad-weave-lab/provisioned"
TOKEN_FILE = "provision-token"  # in each node's stage folder; the Vagrantfile reads it


# What provision/stack/*.sh print per component, behind Vagrant's "    u1: " prefix.
_COMPONENT_LINE = re.compile(r"^\s*\S+: (\w+ \S+: (?:unchanged|changed.*))$", re.M)


class ProvisioningIncomplete(RuntimeError):
    pass


def component_lines(outputs: dict[str, str]) -> dict[str, list[str]]:
    """Each node's "consul 1.8.7: unchanged" / "weave 2.8.1: changed: ..." lines, from the output
    of its `vagrant provision` / `vagrant up`."""
    return {node: [m.group(1).strip() for m in _COMPONENT_LINE.finditer(output)] for node, output in outputs.items()}


def token(stage_dir: Path, sources: list[Path]) -> str:
    """Digest of one node's stage folder and the provisioning sources (scripts, Vagrantfile, topology).

    Artifacts count by name and size: they were verified against their sha256 when staged."""
    digest = hashlib.sha256()
    for path in sorted(p for p in stage_dir.rglob("*") if p.is_file() and p.name != TOKEN_FILE):
        relative = path.relative_to(stage_dir)
        content = str(path.stat().st_size).encode() if relative.parts[0] == "artifacts" else path.read_bytes()
        digest.update(str(relative).encode() + b"\0" + content + b"\0")
    for path in sorted(sources):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def sources(root: Path, topology_path: Path) -> list[Path]:
    """What decides a node's provisioning besides its stage: the Vagrantfile, the guest scripts, the topology."""
    return [root / "Vagrantfile", topology_path, *sorted((root / "provision").glob("*.sh"))]


def write_tokens(stage_root: Path, node_names: list[str], source_files: list[Path]) -> dict[str, str]:
    """Compute each node's token and leave it in its stage folder for the Vagrantfile."""
    tokens = {}
    for name in node_names:
        tokens[name] = token(stage_root / name, source_files)
        (stage_root / name / TOKEN_FILE).write_text(tokens[name] + "\n")
    return tokens


def recorded(node: Node) -> str:
    """The token the node's last successful provisioning wrote ("" if none)."""
    return node.run(f"cat {MARKER} 2>/dev/null || true").stdout.strip()


def stale(found: dict[str, str], expected: dict[str, str]) -> dict[str, str]:
    """The nodes whose recorded token is not the expected one (their provisioning did not finish
    with these inputs), with what each recorded."""
    return {name: seen for name, seen in found.items() if seen != expected.get(name)}


def describe(stale: dict[str, str]) -> str:
    """"u2 (no finished provisioning recorded), u3 (provisioned from other inputs)"."""
    why = {True: "provisioned from other inputs", False: "no finished provisioning recorded"}
    return ", ".join(f"{name} ({why[bool(seen)]})" for name, seen in stale.items())
