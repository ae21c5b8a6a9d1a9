"""Docker on a node: the engine, and containers started the way the article starts them."""
from __future__ import annotations

import shlex

from lab.node import CommandResult, Node

BUSYBOX = "nomad-weave-lab/busybox:1"
HTTPBACKEND = "nomad-weave-lab/httpbackend:v1.0.0"


def server_version(node: Node) -> str:
    return node.run("docker version --format '{{.Server.Version}}'").stdout.strip()


def run_once(node: Node, image: str, *command: str, timeout: float = 180) -> CommandResult:
    """`docker run --rm IMAGE COMMAND...` and its output."""
    argv = " ".join(shlex.quote(part) for part in command)
    return node.run(f"docker run --rm {shlex.quote(image)} {argv}", timeout=timeout)
