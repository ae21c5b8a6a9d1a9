"""Bad input never crashes: every row is one bad input given to the real command line
(`python -m lab ...` in a subprocess, with no PATH, so no vagrant, virsh or sudo can run), which
must stop with exit status 2 and one line `error: <file>: <key path>: <problem>`.

The topology's and the version profiles' own tables (test_topology.py, test_artifacts.py) try
each of their checks; here each kind of input goes through every command that reads it."""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lab import artifacts, lifecycle, topology
from lab.settings import Settings
from tests.unit.archives import hashicorp_zip

ROOT = Path(__file__).parents[2]
MANIFEST = yaml.safe_load(artifacts.MANIFEST.read_text())
TOPOLOGY = yaml.safe_load(topology.DEFAULT_PATH.read_text())
GOOD_RUN = {"schema": 1, "metadata": {"profile": "current"},
            "results": [{"nodeid": "t.py::test_L1_x", "claim": "L1", "outcome": "passed"}]}
CONSUL = "consul/1.8.7/consul_1.8.7+dfsg1-2+b3_amd64.deb"


def lab(tmp: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m lab ARGV` with nothing on PATH, a cache, a checkout root and a temp dir of its own."""
    (tmp / "root").mkdir(exist_ok=True)
    base = {"PATH": "", "HOME": str(tmp), "TMPDIR": str(tmp), "LAB_ROOT": str(tmp / "root"),
            "LAB_TOPOLOGY": str(topology.DEFAULT_PATH), "LAB_CACHE_DIR": str(tmp / "cache")}
    return subprocess.run([sys.executable, "-m", "lab", *argv], cwd=ROOT, capture_output=True, text=True,
                          check=False, env={**base, **(env or {})}, timeout=60)


# -- what a row prepares in its temp folder ----------------------------------------------------

def write(name: str, content: str | bytes | dict | list) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (dict, list)):
            path.write_text(json.dumps(content))
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def folder(name: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).mkdir(parents=True)


def variant(shipped: dict, name: str, change) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        raw = copy.deepcopy(shipped)
        change(raw)
        (tmp / name).write_text(yaml.safe_dump(raw, sort_keys=False))
    return setup


def versions(change) -> Callable[[Path], None]:
    return variant(MANIFEST, "versions.yaml", change)


def topo(change) -> Callable[[Path], None]:
    return variant(TOPOLOGY, "t.yaml", change)


def cached_consul(index: object) -> Callable[[Path], None]:
    """The debian profile's consul package in the cache, with this index next to it."""
    def setup(tmp: Path) -> None:
        package = tmp / "cache" / "artifacts" / CONSUL
        package.parent.mkdir(parents=True)
        package.write_bytes(b"!<arch>\ndebian-binary")
        write("cache/artifacts/index.json", index)(tmp)
    return setup


def pinned_nomad_on_a_stick(tmp: Path) -> None:
    """--from stick/: a nomad zip that a copy of versions.yaml pins (so fetch would cache it)."""
    zip_bytes = hashicorp_zip(io.BytesIO(), "nomad").getvalue()
    (tmp / "stick").mkdir()
    (tmp / "stick" / "nomad_1.11.3_linux_amd64.zip").write_bytes(zip_bytes)
    versions(lambda r: r["profiles"]["current"]["nomad"].update(sha256=hashlib.sha256(zip_bytes).hexdigest()))(tmp)


def unwritable(tmp: Path) -> Path:
    """A cache folder that cannot be written, also by root (who ignores file modes)."""
    if os.geteuid() == 0:
        return Path("/sys/nwl-unwritable-cache")
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o500)
    return tmp / "ro" / "cache"


VERSIONS = {"LAB_VERSIONS": "{tmp}/versions.yaml"}
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("bcdefgh", "cdefghi"))
DEEP = "[" * 100_000 + "]" * 100_000
T_YAML = ["--topology", "{tmp}/t.yaml"]

# id: (setup, environment, argv, words of the message). {tmp} is the row's temp folder.
BAD = {
    # lab/versions.yaml (LAB_VERSIONS points at a broken copy)
    "versions.yaml not YAML": (write("versions.yaml", "profiles: [\n  current:\n"), VERSIONS, ["versions"],
                               "versions.yaml line 3: not valid YAML"),
    "versions.yaml key twice": (write("versions.yaml", "profiles: {}\nprofiles: {}\n"), VERSIONS, ["versions"],
                                "versions.yaml line 2: duplicate key 'profiles' (first at line 1)"),
    "versions.yaml an alias bomb": (write("versions.yaml", BOMB), VERSIONS, ["versions"],
                                    "versions.yaml line 2: aliases (*a) are not allowed"),
    "versions.yaml nested 100000 deep": (write("versions.yaml", DEEP), VERSIONS, ["versions"],
                                         "versions.yaml line 1: nested deeper than 64 levels"),
    "versions.yaml is /dev/zero": (None, {"LAB_VERSIONS": "/dev/zero"}, ["versions"],
                                   "cannot read the version profiles /dev/zero: not a regular file"),
    "versions.yaml of 5 MiB": (write("versions.yaml", "#" * (5 << 20)), VERSIONS, ["versions"],
                               "versions.yaml: larger than 4096 KiB"),
    "versions.yaml empty": (write("versions.yaml", ""), VERSIONS, ["versions"],
                            "versions.yaml: the file: must be a mapping, got nothing"),
    "versions.yaml a folder": (folder("versions.yaml"), VERSIONS, ["versions"],
                               "cannot read the version profiles {tmp}/versions.yaml: Is a directory"),
    "versions.yaml missing": (None, VERSIONS, ["versions"],
                              "cannot read the version profiles {tmp}/versions.yaml: No such file or directory"),
    "versions.yaml without the signing key": (versions(lambda r: r.pop("hashicorp_signing_key")), VERSIONS,
                                              ["versions"], "versions.yaml: hashicorp_signing_key: is required"),
    "versions.yaml a list for a name": (versions(lambda r: r["profiles"]["debian"].update(extends=["current"])),
                                        VERSIONS, ["--profile", "debian", "versions"],
                                        "versions.yaml: profiles.debian.extends: must be a non-empty string, "
                                        "got a list"),
    "versions.yaml broken where debian extends": (
        versions(lambda r: r["profiles"]["current"]["weave"]["images"].update(refs="weaveworks/weave:2.8.1")),
        VERSIONS, ["--profile", "debian", "fetch"],
        "versions.yaml: debian extends current: profiles.current.weave.images.refs: must be a non-empty list"),
    "versions.yaml a version YAML reads as a number": (
        versions(lambda r: r["profiles"]["article"]["nomad"].update(version=0.87)), VERSIONS,
        ["--profile", "article", "versions"],
        "versions.yaml: profiles.article.nomad.version: must be a string, got the number 0.87"),
    "an unknown profile (versions)": (None, {}, ["--profile", "newest", "versions"],
                                      "versions.yaml: profiles: unknown profile 'newest': use one of article"),
    "an unknown profile (fetch)": (None, {}, ["--profile", "newest", "fetch"], "unknown profile 'newest'"),
    "an unknown profile (up)": (None, {}, ["--provider", "libvirt", "--profile", "newest", "up"],
                                "unknown profile 'newest'"),
    "a profile name with a newline": (None, {}, ["--profile", "debian\n", "versions"],
                                      "unknown profile 'debian\\n'"),
    # the artifact cache
    "index.json garbage": (cached_consul("{not json"), {}, ["--profile", "debian", "versions"],
                           "index.json line 1: not valid JSON (Expecting property name enclosed in double quotes): "
                           "the cache's index is damaged"),
    "index.json a list": (cached_consul([1, 2]), {}, ["--profile", "debian", "fetch"],
                          "index.json: the file: must be a mapping of cached files, got a list"),
    "index.json an entry without its sha256": (cached_consul({CONSUL: {"verified": "x"}}), {},
                                               ["--profile", "debian", "versions"],
                                               f"index.json: {CONSUL}: must be a mapping with the file's sha256"),
    "index.json an entry a string": (cached_consul({CONSUL: "e4e8"}), {}, ["--profile", "debian", "versions"],
                                     f"index.json: {CONSUL}: must be a mapping with the file's sha256, got the string"),
    "index.json a folder": (folder("cache/artifacts/index.json"), {}, ["versions"],
                            "cannot read the artifact cache's index {tmp}/cache/artifacts/index.json: Is a directory"),
    "the cache a file (versions)": (write("cache", "x"), {}, ["versions"],
                                    "{tmp}/cache: is a file, so the artifact cache {tmp}/cache/artifacts cannot be"),
    "the cache a file (fetch)": (write("cache", "x"), {}, ["--profile", "debian", "fetch", "--component", "consul"],
                                 "{tmp}/cache: is a file, so the artifact cache"),
    "the cache not writable": (pinned_nomad_on_a_stick, {**VERSIONS, "LAB_CACHE_DIR": "{unwritable}"},
                               ["fetch", "--component", "nomad", "--from", "{tmp}/stick"],
                               "cannot write the artifact cache there"),
    # fetch --from
    "fetch --from an entry that is a folder": (folder("stick/nomad_1.11.3_linux_amd64.zip"), {},
                                               ["fetch", "--component", "nomad", "--from", "{tmp}/stick"],
                                               "{tmp}/stick/nomad_1.11.3_linux_amd64.zip: is not a file, so it "
                                               "cannot be nomad 1.11.3"),
    "fetch --from a folder that is not there": (None, {}, ["fetch", "--from", "{tmp}/stick"],
                                                "{tmp}/stick: not a directory (fetch --from DIR"),
    # reports
    "report not JSON": (write("a.json", "claims"), {}, ["report", "--merge", "{tmp}/a.json"],
                        "{tmp}/a.json line 1: not valid JSON (Expecting value)"),
    "report a list": (write("a.json", [GOOD_RUN]), {}, ["report", "--merge", "{tmp}/a.json"],
                      "{tmp}/a.json: the file: must be a mapping, got a list"),
    "report without results": (write("a.json", {"metadata": {}}), {}, ["report", "--merge", "{tmp}/a.json"],
                               "{tmp}/a.json: results: must be a list of test results"),
    "report a result that is a number": (write("a.json", {"results": [1]}), {}, ["report", "--merge", "{tmp}/a.json"],
                                         "{tmp}/a.json: results[0]: must be a mapping, got the number 1"),
    "report an unknown outcome": (write("a.json", {"results": [{"nodeid": "t.py::test_L1", "outcome": "weird"}]}), {},
                                  ["report", "--merge", "{tmp}/a.json"],
                                  "{tmp}/a.json: results[0].outcome: 'weird' is not one of passed, failed, error, "
                                  "skipped, xfailed"),
    "report a result without outcome": (write("a.json", {"results": [{"nodeid": "t.py::test_L1"}]}), {},
                                        ["report", "--merge", "{tmp}/a.json"], "results[0].outcome: is required"),
    "report a nodeid that is a number": (write("a.json", {"results": [{"nodeid": 7, "outcome": "passed"}]}), {},
                                         ["report", "--merge", "{tmp}/a.json"],
                                         "results[0].nodeid: must be a string, got the number 7"),
    "report a stack that is a list": (write("a.json", {**GOOD_RUN, "metadata": {"stack": ["weave"]}}), {},
                                      ["report", "--merge", "{tmp}/a.json"],
                                      "{tmp}/a.json: metadata.stack: must be a mapping, got a list"),
    "report a folder": (folder("a.json"), {}, ["report", "--merge", "{tmp}/a.json"],
                        "cannot read the claims report {tmp}/a.json: Is a directory"),
    "report not there": (None, {}, ["report", "--merge", "{tmp}/a.json"],
                         "cannot read the claims report {tmp}/a.json: No such file or directory"),
    "report to re-render not JSON": (write("a.json", ""), {}, ["report", "--from", "{tmp}/a.json"],
                                     "{tmp}/a.json line 1: not valid JSON"),
    "report written into a file": (write("a.json", GOOD_RUN), {},
                                   ["report", "--merge", "{tmp}/a.json", "-o", "{tmp}/a.json/merged.md"],
                                   "{tmp}/a.json/merged.md: Not a directory"),
    # node names
    "ssh to an unknown node": (None, {}, ["--provider", "libvirt", "ssh", "u9"],
                               "topology.yaml: nodes: there is no node 'u9' (nodes: u1, u2, u3)"),
    "ssh to a node name with a newline": (None, {}, ["--provider", "libvirt", "ssh", "u1\n"],
                                          "nodes: there is no node 'u1\\n'"),
    # the topology, through commands other than up (test_topology.py tries each of its checks)
    "topology key twice (status)": (write("t.yaml", "name: nwl\nname: nwl\n"), {}, [*T_YAML, "status"],
                                    "t.yaml line 2: duplicate key 'name' (first at line 1)"),
    "topology without u3 (down)": (topo(lambda r: r["nodes"][2].update(name="u4")), {},
                                   [*T_YAML, "--provider", "libvirt", "down"], "t.yaml: nodes: the claims and their "
                                                                               "fixtures need the nodes u1, u2, u3"),
    "topology name too long (reap)": (topo(lambda r: r.update(name="nomad-weave")), {},
                                      [*T_YAML, "--provider", "libvirt", "reap"], "t.yaml: name: 'nomad-weave' is "
                                                                                  "too long"),
    "topology broken (versions)": (write("t.yaml", "nodes: 3\n"), {}, [*T_YAML, "versions"],
                                   "t.yaml: name: is required"),
    "topology broken (check)": (topo(lambda r: r["nodes"][0].update(hostonly_ip="192.168.56.1")), {},
                                [*T_YAML, "--provider", "libvirt", "check"],
                                "t.yaml: nodes[0].hostonly_ip: 192.168.56.1 is the host's own address"),
    "topology an alias bomb (status)": (write("t.yaml", BOMB), {}, [*T_YAML, "status"],
                                        "t.yaml line 2: aliases (*a) are not allowed"),
    "topology nested 100000 deep (up)": (write("t.yaml", DEEP), {}, [*T_YAML, "--provider", "libvirt", "up"],
                                         "t.yaml line 1: nested deeper than 64 levels"),
    "topology is /dev/zero": (None, {}, ["--topology", "/dev/zero", "status"],
                              "cannot read topology /dev/zero: not a regular file"),
    "topology a folder": (folder("t.yaml"), {}, [*T_YAML, "status"], "cannot read topology {tmp}/t.yaml: Is a "
                                                                      "directory"),
}


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{unwritable}", str(unwritable(tmp)) if "{unwritable}" in text
                                                   else "")


@pytest.mark.parametrize("setup, env, argv, words", BAD.values(), ids=BAD.keys())
def test_bad_input_is_refused_in_one_line(tmp_path, setup, env, argv, words):
    if setup:
        setup(tmp_path)
    proc = lab(tmp_path, *(_fill(a, tmp_path) for a in argv), env={k: _fill(v, tmp_path) for k, v in env.items()})
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (proc.returncode, proc.stderr.splitlines()) == (2, [f"error: {proc.stderr.strip()[7:]}"]), proc.stderr
    assert _fill(words, tmp_path) in proc.stderr


def test_accept_unpinned_needs_a_folder(tmp_path):
    proc = lab(tmp_path, "fetch", "--accept-unpinned")
    assert proc.returncode == 2 and "fetch --accept-unpinned takes the files from a directory: add --from DIR" in \
        proc.stderr and "Traceback" not in proc.stderr


def test_a_damaged_lab_state_is_named_not_a_traceback(tmp_path):
    settings = Settings(root=tmp_path, provider="libvirt")
    for damage in ("{", "[]", '{"provider": "libvirt", "colour": "blue"}'):
        lifecycle.LabState.path(settings).parent.mkdir(exist_ok=True)
        lifecycle.LabState.path(settings).write_text(damage)
        with pytest.raises(lifecycle.LabStateError, match=r"state\.json: not the state of a lab.*python -m lab reap"):
            lifecycle.LabState.load(settings)


# -- pytest's own options (a usage error there is pytest's exit status 4) ------------------------

PYTEST_BAD = {
    "--lab-reuse with another value": (["--lab-reuse=maybe"], {}, "ignored explicit argument 'maybe'"),
    "--lab-profile unknown": (["--lab-profile", "newest"], {}, "lab profile: "),
    "versions.yaml broken": (["--lab-profile", "current"], {"LAB_VERSIONS": "{tmp}/versions.yaml"},
                             "lab profile: {tmp}/versions.yaml: the file: must be a mapping, got a list"),
    "versions.yaml nested 100000 deep": (["--lab-profile", "current"], {"LAB_VERSIONS": "{tmp}/deep.yaml"},
                                         "lab profile: {tmp}/deep.yaml line 1: nested deeper than 64 levels"),
    "topology an alias bomb": (["--lab-profile", "current"], {"LAB_TOPOLOGY": "{tmp}/bomb.yaml"},
                               "{tmp}/bomb.yaml line 2: aliases (*a) are not allowed"),
}


@pytest.mark.parametrize("args, env, words", PYTEST_BAD.values(), ids=PYTEST_BAD.keys())
def test_bad_pytest_options_are_usage_errors(tmp_path, args, env, words):
    (tmp_path / "versions.yaml").write_text("- a list\n")
    (tmp_path / "deep.yaml").write_text(DEEP)
    (tmp_path / "bomb.yaml").write_text(BOMB)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--lab-report-dir={tmp_path}", *args, "tests/connectivity"],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, "LAB_ROOT": str(tmp_path), "LAB_TOPOLOGY": str(topology.DEFAULT_PATH),
                               **{k: _fill(v, tmp_path) for k, v in env.items()}})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert _fill(words, tmp_path) in proc.stderr and "Traceback" not in proc.stderr


def test_versions_shows_only_the_profile_asked_for(tmp_path):
    proc = lab(tmp_path, "--profile", "debian", "versions")
    assert proc.returncode == 0, proc.stderr
    assert [line.split(":")[0] for line in proc.stdout.splitlines() if not line.startswith(" ")] == ["debian"]
    everything = lab(tmp_path, "versions")
    assert [line.split(":")[0] for line in everything.stdout.splitlines() if not line.startswith(" ")] == list(
        artifacts.load_profiles())
