"""Version profiles (lab/versions.yaml), the artifact cache, and how artifacts get into it.

The cache holds one file per artifact, under <cache>/artifacts/<component>/<version>/, and an
index recording each file's sha256 and how it was verified. A file is usable only if its
sha256 matches the pin in versions.yaml, or (where nothing is pinned) what was recorded when it
was fetched and verified. Anything else is refused, with the reason, and nothing is installed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


def load_profiles(path: Path = MANIFEST) -> dict[str, Profile]:
    raw = yaml.safe_load(path.read_text())
    key = raw["hashicorp_signing_key"]
    merged: dict[str, dict] = {}

    def resolve(name: str, seen: tuple[str, ...] = ()) -> dict:
        if name in seen:
            raise ArtifactError(f"{path}: profile {name} extends itself ({' -> '.join(seen + (name,))})")
        if name not in raw["profiles"]:
            raise ArtifactError(f"{path}: unknown profile {name!r}")
        entry = dict(raw["profiles"][name])
        parent = entry.pop("extends", None)
        base = dict(resolve(parent, seen + (name,))) if parent else {}
        base.update(entry)
        return base

    for name in raw["profiles"]:
        merged[name] = resolve(name)
    return {name: _profile(name, entry, key, path) for name, entry in merged.items()}


def profile(name: str, path: Path = MANIFEST) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise ArtifactError(f"unknown profile {name!r}: use one of {', '.join(profiles)}")
    return profiles[name]


def _profile(name: str, entry: dict, key: dict, path: Path) -> Profile:
    missing = [c for c in COMPONENTS if c not in entry]
    if missing:
        raise ArtifactError(f"{path}: profile {name} lacks {', '.join(missing)}")
    components = {c: _component(name, c, entry[c], path) for c in COMPONENTS}
    return Profile(name, entry.get("description", ""), components, key)


def _component(profile_name: str, name: str, entry: dict, path: Path) -> Component:
    version = str(entry["version"])
    where = f"{path}: profiles.{profile_name}.{name}"
    artifacts: list[Artifact] = []
    if name == "weave":
        script, images = entry["script"], entry["images"]
        artifacts.append(Artifact(name, "script", version, script["source"], f"weave-{version}", script["url"],
                                  script.get("sha256"), script.get("size")))
        artifacts.append(Artifact(name, "images", version, images["source"], f"weave-images-{version}.tar",
                                  refs=tuple(images["refs"])))
    elif entry["source"] == "hashicorp":
        filename = f"{name}_{version}_linux_amd64.zip"
        releases = os.environ.get("LAB_HASHICORP_RELEASES", HASHICORP_RELEASES)  # a mirror, or a test server
        artifacts.append(Artifact(name, "binary", version, "hashicorp", filename,
                                  f"{releases}/{name}/{version}/{filename}",
                                  entry.get("sha256"), entry.get("size")))
    elif entry["source"] == "debian":
        for required in ("package", "package_version", "suite", "filename", "sha256"):
            if required not in entry:
                raise ArtifactError(f"{where}: a debian artifact needs {required}")
        artifacts.append(Artifact(name, "package", version, "debian", entry["filename"], sha256=entry["sha256"],
                                  size=entry.get("size"),
                                  debian={k: entry[k] for k in ("package", "package_version", "suite")}))
    elif entry["source"] != "box":
        raise ArtifactError(f"{where}: unknown source {entry['source']!r} (one of {', '.join(SOURCES)})")
    for artifact in artifacts:
        if artifact.source not in SOURCES:
            raise ArtifactError(f"{where}: unknown source {artifact.source!r}")
        if artifact.sha256 is not None and not (isinstance(artifact.sha256, str)
                                                and re.fullmatch("[0-9a-f]{64}", artifact.sha256)):
            raise ArtifactError(f"{where}: sha256 {artifact.sha256!r} is not 64 lowercase hex digits")
    settings = {k: v for k, v in entry.items() if k not in ("version", "source", "script", "images")}
    return Component(name, version, tuple(artifacts), settings)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """What the cache can offer for one artifact."""

    artifact: Artifact
    status: str  # ok | missing | refused
    reason: str = ""
    path: Path | None = None
    verified: str = ""


class Cache:
    def __init__(self, root: Path):
        self.root = root / "artifacts"
        self.index_path = self.root / "index.json"

    def path(self, artifact: Artifact) -> Path:
        return self.root / artifact.component / artifact.version / artifact.filename

    def _index(self) -> dict:
        return json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    def _key(self, artifact: Artifact) -> str:
        return str(self.path(artifact).relative_to(self.root))

    def check(self, artifact: Artifact, hint: str = "") -> CacheEntry:
        path = self.path(artifact)
        if not path.exists():
            how = hint or f"python -m lab fetch --component {artifact.component} on a machine that can download it"
            return CacheEntry(artifact, "missing", f"{artifact.label} is not in the cache {self.root}: {how}")
        actual = sha256_of(path)
        recorded = self._index().get(self._key(artifact), {})
        expected = artifact.sha256 or recorded.get("sha256")
        if expected is None:
            return CacheEntry(artifact, "refused", f"{path} was not put there by `python -m lab fetch` "
                                                   "(no pinned or recorded sha256): refusing it", path)
        if actual != expected:
            origin = "pinned in lab/versions.yaml" if artifact.sha256 else "recorded when it was fetched"
            return CacheEntry(artifact, "refused", f"{path} has sha256 {actual}, expected {expected} ({origin}): "
                                                   "refusing it; delete the file and fetch again", path)
        verified = recorded.get("verified") or "sha256 pinned in lab/versions.yaml"
        return CacheEntry(artifact, "ok", path=path, verified=verified)

    def add(self, artifact: Artifact, source_file: Path, verified: str) -> CacheEntry:
        """Move a verified file into the cache (never over a refused one)."""
        actual = sha256_of(source_file)
        if artifact.sha256 and actual != artifact.sha256:
            raise ArtifactError(f"{artifact.label}: downloaded file has sha256 {actual}, "
                                f"expected {artifact.sha256} (pinned in lab/versions.yaml); not cached")
        if artifact.size and source_file.stat().st_size != artifact.size:
            raise ArtifactError(f"{artifact.label}: downloaded {source_file.stat().st_size} bytes, "
                                f"expected {artifact.size}; not cached")
        target = self.path(artifact)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source_file), target)
        index = self._index()
        index[self._key(artifact)] = {"sha256": actual, "verified": verified, "source": artifact.source,
                                      "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.index_path.write_text(json.dumps(index, indent=2, sort_keys=True))
        return self.check(artifact)


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


class Fetcher:
    """Gets artifacts into the cache, each by its source's own verification."""

    def __init__(self, cache: Cache, profile: Profile, say: Callable[[str], None] = print,
                 from_dir: Path | None = None):
        self.cache = cache
        self.profile = profile
        self.say = say
        self.from_dir = from_dir

    def fetch(self, only: tuple[str, ...] = (), sources: tuple[str, ...] = SOURCES) -> list[CacheEntry]:
        """Fetch what is missing; refuse what is corrupt. Returns the state of every artifact."""
        results = []
        for artifact in self.profile.artifacts(only):
            entry = self.cache.check(artifact)
            if entry.status == "missing" and artifact.source in sources:
                with tempfile.TemporaryDirectory(prefix="nwl-fetch-") as tmp:
                    try:
                        file, verified = self._get(artifact, Path(tmp))
                        entry = self.cache.add(artifact, file, verified)
                        self.say(f"fetched {artifact.label}: {verified}")
                    except ArtifactError as e:
                        entry = CacheEntry(artifact, "missing", str(e))
            results.append(entry)
        return results

    def _get(self, artifact: Artifact, tmp: Path) -> tuple[Path, str]:
        if self.from_dir is not None:
            return self._from_dir(artifact, tmp)
        return {"hashicorp": self._hashicorp, "url": self._url, "images": self._images,
                "debian": self._debian}[artifact.source](artifact, tmp)

    def _from_dir(self, artifact: Artifact, tmp: Path) -> tuple[Path, str]:
        """Pre-seeding an air-gapped cache: the same checks as a download, on files at hand.

        Downloads nothing: a HashiCorp zip is checked against the signed SHA256SUMS only if the
        sums, their signature and HashiCorp's key are all in the folder; otherwise it needs a pin.
        """
        folder = self.from_dir
        offered = folder / artifact.filename
        if not offered.exists():
            raise ArtifactError(f"{artifact.label}: not in {folder}")
        copy = tmp / artifact.filename
        shutil.copyfile(offered, copy)
        lacking: list[str] = []
        if artifact.source == "hashicorp":
            sums = folder / self._sums_name(artifact)
            signature = folder / self._signature_name(artifact)
            key = next((folder / name for name in HASHICORP_KEY_FILES if (folder / name).is_file()), None)
            lacking = [path.name for path in (sums, signature) if not path.is_file()]
            if key is None:
                lacking.append(f"HashiCorp's public key ({' or '.join(HASHICORP_KEY_FILES)})")
            if not lacking:
                verified = self._verify_hashicorp(artifact, copy, sums, signature, key)
                return copy, f"{verified} (copied from {folder}, key from {key.name})"
        if artifact.sha256:
            unchecked = f"; signature not checked: {folder} lacks {', '.join(lacking)}" if lacking else ""
            return copy, f"sha256 pinned in lab/versions.yaml (copied from {folder}{unchecked})"
        if lacking:
            raise ArtifactError(f"{artifact.label}: cannot verify {offered}: no sha256 pinned in lab/versions.yaml, "
                                f"and {folder} lacks {', '.join(lacking)} to check it against the signed "
                                f"{self._sums_name(artifact)}; put them next to it, or fetch it on a connected "
                                "machine and copy the whole cache instead")
        raise ArtifactError(f"{artifact.label}: nothing pinned to check {offered} against; "
                            "fetch it on a connected machine and copy the whole cache instead")

    # hashicorp: zip + SHA256SUMS + detached signature by the pinned key
    @staticmethod
    def _sums_name(artifact: Artifact) -> str:
        return f"{artifact.component}_{artifact.version}_SHA256SUMS"

    @classmethod
    def _signature_name(cls, artifact: Artifact) -> str:
        return f"{cls._sums_name(artifact)}.72D7468F.sig"

    def _hashicorp(self, artifact: Artifact, tmp: Path) -> tuple[Path, str]:
        base = artifact.url.rsplit("/", 1)[0]
        sums, signature = self._sums_name(artifact), self._signature_name(artifact)
        for name in (artifact.filename, sums, signature):
            _download(f"{base}/{name}", tmp / name)
        key = tmp / "hashicorp.asc"  # no copy in the repo: from the manifest's URL, held to its fingerprint
        _download(self.profile.signing_key["url"], key)
        return tmp / artifact.filename, self._verify_hashicorp(artifact, tmp / artifact.filename, tmp / sums,
                                                               tmp / signature, key)

    def _verify_hashicorp(self, artifact: Artifact, file: Path, sums: Path, signature: Path, key: Path) -> str:
        """file against the sums, the sums' signature against the key; the key must be the pinned one."""
        fingerprint = verify_signature(sums, signature, key, self.profile.signing_key["fingerprint"])
        listed = {line.split()[1]: line.split()[0] for line in sums.read_text().splitlines() if len(line.split()) == 2}
        actual = sha256_of(file)
        if listed.get(artifact.filename) != actual:
            raise ArtifactError(f"{artifact.label}: sha256 {actual} is not what the signed {sums.name} lists "
                                f"({listed.get(artifact.filename, 'not listed')})")
        return f"sha256 listed in {sums.name}, signed by {fingerprint}"

    def _url(self, artifact: Artifact, tmp: Path) -> tuple[Path, str]:
        _download(artifact.url, tmp / artifact.filename)
        if artifact.sha256:
            return tmp / artifact.filename, "sha256 pinned in lab/versions.yaml"
        return tmp / artifact.filename, f"trust on first use: downloaded from {artifact.url}, sha256 recorded"

    def _images(self, artifact: Artifact, tmp: Path) -> tuple[Path, str]:
        for ref in artifact.refs:
            _run(["docker", "pull", ref], f"pulling {ref}")
        out = tmp / artifact.filename
        names = [ref.split("@")[0] for ref in artifact.refs]
        for ref, name in zip(artifact.refs, names):
            if "@" in ref:
                _run(["docker", "tag", ref, name], f"tagging {ref}")
        _run(["docker", "save", "-o", str(out), *names], f"saving {', '.join(names)}")
        pinned = sum("@sha256:" in ref for ref in artifact.refs)
        return out, f"docker save of {len(names)} images ({pinned} pulled by digest), sha256 of the tar recorded"

    def _debian(self, artifact: Artifact, tmp: Path) -> tuple[Path, str]:
        return apt_download(artifact, tmp), (f"Debian archive ({artifact.debian['suite']}, apt-verified) "
                                             "and sha256 pinned in lab/versions.yaml")


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
