"""Where the lab keeps things, and the choices a run makes (provider, destroy policy, reuse)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lab.stack.nomad import ENDPOINTS

DESTROY_POLICIES = ("always", "passing", "never")
# Where Nomad's docker driver talks to Docker: the daemon itself, or the weave proxy (claim I6).
NOMAD_ENDPOINTS = tuple(ENDPOINTS)
# Whether a run uses a lab that is already up: never, only that one, or that one if any.
REUSE = ("no", "yes", "auto")


def project_root() -> Path:
    """The directory holding the Vagrantfile: LAB_ROOT, else this checkout, else the cwd."""
    if os.environ.get("LAB_ROOT"):
        return Path(os.environ["LAB_ROOT"]).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "Vagrantfile").exists():
        return checkout
    return Path.cwd()


def detect_provider() -> str:
    """VirtualBox where it is installed (what users run), libvirt otherwise."""
    return "virtualbox" if shutil.which("VBoxManage") else "libvirt"


@dataclass
class Settings:
    root: Path = field(default_factory=project_root)
    provider: str = "auto"
    topology_path: Path | None = None
    destroy: str = "passing"
    reuse: str = "no"
    profile: str = field(default_factory=lambda: os.environ.get("LAB_PROFILE", "current"))
    nomad_endpoint: str = "docker"

    def __post_init__(self):
        if self.provider == "auto":
            self.provider = detect_provider()
        if self.destroy not in DESTROY_POLICIES:
            raise ValueError(f"destroy policy {self.destroy!r} is not one of {', '.join(DESTROY_POLICIES)}")
        if self.nomad_endpoint not in NOMAD_ENDPOINTS:
            raise ValueError(f"nomad endpoint {self.nomad_endpoint!r} is not one of {', '.join(NOMAD_ENDPOINTS)}")
        if self.topology_path is None:
            env = os.environ.get("LAB_TOPOLOGY")
            self.topology_path = Path(env) if env else self.root / "lab" / "topology.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / ".lab"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def cache_dir(self) -> Path:
        return Path(os.environ.get("LAB_CACHE_DIR") or Path.home() / ".cache" / "nomad-weave-lab")
