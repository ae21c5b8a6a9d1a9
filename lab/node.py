"""One lab node: commands over a persistent SSH connection (fabric), state through testinfra."""
from __future__ import annotations

import ipaddress
import shlex
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import fabric
import paramiko
import testinfra

from lab import topology
from lab.settings import timeouts


@dataclass(frozen=True)
class SshEndpoint:
    host: str
    port: int
    user: str
    identity_file: str

    @classmethod
    def from_ssh_config(cls, text: str, name: str) -> SshEndpoint:
        config = paramiko.SSHConfig.from_text(text)
        if name not in config.get_hostnames():
            raise KeyError(f"vagrant ssh-config has no entry for {name}")
        entry = config.lookup(name)
        return cls(entry["hostname"], int(entry.get("port", 22)), entry["user"], entry["identityfile"][0])


@dataclass(frozen=True)
class CommandResult:
    node: str
    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class CommandError(RuntimeError):
    def __init__(self, result: CommandResult):
        self.result = result
        detail = (result.stderr.strip() or result.stdout.strip())[-800:]
        super().__init__(f"{result.node}: `{result.command}` exited {result.exit_status}: {detail}")


class Node:
    """A lab VM. `run` for commands, `host` (testinfra) for state, `put` for files."""

    def __init__(self, spec: topology.Node, ssh: SshEndpoint, ssh_config_path: Path):
        self.spec = spec
        self.ssh = ssh
        self.ssh_config_path = ssh_config_path
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Node({self.name})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hostonly_ip(self) -> ipaddress.IPv4Address:
        return self.spec.hostonly_ip

    @property
    def nat_ip(self) -> ipaddress.IPv4Address:
        return self.spec.nat_ip

    @cached_property
    def connection(self) -> fabric.Connection:
        return fabric.Connection(
            self.ssh.host,
            port=self.ssh.port,
            user=self.ssh.user,
            connect_timeout=30,
            connect_kwargs={"key_filename": self.ssh.identity_file, "look_for_keys": False, "allow_agent": False},
        )

    @cached_property
    def host(self) -> testinfra.host.Host:
        return testinfra.get_host(f"paramiko://{self.name}", ssh_config=str(self.ssh_config_path), sudo=True)

    def run(self, command: str, *, sudo: bool = True, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        """Run a shell command on the node (as root unless sudo=False), bounded by `timeout`
        (default: settings.Timeouts.command)."""
        timeout = timeouts().command if timeout is None else timeout
        wrapped = f"sudo -n -- sh -c {shlex.quote(command)}" if sudo else command
        with self._lock:  # one fabric connection serves one command at a time
            raw = self.connection.run(wrapped, hide=True, warn=True, timeout=timeout, in_stream=False)
        result = CommandResult(self.name, command, raw.exited, raw.stdout, raw.stderr)
        if check and not result.ok:
            raise CommandError(result)
        return result

    def put(self, local: Path, remote: str, mode: str = "0644") -> None:
        """Copy a file to the node and install it, as root, at `remote`."""
        staging = f"/tmp/.nwl-{Path(remote).name}.{threading.get_ident()}"
        with self._lock:
            self.connection.put(str(local), staging)
        self.run(f"install -D -m {mode} {shlex.quote(staging)} {shlex.quote(remote)} && rm -f {shlex.quote(staging)}")

    def close(self) -> None:
        if "connection" in self.__dict__:
            self.connection.close()
        if "host" in self.__dict__:
            backend = self.host.backend
            if "client" in backend.__dict__:
                backend.client.close()
