"""Everything worth reading after a failure, from every node, into one folder (like `kind export logs`)."""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.node import Node
from lab.settings import timeouts

_WEAVE = "CHECKPOINT_DISABLE=1 weave"
_NOMAD = "NOMAD_ADDR=http://{ip}:4646 nomad"
COMMANDS = {
    "weave-status.txt": f"{_WEAVE} status",
    "weave-status-connections.txt": f"{_WEAVE} status connections",
    "weave-ps.txt": f"{_WEAVE} ps",
    "docker-ps.txt": "docker ps -a",
    "ip-addr.txt": "ip addr",
    "ip-route.txt": "ip route",
    "iptables.txt": "iptables-save",
    "resolv.conf.txt": "cat /etc/resolv.conf",
    "consul-members.txt": "consul members",
    "consul-raft-peers.txt": "consul operator raft list-peers",
    "nomad-node-status.txt": f"{_NOMAD} node status",
    "nomad-server-members.txt": f"{_NOMAD} server members",
    "log-docker.txt": "journalctl -u docker --no-pager -n 300",
    "log-weave.txt": "docker logs --tail 300 weave",
    "log-consul.txt": "journalctl -u consul --no-pager -n 300",
    "log-nomad.txt": "journalctl -u nomad --no-pager -n 300",
    "log-stack-provisioning.txt": "ls -l /etc/nomad-weave-lab/installed; head -n 50 /etc/nomad-weave-lab/installed/*",
}
CONSOLE_LOGS = Path("/var/log/libvirt/qemu")


def collect(nodes: list[Node], dest: Path, console_prefix: str | None = None) -> Path:
    """Run every diagnostic command on every node (in parallel) and write the answers to dest/<node>/."""
    dest.mkdir(parents=True, exist_ok=True)

    def one(node: Node) -> None:
        folder = dest / node.name
        folder.mkdir(exist_ok=True)
        for filename, command in COMMANDS.items():
            command = command.format(ip=node.hostonly_ip)
            try:
                result = node.run(command, check=False, timeout=timeouts().diagnostic_command)
                text = f"$ {command}\n(exit {result.exit_status})\n{result.stdout}{result.stderr}"
            except Exception as e:  # noqa: BLE001 - a diagnostic must not hide the failure it documents
                text = f"$ {command}\n(could not run: {e!r})\n"
            (folder / filename).write_text(text)
        if console_prefix:
            console = CONSOLE_LOGS / f"{console_prefix}{node.name}-console.log"
            if console.exists():
                shutil.copyfile(console, folder / "serial-console.log")

    with ThreadPoolExecutor(max(1, len(nodes))) as pool:
        list(pool.map(one, nodes))
    return dest
