"""The libvirt box, built offline by provision/box/build.sh and cached by a hash of its recipe."""
from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from lab.settings import Settings

RECIPE_ENV = ("LAB_DEBIAN_MIRROR", "LAB_BOX_SUITE", "LAB_BOX_DISK_GIB", "LAB_VAGRANT_PUBKEY")
# Files outside provision/box that the box is built from: the test images are baked into it.
RECIPE_FILES = ("provision/images.sh",)


class BoxError(RuntimeError):
    pass


def recipe_dir(settings: Settings) -> Path:
    return settings.root / "provision" / "box"


def recipe_hash(settings: Settings) -> str:
    """Hash of everything that decides the box's content: the recipe files and their settings."""
    digest = hashlib.sha256()
    base = recipe_dir(settings)
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (settings.root / name).read_bytes() + b"\0")
    for name in RECIPE_ENV:
        digest.update(f"{name}={os.environ.get(name, '')}\0".encode())
    return digest.hexdigest()[:16]


class BoxCache:
    def __init__(self, settings: Settings, box_name: str, say: Callable[[str], None] = print):
        self.settings = settings
        self.box_name = box_name
        self.say = say
        self.dir = settings.cache_dir / "box"
        self.hash = recipe_hash(settings)

    @property
    def box_file(self) -> Path:
        return self.dir / f"debian12-{self.hash}.box"

    @property
    def installed_marker(self) -> Path:
        return self.dir / f"installed-{self.box_name.replace('/', '_')}"

    def is_current(self, installed_boxes: set[tuple[str, str]]) -> bool:
        marker = self.installed_marker.read_text().strip() if self.installed_marker.exists() else ""
        return marker == self.hash and (self.box_name, "libvirt") in installed_boxes

    def ensure(self, installed_boxes: set[tuple[str, str]], add: Callable[[str, Path], None]) -> bool:
        """Make the box `box_name` the one built from the current recipe. True if it changed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.dir / ".lock"), timeout=3600):
            if self.is_current(installed_boxes):
                return False
            if not self.box_file.exists():
                self.build()
            self.say(f"adding {self.box_name} ({self.box_file.name}) to Vagrant")
            add(self.box_name, self.box_file)
            self.installed_marker.write_text(self.hash + "\n")
            return True

    def build(self) -> None:
        log_path = self.settings.log_dir / "box-build.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        script = recipe_dir(self.settings) / "build.sh"
        command = ["bash", str(script), str(self.box_file)]
        if os.geteuid() != 0:
            command = ["sudo", "--preserve-env=" + ",".join(RECIPE_ENV), *command]
        self.say(f"building {self.box_file.name} from Debian packages (about 3 minutes; log {log_path})")
        with open(log_path, "a") as log:
            proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            tail = log_path.read_text().splitlines()[-15:]
            raise BoxError("box build failed:\n  " + "\n  ".join(tail))
        for stale in self.dir.glob("debian12-*.box"):
            if stale != self.box_file:
                stale.unlink()
