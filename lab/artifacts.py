"""Version profiles (lab/versions.yaml), the artifact cache, and how artifacts get into it.

The cache holds one file per artifact, under <cache>/artifacts/<component>/<version>/, and an
index recording each file's sha256 and how it was verified. A file is usable only if its
sha256 matches the pin in versions.yaml, or (where nothing is pinned) what was recorded when it
was fetched and verified, or when the operator supplied it (`fetch --from DIR --accept-unpinned`).
Anything else is refused, with the reason, and nothing is installed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from filelock import FileLock, Timeout

from lab import supplied
from lab.images import REF, NotADockerSave, normalise, saved_tags
from lab.inputs import TOP, Fields, InputError, from_variable, kind, load_yaml, parse_json, quoted, read_text
from lab.printable import printable
from lab.trust import FIRST_USE, LABELS, OPERATOR, OPERATOR_DIFFERS, OPERATOR_UNPINNED, VERIFIED

MANIFEST = Path(__file__).with_name("versions.yaml")
COMPONENTS = ("docker", "weave", "consul", "nomad")
SOURCES = ("hashicorp", "url", "images", "debian", "box")
HASHICORP_RELEASES = "https://releases.hashicorp.com"
# HashiCorp's public key as `fetch --from DIR` accepts it in DIR (there is no copy in this repo).
HASHICORP_KEY_FILES = ("hashicorp.asc", "hashicorp-pgp-key.txt")


class ArtifactError(RuntimeError):
    pass


@dataclass(frozen=True)
class Artifact:
    component: str
    role: str  # binary, package, script, images
    version: str
    source: str
    filename: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    refs: tuple[str, ...] = ()
    debian: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.component} {self.version} ({self.filename})"


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    artifacts: tuple[Artifact, ...]
    settings: dict

    @property
    def hcl(self) -> int | None:
        return self.settings.get("hcl")

    @property
    def env(self) -> dict[str, str]:
        return dict(self.settings.get("env", {}))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    components: dict[str, Component]
    signing_key: dict

    def versions(self) -> dict[str, str]:
        return {name: c.version for name, c in self.components.items()}

    def artifacts(self, only: tuple[str, ...] = ()) -> list[Artifact]:
        return [a for c in self.components.values() if not only or c.name in only for a in c.artifacts]


def manifest_path() -> Path:
    """lab/versions.yaml, or the file LAB_VERSIONS names."""
    return Path(os.environ.get("LAB_VERSIONS") or MANIFEST)


def load_profiles(path: Path | None = None) -> dict[str, Profile]:
    """Every profile of the manifest, each checked (the first problem found is raised)."""
    manifest = _Manifest(path or manifest_path())
    return {name: manifest.profile(name) for name in manifest.names}


def profile(name: str, path: Path | None = None) -> Profile:
    """One profile, checked with what it extends (a problem in another profile does not matter here)."""
    manifest = _Manifest(path or manifest_path())
    if name not in manifest.names:
        manifest.fields().fail("profiles", f"unknown profile {quoted(name)}{from_variable('LAB_PROFILE', name)}: "
                                           f"use one of {', '.join(manifest.names)}")
    return manifest.profile(name)


class ManifestError(InputError, ArtifactError):
    """lab/versions.yaml is unusable; the message names the file, the key path and the problem."""


PROFILE_NAME = re.compile(r"[a-z][a-z0-9-]*")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+~_-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{40}")
_URL = re.compile(r"https?://[^\s/]+/\S*")
# Plain http only from this machine itself (a local mirror, the tests' release server).
_KEY_URL = re.compile(r"(https://[^\s/]+|http://(127\.0\.0\.1|localhost)(:[0-9]+)?)/\S*")
_DEB_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~_-]*\.deb")
_DEB_PACKAGE = re.compile(r"[a-z0-9][a-z0-9.+-]+")
_DEB_VERSION = re.compile(r"[0-9][A-Za-z0-9.+~:-]*")
_SUITE = re.compile(r"[a-z][a-z0-9-]*")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# A component's env goes into the stage's stack.env (sourced by the provisioning scripts) and
# before every `weave` command: it may not replace what the stage writes there itself
# (lab/stage.py), nor the shell's own variables, which would change how the scripts run.
STAGE_ENV = ("NODE", "HOSTONLY_IP", "COMPONENTS", "MISSING", "WEAVE_SCRIPT", "WEAVE_IMAGES_TAR", "WEAVE_IMAGES",
             "WEAVE_IMAGE_IDS", "WEAVE_API_VERSION", "CONSUL_ARTIFACT", "NOMAD_ARTIFACT", "NOMAD_ENDPOINT")
SHELL_ENV = ("PATH", "IFS", "HOME", "SHELL", "ENV", "BASH_ENV", "BASHOPTS", "SHELLOPTS", "CDPATH", "GLOBIGNORE",
             "PS4", "PWD", "OLDPWD", "TMPDIR", "UID", "EUID", "PPID")
SHELL_ENV_PREFIXES = ("LD_", "BASH_", "LC_")
# Keys of a component's entry, by its source; every component may carry a note.
_SOURCE_KEYS = {
    "box": {"version", "source"},
    "hashicorp": {"version", "source", "sha256", "size"},
    "debian": {"version", "source", "package", "package_version", "suite", "filename", "sha256", "size"},
}
# Where each component can come from: Docker is the box's own (provisioning installs none); the
# HashiCorp binaries from HashiCorp's releases or a Debian package. weave has an entry of its own.
_COMPONENT_SOURCES = {"docker": ("box",), "consul": ("hashicorp", "debian"), "nomad": ("hashicorp", "debian")}
_DEBIAN_REQUIRED = ("package", "package_version", "suite", "filename", "sha256")
_COMPONENT_KEYS = {"nomad": {"hcl"}}
_WEAVE_KEYS = {"version", "script", "images", "env"}


class _Manifest:
    """lab/versions.yaml, read strictly: unknown keys, wrong types and malformed values are refused."""

    def __init__(self, path: Path):
        self.path = path
        f = self.fields()
        raw = f.mapping(load_yaml(path, "the version profiles", ManifestError, variable="LAB_VERSIONS"), TOP,
                        allowed={"hashicorp_signing_key", "profiles"}, required=("hashicorp_signing_key", "profiles"))
        key = f.mapping(raw["hashicorp_signing_key"], "hashicorp_signing_key", allowed={"fingerprint", "url"},
                        required=("fingerprint", "url"))
        self.signing_key = {
            "fingerprint": f.text(key["fingerprint"], "hashicorp_signing_key.fingerprint", _FINGERPRINT,
                                  "a key fingerprint (40 hex digits)"),
            # Fetched whole to check the release sums' signature: over plain http anyone between could swap it.
            "url": f.text(key["url"], "hashicorp_signing_key.url", _KEY_URL,
                          "an https:// URL (or http:// on this machine)"),
        }
        self.raw = f.mapping(raw["profiles"], "profiles")
        if not self.raw:
            f.fail("profiles", "names no profile")
        for name in self.raw:
            f.text(name, f"profiles.{name}", PROFILE_NAME, "a profile name (lower-case letters, digits, dashes)")
            f.mapping(self.raw[name], f"profiles.{name}")
        self.names = list(self.raw)

    def fields(self, context: str = "") -> Fields:
        return Fields(self.path, ManifestError, context)

    def chain(self, name: str) -> list[str]:
        """The profile, what it extends, what that extends, ..."""
        chain = [name]
        while "extends" in self.raw[chain[-1]]:
            where = f"profiles.{chain[-1]}.extends"
            parent = self.fields().text(self.raw[chain[-1]]["extends"], where)
            if parent not in self.raw:
                self.fields().fail(where, f"unknown profile {quoted(parent)} (profiles: {', '.join(self.names)})")
            if parent in chain:
                self.fields().fail(where, f"profile {chain[0]} extends itself ({' -> '.join([*chain, parent])})")
            chain.append(parent)
        return chain

    def profile(self, name: str) -> Profile:
        chain = self.chain(name)
        merged: dict[str, tuple[str, object]] = {}  # key -> (the profile it comes from, its value)
        for source in reversed(chain):
            self.fields().mapping(self.raw[source], f"profiles.{source}", allowed={"extends", "description",
                                                                                  *COMPONENTS})
            merged.update((key, (source, value)) for key, value in self.raw[source].items() if key != "extends")
        missing = [c for c in COMPONENTS if c not in merged]
        if missing:
            self.fields().fail(f"profiles.{name}", f"lacks {', '.join(missing)}"
                                                   + (f" (also in {', '.join(chain[1:])})" if chain[1:] else ""))
        components = {}
        for component in COMPONENTS:
            source, entry = merged[component]
            context = " extends ".join(chain[:chain.index(source) + 1]) + ": " if source != name else ""
            components[component] = _component(component, entry, f"profiles.{source}.{component}",
                                               self.fields(context))
        description = ""
        if "description" in merged:
            source, value = merged["description"]
            description = self.fields().text(value, f"profiles.{source}.description")
        return Profile(name, description, components, self.signing_key)


def _component(name: str, entry: object, where: str, f: Fields) -> Component:
    if name == "weave":
        return _weave(entry, where, f)
    entry = f.mapping(entry, where, required=("version", "source"))
    source = f.one_of(entry["source"], f"{where}.source", _COMPONENT_SOURCES[name])
    f.mapping(entry, where, allowed=_SOURCE_KEYS[source] | _COMPONENT_KEYS.get(name, set()) | {"note"})
    version = f.text(entry["version"], f"{where}.version", _VERSION, "a version (letters, digits, . + ~ _ -)")
    pins = _pins(entry, where, f)
    artifacts: list[Artifact] = []
    if source == "hashicorp":
        filename = f"{name}_{version}_linux_amd64.zip"
        releases = _hashicorp_releases()
        artifacts.append(Artifact(name, "binary", version, "hashicorp", filename,
                                  f"{releases}/{name}/{version}/{filename}", **pins))
    elif source == "debian":
        f.mapping(entry, where, required=_DEBIAN_REQUIRED)
        debian = {
            "package": f.text(entry["package"], f"{where}.package", _DEB_PACKAGE, "a Debian package name"),
            "package_version": f.text(entry["package_version"], f"{where}.package_version", _DEB_VERSION,
                                      "a Debian package version"),
            "suite": f.text(entry["suite"], f"{where}.suite", _SUITE, "a Debian suite"),
        }
        filename = f.text(entry["filename"], f"{where}.filename", _DEB_FILE, "a .deb file name (no directory)")
        artifacts.append(Artifact(name, "package", version, "debian", filename, debian=debian, **pins))
    settings = {k: v for k, v in entry.items() if k not in ("version", "source")}
    if name == "nomad":
        f.mapping(entry, where, required=("hcl",))
        f.one_of(entry["hcl"], f"{where}.hcl", (1, 2))
    if "note" in entry:
        f.text(entry["note"], f"{where}.note")
    return Component(name, version, tuple(artifacts), settings)


def _hashicorp_releases() -> str:
    """HashiCorp's releases site, or the mirror (or test server) LAB_HASHICORP_RELEASES names."""
    releases = os.environ.get("LAB_HASHICORP_RELEASES", HASHICORP_RELEASES)
    if not _URL.fullmatch(releases + "/"):
        raise ManifestError(f"LAB_HASHICORP_RELEASES={quoted(releases)}: not an http(s) URL")
    return releases.rstrip("/")


def _weave(entry: object, where: str, f: Fields) -> Component:
    entry = f.mapping(entry, where, allowed=_WEAVE_KEYS | {"note"}, required=("version", "script", "images"))
    version = f.text(entry["version"], f"{where}.version", _VERSION, "a version (letters, digits, . + ~ _ -)")
    script = f.mapping(entry["script"], f"{where}.script", allowed={"source", "url", "sha256", "size"},
                       required=("source", "url"))
    f.one_of(script["source"], f"{where}.script.source", ("url",))
    url = f.text(script["url"], f"{where}.script.url", _URL, "an http(s) URL")
    images = f.mapping(entry["images"], f"{where}.images", allowed={"source", "refs"}, required=("source", "refs"))
    f.one_of(images["source"], f"{where}.images.source", ("images",))
    refs = images["refs"]
    if not isinstance(refs, list) or not refs:
        f.fail(f"{where}.images.refs", f"must be a non-empty list of image references, got {kind(refs)}")
    for i, ref in enumerate(refs):
        f.text(ref, f"{where}.images.refs[{i}]", REF, "an image reference (name:tag or name:tag@sha256:<digest>)")
        if normalise(ref) in map(normalise, refs[:i]):
            f.fail(f"{where}.images.refs[{i}]", f"{quoted(ref)} names an image listed before it")
    _env(entry.get("env", {}), f"{where}.env", f)
    script_pins = _pins(script, f"{where}.script", f)
    artifacts = (Artifact("weave", "script", version, "url", f"weave-{version}", url, **script_pins),
                 Artifact("weave", "images", version, "images", f"weave-images-{version}.tar", refs=tuple(refs)))
    return Component("weave", version, artifacts, {k: v for k, v in entry.items() if k in ("env", "note")})


def _env(env: object, where: str, f: Fields) -> None:
    for key, value in f.mapping(env, where).items():
        f.text(key, f"{where}.{key}", _ENV_NAME, "an environment variable name")
        if key in STAGE_ENV + SHELL_ENV or key.startswith(SHELL_ENV_PREFIXES):
            f.fail(f"{where}.{key}", f"{key} is reserved: the stage writes {', '.join(STAGE_ENV)} itself, and "
                                     f"{', '.join(SHELL_ENV)} and {'*, '.join(SHELL_ENV_PREFIXES)}* are the shell's")
        if not f.text(value, f"{where}.{key}").isprintable():
            f.fail(f"{where}.{key}", f"{quoted(value)} holds a control character (a newline, an escape, ...)")


def _pins(entry: dict, where: str, f: Fields) -> dict:
    pins: dict = {}
    if "sha256" in entry:
        if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
            f.fail(f"{where}.sha256", f"{quoted(entry['sha256'])} is not 64 lowercase hex digits")
        pins["sha256"] = entry["sha256"]
    if "size" in entry:
        pins["size"] = f.positive_int(entry["size"], f"{where}.size")
    return pins


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# How long a writer waits for another one to finish with the cache's index.
LOCK_TIMEOUT = 600
# The environment variable naming the cache's folder (lab.settings.Settings.cache_dir).
CACHE_VARIABLE = "LAB_CACHE_DIR"
# Next to a file Cache.add is moving in, until its index entry is written: the file is the lab's own.
ADDING = ".adding"


class CacheError(InputError, ArtifactError):
    """The artifact cache's folder or index is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class CacheEntry:
    """What the cache can offer for one artifact."""

    artifact: Artifact
    status: str  # ok | missing | refused
    reason: str = ""
    path: Path | None = None
    verified: str = ""
    trust: str = ""  # one of lab.trust.LABELS, "" where an older fetch did not record it


class Cache:
    """The artifact cache, shared by every checkout and process of the machine.

    Writers take a file lock on the index and replace it atomically. A file is moved into place
    before its entry is written (and an old entry for that place is dropped before), so a crash
    leaves at worst a file that no entry and no pin vouches for, which `fetch` removes; never an
    entry that describes a file that is not there, or not that one."""

    def __init__(self, root: Path):
        if not root.is_absolute():  # each command would find another cache, by the folder it runs in
            raise CacheError(f"{CACHE_VARIABLE}={printable(str(root), 80)}: the artifact cache must be an absolute "
                             f"path (a relative one depends on the folder a command runs in): set {CACHE_VARIABLE} "
                             "to one")
        self.root = root / "artifacts"
        self.index_path = self.root / "index.json"
        self.lock_path = self.root / "index.json.lock"

    def path(self, artifact: Artifact) -> Path:
        return self.root / artifact.component / artifact.version / artifact.filename

    def _key(self, artifact: Artifact) -> str:
        return str(self.path(artifact).relative_to(self.root))

    def check(self, artifact: Artifact, hint: str = "") -> CacheEntry:
        """What the cache offers for the artifact; `hint` says how to get it where it is missing."""
        recorded = self._index().get(self._key(artifact), {})
        path = self.path(artifact)
        if not path.is_file():
            if path.exists():
                return CacheEntry(artifact, "refused", f"{path} is not a file: refusing it", path)
            how = hint or (f"python -m lab fetch --component {artifact.component} (with the --profile it is for) "
                           "on a machine that can download it")
            return CacheEntry(artifact, "missing", f"{artifact.label} is not in the cache {self.root}: {how}")
        actual = sha256_of(path)
        trust = recorded.get("trust", "")
        if trust in OPERATOR:  # the operator's file is held to what was recorded, pinned or not
            expected, origin = recorded["sha256"], "recorded when the operator supplied it"
            trust = _operator_trust(artifact, expected, path.stat().st_size)
        else:
            expected = artifact.sha256 or recorded.get("sha256")
            origin = "pinned in lab/versions.yaml" if artifact.sha256 else "recorded when it was fetched"
            trust = trust or (VERIFIED if artifact.sha256 else "")
        if expected is None:
            return CacheEntry(artifact, "refused", f"{path} was not put there by `python -m lab fetch` "
                                                   "(no pinned or recorded sha256): refusing it", path)
        if actual != expected:
            return CacheEntry(artifact, "refused", f"{path} has sha256 {actual}, expected {expected} ({origin}): "
                                                   "refusing it; delete the file and fetch again", path)
        other_images = self._other_images(artifact, path)
        if other_images:
            return CacheEntry(artifact, "refused", other_images, path)
        verified = printable(recorded.get("verified") or "sha256 pinned in lab/versions.yaml")
        return CacheEntry(artifact, "ok", path=path, verified=verified, trust=trust)

    @staticmethod
    def _other_images(artifact: Artifact, path: Path) -> str:
        """Why an images tar is not this profile's ("" when it is). The cache keeps one per weave
        version, and profiles may name other images for it (a mirror's): the tar must hold these."""
        if artifact.role != "images":
            return ""
        try:
            held = {normalise(tag) for tag in saved_tags(path)}
        except NotADockerSave as e:
            return f"{path} is not a `docker save` archive ({e}): refusing it"
        wanted = {normalise(ref) for ref in artifact.refs}
        if held == wanted:
            return ""
        return (f"{path} holds the images {', '.join(printable(tag, 80) for tag in sorted(held))}, not this profile's "
                f"{', '.join(sorted(wanted))} (another profile's tar): refusing it; give this profile a cache of its "
                f"own ({CACHE_VARIABLE}), or delete the file and fetch again")

    def add(self, artifact: Artifact, source_file: Path, verified: str, trust: str = VERIFIED) -> CacheEntry:
        """Move a verified file into the cache. Only an operator's file may differ from a pin."""
        actual = sha256_of(source_file)
        if trust != OPERATOR_DIFFERS:
            if artifact.sha256 and actual != artifact.sha256:
                raise ArtifactError(f"{artifact.label}: downloaded file has sha256 {actual}, "
                                    f"expected {artifact.sha256} (pinned in lab/versions.yaml); not cached")
            if artifact.size and source_file.stat().st_size != artifact.size:
                raise ArtifactError(f"{artifact.label}: downloaded {source_file.stat().st_size} bytes, "
                                    f"expected {artifact.size}; not cached")
        target, key = self.path(artifact), self._key(artifact)
        with self._locked():
            index = self._index()
            if index.pop(key, None) is not None:
                self._write_index(index)
            self._mkdir(target.parent)
            staged = target.with_name(f".{target.name}.{os.getpid()}.partial")
            shutil.move(str(source_file), staged)
            adding = _adding(target)
            adding.touch()
            os.replace(staged, target)
            index[key] = {"sha256": actual, "verified": verified, "trust": trust, "source": artifact.source,
                          "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self._write_index(index)
            adding.unlink()
        return self.check(artifact)

    def remove_orphans(self, artifacts: list[Artifact]) -> list[Tidied]:
        """Remove what an interrupted add left: a partial copy, or one of these artifacts' files
        that no index entry and no pin vouches for, with the mark add leaves until its entry is
        written. Such a file without the mark was put there by someone else (by hand): it is
        moved aside, never deleted. Returns what went where."""
        if not self._orphans(artifacts):
            return []
        with self._locked():  # no add is half done while the lock is held
            tidied = []
            for path in self._orphans(artifacts):
                if path.name.endswith(".partial") or _adding(path).exists():
                    path.unlink(missing_ok=True)
                    _adding(path).unlink(missing_ok=True)
                    tidied.append(Tidied(path))
                else:
                    tidied.append(Tidied(path, _move_aside(path)))
        return tidied

    def _orphans(self, artifacts: list[Artifact]) -> list[Path]:
        if not self.root.is_dir():
            return []
        index = self._index()
        found = sorted(self.root.glob("*/*/.*.partial"))
        found += [self.path(a) for a in artifacts
                  if not a.sha256 and self._key(a) not in index and self.path(a).is_file()]
        return found

    # -- the index, and the folders ---------------------------------------------------------
    def _index(self) -> dict[str, dict]:
        try:
            self.index_path.stat()
        except FileNotFoundError:
            return {}
        except NotADirectoryError:
            raise self._blocked(self.index_path) from None
        except OSError:
            pass  # read_text says what is wrong with it
        damaged = "the cache's index is damaged: delete it, and fetch again what the cache holds"
        text = read_text(self.index_path, "the artifact cache's index", CacheError)
        try:
            index = parse_json(text, self.index_path, CacheError)
        except CacheError as e:
            raise CacheError(f"{e}: {damaged}") from None
        if not isinstance(index, dict):
            raise CacheError(f"{self.index_path}: {TOP}: must be a mapping of cached files, got {kind(index)}: "
                             f"{damaged}")
        for key, entry in index.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                    and _SHA256.fullmatch(entry["sha256"])):
                raise CacheError(f"{self.index_path}: {printable(key, 80)}: must be a mapping with the file's "
                                 f"sha256, got {printable(kind(entry), 80)}: {damaged}")
            for field_name in ("verified", "trust"):
                if not isinstance(entry.get(field_name, ""), str):
                    raise CacheError(f"{self.index_path}: {printable(key, 80)}.{field_name}: must be a string, "
                                     f"got {printable(kind(entry[field_name]), 80)}: {damaged}")
            # A level this lab has no words for would be shown as some trust it cannot vouch for.
            if entry.get("trust", "") not in (*LABELS, ""):
                raise CacheError(f"{self.index_path}: {printable(key, 80)}.trust: {quoted(entry['trust'])} is not "
                                 f"one of {', '.join(LABELS)}: {damaged}")
        return index

    def _write_index(self, index: dict) -> None:
        """Replace the index in one step: a reader sees the old one or the new one, never half."""
        # Created with the mode the umask leaves (0644 under the usual 022), as every file of a shared
        # cache is: mkstemp's 0600 would keep the other users of the machine from reading it.
        tmp = self.root / f".index.json.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(index, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.index_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _locked(self):
        self._mkdir(self.root)
        lock = FileLock(self.lock_path, timeout=LOCK_TIMEOUT)
        try:
            lock.acquire()
        except Timeout:
            raise CacheError(f"{self.lock_path}: another process has held the artifact cache for "
                             f"{LOCK_TIMEOUT} s; try again when it is done") from None
        except OSError as e:
            raise CacheError(f"{self.lock_path}: cannot lock the artifact cache: {e.strerror}") from None
        try:
            yield
        finally:
            lock.release()

    def _mkdir(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except NotADirectoryError:
            raise self._blocked(folder) from None
        except OSError as e:
            raise CacheError(f"{e.filename or folder}: cannot write the artifact cache there: {e.strerror} "
                             f"({CACHE_VARIABLE} names another folder)") from None

    def _blocked(self, path: Path) -> CacheError:
        """A file stands where one of the folders above `path` belongs."""
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), path)
        return CacheError(f"{blocker}: is a file, so the artifact cache {self.root} cannot be there "
                          f"(set {CACHE_VARIABLE} to a directory)")


class Tidied(NamedTuple):
    """A file Fetcher found in the cache and nothing vouched for: removed, or moved aside to `aside`."""

    path: Path
    aside: Path | None = None


def _adding(path: Path) -> Path:
    return path.with_name(f".{path.name}{ADDING}")


def _move_aside(path: Path) -> Path:
    """A new name next to it that no artifact has, so that the cache's place is free and nothing lost."""
    for n in range(1000):
        aside = path.with_name(f"{path.name}.placed-by-hand{f'.{n}' if n else ''}")
        if not aside.exists():
            os.rename(path, aside)
            return aside
    raise CacheError(f"{path}: nothing vouches for it and there is no free name to move it aside to: move it away")


def _operator_trust(artifact: Artifact, sha256: str, size: int) -> str:
    """An operator's file against today's pins: it may have come to match one, or to differ from one."""
    if artifact.sha256 == sha256:
        return VERIFIED
    if artifact.sha256 or (artifact.size and artifact.size != size):
        return OPERATOR_DIFFERS
    return OPERATOR_UNPINNED


# -- fetching ------------------------------------------------------------------------------

def _download(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as e:
        raise ArtifactError(f"cannot download {url}: {e}") from None


def _run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    except FileNotFoundError:
        raise ArtifactError(f"{what}: {command[0]} is not installed") from None
    if proc.returncode != 0:
        raise ArtifactError(f"{what}: `{' '.join(command)}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc


class Refused(ArtifactError):
    """A file offered for the cache is not what it claims: it stays out, and is reported refused."""


class SuppliedFileError(InputError, ArtifactError):
    """A path given with `fetch --from` cannot be used as the file it should be."""


class Obtained(NamedTuple):
    """A file ready for the cache, and how it was verified."""

    file: Path
    verified: str
    trust: str = VERIFIED


class Fetcher:
    """Gets artifacts into the cache, each by its source's own verification."""

    def __init__(self, cache: Cache, profile: Profile, say: Callable[[str], None] = print,
                 from_dir: Path | None = None, accept_unpinned: bool = False):
        self.cache = cache
        self.profile = profile
        self.say = say
        self.from_dir = from_dir
        self.accept_unpinned = accept_unpinned
        self.added: list[Artifact] = []  # what this fetch put in the cache

    def fetch(self, only: tuple[str, ...] = (), sources: tuple[str, ...] = SOURCES) -> list[CacheEntry]:
        """Fetch what is missing; refuse what is corrupt. Returns the state of every artifact.

        A problem with the cache itself or with a path given is raised (an InputError); an
        artifact that cannot be had is reported missing, a file that is not what it claims refused."""
        wanted = self.profile.artifacts(only)
        for tidied in self.cache.remove_orphans(wanted):
            if tidied.aside is None:
                self.say(f"removed {tidied.path}: no index entry or pin vouched for it (an interrupted fetch left it)")
            else:
                self.say(f"moved {tidied.path} aside to {tidied.aside.name}: no index entry or pin vouches for it and "
                         "fetch did not put it there (placed by hand?); to take it in, put it in a folder and run "
                         "`fetch --from` that folder")
        results = []
        for artifact in wanted:
            hint = f"python -m lab fetch --profile {self.profile.name} --component {artifact.component}"
            entry = self.cache.check(artifact, hint=f"{hint} on a machine that can download it")
            if entry.status == "missing" and artifact.source in sources:
                with tempfile.TemporaryDirectory(prefix="nwl-fetch-") as tmp:
                    try:
                        got = self._get(artifact, Path(tmp))
                        entry = self.cache.add(artifact, got.file, got.verified, got.trust)
                        self.added.append(artifact)
                        self.say(f"fetched {artifact.label}: {got.verified}")
                    except InputError:
                        raise
                    except Refused as e:
                        entry = CacheEntry(artifact, "refused", str(e))
                    except ArtifactError as e:
                        entry = CacheEntry(artifact, "missing", str(e))
            results.append(entry)
        return results

    def _get(self, artifact: Artifact, tmp: Path) -> Obtained:
        if self.from_dir is not None:
            copy = self._copy_offered(artifact, tmp)
            if self.accept_unpinned:
                return self._from_operator(artifact, copy)
            got = self._from_dir(artifact, copy)
            self._what_it_is(artifact, copy)  # a pin vouches for the file; provisioning must also take it
            return got
        return {"hashicorp": self._hashicorp, "url": self._url, "images": self._images,
                "debian": self._debian}[artifact.source](artifact, tmp)

    def _offered(self, name: str) -> Path:
        """DIR/name; a link from there to a file outside DIR is refused (DIR is what the operator vouches for)."""
        offered = self.from_dir / name
        real, folder = offered.resolve(), self.from_dir.resolve()
        if offered.is_symlink() and not real.is_relative_to(folder):
            raise SuppliedFileError(f"{offered}: a link to {printable(str(real))}, outside {self.from_dir}: "
                                    "put the file itself in the folder")
        return offered

    def _what_it_is(self, artifact: Artifact, copy: Path) -> str:
        try:
            return supplied.describe(artifact, copy)
        except supplied.NotWhatItClaims as e:
            raise Refused(f"refusing {self.from_dir / artifact.filename}: {e}") from None

    def _copy_offered(self, artifact: Artifact, tmp: Path) -> Path:
        offered = self._offered(artifact.filename)
        if not offered.exists():
            raise ArtifactError(f"{artifact.label}: not in {self.from_dir}")
        if not offered.is_file():
            raise SuppliedFileError(f"{offered}: is not a file, so it cannot be {artifact.label}")
        copy = tmp / artifact.filename
        try:
            shutil.copyfile(offered, copy)
        except OSError as e:
            raise SuppliedFileError(f"{offered}: cannot read it: {e.strerror}") from None
        return copy

    def _from_dir(self, artifact: Artifact, copy: Path) -> Obtained:
        """Pre-seeding an air-gapped cache: the same checks as a download, on files at hand.

        Downloads nothing: a HashiCorp zip is checked against the signed SHA256SUMS only if the
        sums, their signature and HashiCorp's key are all in the folder; otherwise it needs a pin.
        """
        folder = self.from_dir
        offered = folder / artifact.filename
        lacking, signed_sums = self._signed_sums_at_hand(artifact)
        if signed_sums:
            sums, signature, key = signed_sums
            verified = self._verify_hashicorp(artifact, copy, sums, signature, key)
            return Obtained(copy, f"{verified} (copied from {folder}, key from {key.name})")
        if artifact.sha256:
            unchecked = f"; signature not checked: {folder} lacks {', '.join(lacking)}" if lacking else ""
            return Obtained(copy, f"sha256 pinned in lab/versions.yaml (copied from {folder}{unchecked})")
        if lacking:
            raise ArtifactError(f"{artifact.label}: cannot verify {offered}: no sha256 pinned in lab/versions.yaml, "
                                f"and {folder} lacks {', '.join(lacking)} to check it against the signed "
                                f"{self._sums_name(artifact)}; put them next to it, or fetch it on a connected "
                                "machine and copy the whole cache instead")
        raise ArtifactError(f"{artifact.label}: nothing pinned to check {offered} against; "
                            "fetch it on a connected machine and copy the whole cache instead "
                            "(or take it as it is with --accept-unpinned)")

    def _signed_sums_at_hand(self, artifact: Artifact) -> tuple[list[str], tuple[Path, Path, Path] | None]:
        """For a HashiCorp zip in --from DIR: what DIR lacks to check it, or the sums, signature and key."""
        if artifact.source != "hashicorp":
            return [], None
        folder = self.from_dir
        sums = self._offered(self._sums_name(artifact))
        signature = self._offered(self._signature_name(artifact))
        key = next((self._offered(name) for name in HASHICORP_KEY_FILES if (folder / name).is_file()), None)
        lacking = [path.name for path in (sums, signature) if not path.is_file()]
        if key is None:
            lacking.append(f"HashiCorp's public key ({' or '.join(HASHICORP_KEY_FILES)})")
        return lacking, None if lacking else (sums, signature, key)

    def _from_operator(self, artifact: Artifact, copy: Path) -> Obtained:
        """--accept-unpinned: a file nothing vouches for (a rebuild, a fork, a mirror's images) is
        taken if it is what it claims to be, and recorded as the operator's. Where a pin or
        HashiCorp's signed sums do vouch for it, it is verified as usual."""
        found = self._what_it_is(artifact, copy)
        origin = f"copied from {self.from_dir}: {found}"
        actual = sha256_of(copy)
        if artifact.sha256 == actual:
            return Obtained(copy, f"sha256 pinned in lab/versions.yaml ({origin})")
        not_signed = ""
        if not artifact.sha256 and self._signed_sums_at_hand(artifact)[1]:
            try:
                return self._from_dir(artifact, copy)
            except ArtifactError as e:
                not_signed = f"; HashiCorp's signed sums do not vouch for it: {e}"
        trust = _operator_trust(artifact, actual, copy.stat().st_size)
        pin = ""
        if trust == OPERATOR_DIFFERS:
            pin = f" (sha256 {artifact.sha256})" if artifact.sha256 else f" ({artifact.size} bytes)"
        return Obtained(copy, f"{LABELS[trust]}{pin}, accepted with --accept-unpinned: sha256 {actual} recorded "
                              f"({origin}){not_signed}", trust)

    # hashicorp: zip + SHA256SUMS + detached signature by the pinned key
    @staticmethod
    def _sums_name(artifact: Artifact) -> str:
        return f"{artifact.component}_{artifact.version}_SHA256SUMS"

    @classmethod
    def _signature_name(cls, artifact: Artifact) -> str:
        return f"{cls._sums_name(artifact)}.72D7468F.sig"

    def _hashicorp(self, artifact: Artifact, tmp: Path) -> Obtained:
        base = artifact.url.rsplit("/", 1)[0]
        sums, signature = self._sums_name(artifact), self._signature_name(artifact)
        for name in (artifact.filename, sums, signature):
            _download(f"{base}/{name}", tmp / name)
        key = tmp / "hashicorp.asc"  # no copy in the repo: from the manifest's URL, held to its fingerprint
        _download(self.profile.signing_key["url"], key)
        return Obtained(tmp / artifact.filename, self._verify_hashicorp(artifact, tmp / artifact.filename, tmp / sums,
                                                                        tmp / signature, key))

    def _verify_hashicorp(self, artifact: Artifact, file: Path, sums: Path, signature: Path, key: Path) -> str:
        """file against the sums, the sums' signature against the key; the key must be the pinned one."""
        fingerprint = verify_signature(sums, signature, key, self.profile.signing_key["fingerprint"])
        lines = read_text(sums, "the release's sums", Refused).splitlines()
        listed = {line.split()[1]: line.split()[0] for line in lines if len(line.split()) == 2}
        actual = sha256_of(file)
        if listed.get(artifact.filename) != actual:
            raise ArtifactError(f"{artifact.label}: sha256 {actual} is not what the signed {sums.name} lists "
                                f"({listed.get(artifact.filename, 'not listed')})")
        return f"sha256 listed in {sums.name}, signed by {fingerprint}"

    def _url(self, artifact: Artifact, tmp: Path) -> Obtained:
        _download(artifact.url, tmp / artifact.filename)
        if artifact.sha256:
            return Obtained(tmp / artifact.filename, "sha256 pinned in lab/versions.yaml")
        return Obtained(tmp / artifact.filename, f"trust on first use: downloaded from {artifact.url}, sha256 recorded",
                        FIRST_USE)

    def _images(self, artifact: Artifact, tmp: Path) -> Obtained:
        for ref in artifact.refs:
            _run(["docker", "pull", ref], f"pulling {ref}")
        out = tmp / artifact.filename
        names = [ref.split("@")[0] for ref in artifact.refs]
        for ref, name in zip(artifact.refs, names):
            if "@" in ref:
                _run(["docker", "tag", ref, name], f"tagging {ref}")
        _run(["docker", "save", "-o", str(out), *names], f"saving {', '.join(names)}")
        pinned = sum("@sha256:" in ref for ref in artifact.refs)
        return Obtained(out, f"docker save of {len(names)} images ({pinned} pulled by digest), sha256 of the tar "
                             "recorded", VERIFIED if pinned == len(names) else FIRST_USE)

    def _debian(self, artifact: Artifact, tmp: Path) -> Obtained:
        return Obtained(apt_download(artifact, tmp), (f"Debian archive ({artifact.debian['suite']}, apt-verified) "
                                                      "and sha256 pinned in lab/versions.yaml"))


def verify_signature(document: Path, signature: Path, key: Path, fingerprint: str) -> str:
    """Verify a detached signature with a throw-away keyring holding only the pinned key."""
    with tempfile.TemporaryDirectory(prefix="nwl-gpg-") as home:
        env = dict(os.environ, GNUPGHOME=home)
        try:
            return _verify_with(document, signature, key, fingerprint, env)
        finally:  # gpg may have started an agent for this keyring: leave nothing running
            subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)


def _verify_with(document: Path, signature: Path, key: Path, fingerprint: str, env: dict) -> str:
    _run(["gpg", "--batch", "--import", str(key)], "importing the signing key", env=env)
    listed = _run(["gpg", "--batch", "--with-colons", "--fingerprint"], "listing the signing key", env=env).stdout
    fingerprints = [line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:")]
    if fingerprint.upper() not in (f.upper() for f in fingerprints):
        raise ArtifactError(f"the signing key at hand is not the pinned one {fingerprint} (got {fingerprints})")
    status = subprocess.run(["gpg", "--batch", "--status-fd", "1", "--verify", str(signature), str(document)],
                            capture_output=True, text=True, env=env, check=False)
    # VALIDSIG <signing key fpr> ... <primary key fpr>: the keyring holds only the pinned key.
    valid = [line.split() for line in status.stdout.splitlines() if line.startswith("[GNUPG:] VALIDSIG")]
    if status.returncode != 0 or not valid:
        raise ArtifactError(f"bad signature on {document.name}: {status.stderr.strip()[-300:]}")
    if fingerprint.upper() not in (valid[0][2].upper(), valid[0][-1].upper()):
        raise ArtifactError(f"{document.name} is signed by {valid[0][2]}, not by the pinned key {fingerprint}")
    return fingerprint


def apt_download(artifact: Artifact, dest: Path) -> Path:
    """`apt-get download` one package from another Debian suite without touching the system's apt."""
    meta = artifact.debian
    mirror = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    state = dest / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/apt.conf.d"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    sources = state / "etc" / "sources.list"
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    sources.write_text(f"deb [signed-by={keyring}] {mirror} {meta['suite']} main\n")
    options = [
        "-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::Etc::Preferences={state / 'etc/preferences'}",
        "-o", f"Dir::Etc::PreferencesParts={state / 'etc/preferences.d'}",
        "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
        "-o", "Dir::State::status=/dev/null", "-o", "APT::Get::List-Cleanup=0",
        "-o", "Debug::NoLocking=1",
    ]
    _run(["apt-get", "-qq", *options, "update"], f"reading Debian {meta['suite']}'s package list")
    _run(["apt-get", "-qq", *options, "download", f"{meta['package']}={meta['package_version']}"],
         f"downloading {meta['package']} {meta['package_version']}", cwd=dest)
    file = dest / artifact.filename
    if not file.exists():
        raise ArtifactError(f"apt-get download left no {artifact.filename} in {dest}")
    return file
