"""Where the lab keeps things, and the choices a run makes (provider, destroy policy, reuse)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lab.inputs import InputError, quoted

DESTROY_POLICIES = ("always", "passing", "never")
# Where Nomad's docker driver talks to Docker: the daemon itself, or the weave proxy (claim I6).
NOMAD_ENDPOINTS = ("docker", "weave-proxy")
# Whether a run uses a lab that is already up: never, only that one, or that one if any.
REUSE = ("no", "yes", "auto", "fresh")


def variable_error(name: str, problem: str) -> InputError:
    """An environment variable's value is unusable: the message names it and shows the value."""
    return InputError(f"{name}={quoted(os.environ.get(name, ''))}: {problem}")


def project_root() -> Path:
    """The directory holding the Vagrantfile: LAB_ROOT, else this checkout, else the cwd."""
    if os.environ.get("LAB_ROOT"):
        try:
            root = Path(os.environ["LAB_ROOT"]).resolve()
            usable = root.is_dir()
        except OSError:  # a name too long for the system
            usable = False
        if not usable:
            raise variable_error("LAB_ROOT", "not a directory (LAB_ROOT names the checkout that holds the "
                                             "Vagrantfile; the lab keeps its state in .lab there)")
        return root
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

    def writable_state_dir(self) -> Path:
        """The state directory, made if needed; refused, naming LAB_ROOT if it set the root, when
        it cannot be written (a command that changes the lab keeps its state and logs there)."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            probe = self.state_dir / f".writable-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            problem = f"cannot write {self.state_dir}: {e.strerror}"
            if os.environ.get("LAB_ROOT") and Path(os.environ["LAB_ROOT"]).resolve() == self.root:
                raise variable_error("LAB_ROOT", problem) from None
            raise InputError(problem) from None
        return self.state_dir

    @property
    def cache_dir(self) -> Path:
        configured = os.environ.get("LAB_CACHE_DIR")
        if configured and not Path(configured).is_absolute():
            raise variable_error("LAB_CACHE_DIR", "must be an absolute path (a relative one would put the cache "
                                                  "wherever the command runs)")
        return Path(configured or Path.home() / ".cache" / "nomad-weave-lab")


@dataclass(frozen=True)
class Timeouts:
    """The bound of every wait and remote command, in seconds, in one place.

    The defaults are for the worst case the lab runs on: three guests under QEMU software
    emulation (TCG) sharing two host cores, the whole stack up. Where the guests run on
    hardware virtualisation (KVM, VirtualBox) the same steps take a fraction of that, so a
    hung step is reported sooner: see `use_timeouts_for`."""

    ssh: float = 180                 # a node answering on SSH after boot
    command: float = 180             # any remote command without a bound of its own
    weave_command: float = 600       # a weave CLI call (it runs a weaveexec container)
    container_start: float = 300     # `docker run -d` and the container running
    container_command: float = 120   # `docker exec` (a ping, a wget)
    weave_mesh: float = 600          # every router's connections to its peers established
    weave_ipam: float = 300          # IPAM ready and the whole mesh reported
    weave_detached: float = 300      # nothing attached to docker's weave network any more
    consul_leader: float = 300
    consul_catalog: float = 180
    nomad_leader: float = 300
    nomad_clients: float = 300
    nomad_job_running: float = 900   # pulls nothing, but starts a container per node
    nomad_job_purged: float = 180
    dns: float = 120                 # a new service name resolving everywhere
    diagnostic_command: float = 60

    def scaled(self, factor: float, floor: float = 30) -> Timeouts:
        return replace(self, **{f.name: max(floor, getattr(self, f.name) * factor) for f in fields(self)})


EMULATED = Timeouts()
HARDWARE = EMULATED.scaled(1 / 3)
_timeouts = EMULATED


def timeouts() -> Timeouts:
    """The bounds for the lab this process drives (emulated until told otherwise)."""
    return _timeouts


def use_timeouts_for(provider: str, libvirt_driver: str | None) -> Timeouts:
    """Pick the bounds by how the guests run: libvirt's `qemu` domain type is software emulation."""
    global _timeouts
    emulated = provider == "libvirt" and libvirt_driver in (None, "qemu")
    _timeouts = EMULATED if emulated else HARDWARE
    return _timeouts
