"""Everything worth reading after a failure, from every node, into one folder (like `kind export logs`).

A failing lab is often a loaded one. So the cheap reads (the kernel's view, logs, the daemons'
own HTTP endpoints) come first and the costly ones (the weave CLI starts a container, the
consul/nomad CLIs are Go programs starting up) last; every command has its own bound, a node
whose commands keep timing out is given up on after a budget, and SUMMARY.txt says which
commands timed out or were skipped, per node. Nodes are collected in parallel.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from invoke.exceptions import CommandTimedOut

from lab.node import Node
from lab.parallel import on_each
from lab.settings import timeouts
from lab.stack.weave import STATUS_ENDPOINT

_NOMAD = "NOMAD_ADDR=http://{ip}:4646 nomad"
CHEAP = {
    "ip-addr.txt": "ip addr",
    "ip-route.txt": "ip route",
    "iptables.txt": "iptables-save",
    "resolv.conf.txt": "cat /etc/resolv.conf",
    "load.txt": "cat /proc/loadavg; free -m; uptime",
    "log-stack-provisioning.txt": "ls -l /etc/nomad-weave-lab/installed /etc/nomad-weave-lab/provisioned; "
                                  "head -n 50 /etc/nomad-weave-lab/installed/* /etc/nomad-weave-lab/provisioned",
    "weave-status.txt": f"curl -sS --max-time 20 {STATUS_ENDPOINT}",
    "weave-status-connections.txt": f"curl -sS --max-time 20 {STATUS_ENDPOINT}/connections",
    "weave-status-peers.txt": f"curl -sS --max-time 20 {STATUS_ENDPOINT}/peers",
    "weave-status-ipam.txt": f"curl -sS --max-time 20 {STATUS_ENDPOINT}/ipam",
    "weave-status-dns.txt": f"curl -sS --max-time 20 {STATUS_ENDPOINT}/dns",
    "consul-members.txt": "curl -sS --max-time 20 http://127.0.0.1:8500/v1/agent/members?pretty",
    "nomad-nodes.txt": "curl -sS --max-time 20 http://{ip}:4646/v1/nodes?pretty",
    "log-docker.txt": "journalctl -u docker --no-pager -n 300",
    "log-consul.txt": "journalctl -u consul --no-pager -n 300",
    "log-nomad.txt": "journalctl -u nomad --no-pager -n 300",
    "log-weave.txt": "docker logs --tail 300 weave",
    "docker-ps.txt": "docker ps -a",
    "docker-network-weave.txt": "docker network inspect weave",
}
COSTLY = {
    "weave-ps.txt": "CHECKPOINT_DISABLE=1 weave ps",
    "consul-raft-peers.txt": "consul operator raft list-peers",
    "nomad-server-members.txt": f"{_NOMAD} server members",
    "nomad-node-status.txt": f"{_NOMAD} node status",
}
COMMANDS = {**CHEAP, **COSTLY}
CONSOLE_LOGS = Path("/var/log/libvirt/qemu")
# A node whose commands keep timing out gets this many command bounds in all, then the rest is skipped.
BUDGET_IN_COMMANDS = 5


@dataclass
class NodeDiagnostics:
    node: str
    timed_out: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.timed_out and not self.skipped:
            return f"{self.node}: every command answered"
        parts = [f"timed out: {', '.join(self.timed_out)}"] if self.timed_out else []
        parts += [f"skipped (budget spent): {', '.join(self.skipped)}"] if self.skipped else []
        return f"{self.node}: {'; '.join(parts)}"


def collect_node(node: Node, folder: Path, console: Path | None = None) -> NodeDiagnostics:
    folder.mkdir(parents=True, exist_ok=True)
    outcome = NodeDiagnostics(node.name)
    bound = timeouts().diagnostic_command
    deadline = time.monotonic() + BUDGET_IN_COMMANDS * bound
    for filename, template in COMMANDS.items():
        command = template.format(ip=node.hostonly_ip)
        if time.monotonic() > deadline and outcome.timed_out:
            outcome.skipped.append(command)
            text = f"$ {command}\n(skipped: {len(outcome.timed_out)} commands timed out on this node already)\n"
        else:
            try:
                result = node.run(command, check=False, timeout=bound)
                text = f"$ {command}\n(exit {result.exit_status})\n{result.stdout}{result.stderr}"
            except CommandTimedOut:
                outcome.timed_out.append(command)
                text = f"$ {command}\n(timed out after {bound:.0f}s)\n"
            except Exception as e:  # noqa: BLE001 - a diagnostic must not hide the failure it documents
                text = f"$ {command}\n(could not run: {e!r})\n"
        (folder / filename).write_text(text)
    if console is not None and console.exists():
        shutil.copyfile(console, folder / "serial-console.log")
    (folder / "SUMMARY.txt").write_text(outcome.summary() + "\n")
    return outcome


def collect(nodes: list[Node], dest: Path, console_prefix: str | None = None) -> list[NodeDiagnostics]:
    """Every diagnostic of every node, in parallel, into dest/<node>/; dest/SUMMARY.txt says what did not answer."""
    dest.mkdir(parents=True, exist_ok=True)

    def one(node: Node) -> NodeDiagnostics:
        console = CONSOLE_LOGS / f"{console_prefix}{node.name}-console.log" if console_prefix else None
        return collect_node(node, dest / node.name, console)

    outcomes = list(on_each(nodes, one, "collecting diagnostics").values())
    (dest / "SUMMARY.txt").write_text("".join(o.summary() + "\n" for o in outcomes))
    return outcomes
