"""Docker on a node: the engine, and containers started the way the article starts them."""
from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass

from lab import parse, recorder, wait
from lab.node import CommandError, CommandResult, Node
from lab.settings import timeouts
from lab.stack.weave import PROXY_SOCKET

BUSYBOX = "nomad-weave-lab/busybox:1"
HTTPBACKEND = "nomad-weave-lab/httpbackend:v1.0.0"
# The proxy names the overlay interface `ethwe`, the plugin (--net=weave) `ethwe0`.
WEAVE_INTERFACES = ("ethwe0", "ethwe")


def server_version(node: Node) -> str:
    return node.run("docker version --format '{{.Server.Version}}'").stdout.strip()


def run_once(node: Node, image: str, *command: str) -> CommandResult:
    """`docker run --rm IMAGE COMMAND...` and its output."""
    argv = " ".join(shlex.quote(part) for part in command)
    return node.run(f"docker run --rm {shlex.quote(image)} {argv}", timeout=timeouts().container_start)


class ContainerGone(RuntimeError):
    """A container a check depends on is not running: the check proves nothing, so it errors."""


@dataclass(frozen=True)
class Container:
    node: Node
    name: str

    def __repr__(self) -> str:
        return f"{self.name}@{self.node.name}"

    def exec(self, command: str, check: bool = True) -> CommandResult:
        """COMMAND in the container. A failed exec of a container that is not running raises
        ContainerGone: asked only then, since a `docker inspect` before every exec costs a docker
        CLI start (seconds on an emulated node) for what the failure itself reveals."""
        result = self.node.run(f"docker exec {self.name} sh -c {shlex.quote(command)}", check=False,
                               timeout=timeouts().container_command)
        if not result.ok and not self.is_running():
            raise ContainerGone(f"container {self} is not running "
                                f"(docker exec: {result.stderr.strip() or result.stdout.strip()})")
        if check and not result.ok:
            raise CommandError(result)
        return result

    def is_running(self) -> bool:
        result = self.node.run(f"docker inspect -f '{{{{.State.Running}}}}' {self.name}", check=False)
        return result.ok and result.stdout.strip() == "true"

    def addresses(self) -> dict[str, list[ipaddress.IPv4Interface]]:
        return parse.ip_addrs(recorder.record("ip_addrs_busybox", self.exec("ip -4 addr")).stdout)

    def weave_address(self) -> ipaddress.IPv4Interface | None:
        """The container's overlay address (ethwe0 with --net=weave, ethwe through the proxy)."""
        addresses = self.addresses()
        for interface in WEAVE_INTERFACES:
            if addresses.get(interface):
                return addresses[interface][0]
        return None

    def ping(self, address, count: int = 3) -> parse.PingResult:
        """BusyBox `ping -c COUNT` from inside the container; the container must be running."""
        result = self.exec(f"ping -c {count} -W 2 {address}", check=False)
        if "ping statistics" not in result.stdout:
            raise ContainerGone(f"ping in {self} did not run: {result.stderr.strip() or result.stdout.strip()}")
        return parse.ping(recorder.record("ping_busybox", result).stdout)

    def resolve(self, name: str) -> list[ipaddress.IPv4Address]:
        """NAME's addresses through the container's own resolver configuration (its resolv.conf:
        Docker's embedded DNS on a user network, which forwards to `--dns`). BusyBox nslookup has
        its own DNS client; the image's static-glibc BusyBox cannot use getaddrinfo (see http_get)."""
        result = self.exec(f"nslookup {shlex.quote(name)}", check=False)
        return parse.busybox_nslookup(recorder.record("busybox_nslookup", result).stdout)

    def http_get(self, address, port: int, host: str | None = None, path: str = "/") -> parse.HttpResponse:
        """GET PATH from ADDRESS:PORT with a hand-written HTTP/1.0 request through BusyBox nc.

        Not BusyBox wget: Debian's busybox-static is linked against glibc, and its wget segfaults
        (exit 139) in the bare test image, even for an address literal."""
        request = f"GET {path} HTTP/1.0\\r\\nHost: {host or address}:{port}\\r\\n\\r\\n"
        result = self.exec(f"printf {shlex.quote(request)} | nc -w 10 {address} {port}", check=False)
        return parse.http_response(recorder.record("http_response", result).stdout)

    def remove(self) -> None:
        self.node.run(f"docker rm -f {self.name}", check=False)


def start(
    node: Node,
    name: str,
    image: str = BUSYBOX,
    *,
    net: str | None = None,
    env: dict[str, str] | None = None,
    dns: list = (),
    via_weave_proxy: bool = False,
    command: tuple[str, ...] = ("sleep", "86400"),
) -> Container:
    """`docker [-H weave.sock] run -d --name NAME [--net=NET] [--dns=..] [-e K=V] IMAGE CMD`."""
    args = ["docker"]
    if via_weave_proxy:
        args += ["-H", PROXY_SOCKET]
    args += ["run", "-d", "--name", name]
    if net:
        args.append(f"--net={net}")
    args += [f"--dns={server}" for server in dns]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    args += [image, *command]
    node.run(" ".join(shlex.quote(a) for a in args), timeout=timeouts().container_start)
    container = Container(node, name)
    wait.until(container.is_running, f"container {container} to run", timeout=timeouts().container_start,
               interval=1)
    return container
