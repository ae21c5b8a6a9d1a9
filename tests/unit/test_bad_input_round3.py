"""Bad input, round 3: what a hostile re-check still found accepted, confusing or a traceback after
issue 16's first fixes. Every row runs the real command line (`python -m lab ...` or pytest in a
subprocess, nothing on PATH) on real files: tars, zips holding a real ELF program, JSON and YAML.

A row says the exit status and the words of the output; status 2 must be one `error:` line."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from lab import topology
from tests.unit.archives import ELF, add, hashicorp_zip, saved_images, weave_script
from tests.unit.test_bad_input import GOOD_RUN, ROOT, T_YAML, VERSIONS, _fill, lab, topo, versions, write
from tests.unit.test_bad_input_artifacts import NOMAD_FETCH, REFS, WEAVE, cached_images, nomad, run_row, script, stick

ESC = "\x1b[31m"
STATE = "root/.lab/state.json"
GOOD_STATE = {"provider": "libvirt", "topology_path": "t.yaml", "ssh_config_path": "ssh", "endpoints": {},
              "created_by": "cli"}
SNAPSHOT = {"name": "nwl-provisioned", "provision_tokens": {"u1": "a"}, "saved_seconds": 7.0}


def state(**fields) -> callable:
    return write(STATE, {**GOOD_STATE, **fields})


def elf(**at: int) -> bytes:
    """/bin/true with bytes of its ELF header changed: {offset: value}."""
    data = bytearray(ELF)
    for offset, value in at.items():
        data[int(offset[1:])] = value
    return bytes(data)


def zip_of(*members: tuple[str, bytes], mode: int = 0o100755) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return out.getvalue()


def images_with_member(name: str) -> callable:
    """The stick's images tar with one more member."""
    def setup(tmp: Path) -> None:
        stick(tmp)
        data = saved_images(REFS)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar.getmembers()]
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for member, content in members:
                add(tar, member.name, content, member.type, member.linkname)
            add(tar, name, b"x")
        (tmp / "stick" / "weave-images-2.8.1.tar").write_bytes(out.getvalue())
    return setup


def index_trust(level: str) -> callable:
    """The images tar in the cache, its index entry's trust then changed by hand."""
    def setup(tmp: Path) -> None:
        cached_images()(tmp)
        index = tmp / "cache" / "artifacts" / "index.json"
        entries = json.loads(index.read_text())
        for entry in entries.values():
            entry["trust"] = level
        index.write_text(json.dumps(entries))
    return setup


def reports(a: object, b: object | None = None) -> callable:
    def setup(tmp: Path) -> None:
        for name, run in (("a.json", a), ("b.json", GOOD_RUN if b is None else b)):
            (tmp / name).write_text(run if isinstance(run, str) else json.dumps(run))
    return setup


def run_with(**changes) -> dict:
    return {**GOOD_RUN, **changes}


MERGE = ["report", "--merge", "{tmp}/a.json", "{tmp}/b.json"]
RESTORE = ["--provider", "libvirt", "restore"]
REAP = "`python -m lab reap` removes what a lab left"
NOT_AMD64 = "a zip whose nomad is not a Linux program for amd64"

# id: (setup, environment, argv, exit status, words of the output). {tmp} is the row's temp folder.
BAD = {
    # restore: the lab's state and its snapshot, said before Vagrant is needed (nothing is on PATH)
    "restore, no lab up": (None, {}, RESTORE, 1, "error: no lab is up (no .lab/state.json)"),
    "restore, state garbage": (write(STATE, "{nope"), {}, RESTORE, 2,
                               "state.json: not the state of a lab (the file line 1: not valid JSON"),
    "restore, state a link to /dev/zero": (lambda tmp: ((tmp / "root/.lab").mkdir(parents=True),
                                                        (tmp / STATE).symlink_to("/dev/zero")), {}, RESTORE, 2,
                                           "state.json: not a regular file"),
    "restore, state a list": (write(STATE, []), {}, RESTORE, 2, "state.json: not the state of a lab: the file: "
                                                                "must be a mapping, got a list: " + REAP),
    "restore, state nested deep": (write(STATE, "[" * 100_000 + "]" * 100_000), {}, RESTORE, 2,
                                   "not usable JSON (nested too deep)"),
    "restore, state missing keys": (write(STATE, {"provider": "libvirt"}), {}, RESTORE, 2,
                                    "not the state of a lab: topology_path: is required"),
    "restore, state with an unknown key": (state(colour="blue"), {}, RESTORE, 2, "unknown key(s) colour"),
    "restore, state a directory": (lambda tmp: (tmp / STATE).mkdir(parents=True), {}, RESTORE, 2,
                                   "state.json: Is a directory"),
    "restore, state with a key twice": (write(STATE, '{"provider": "libvirt", "provider": "virtualbox"}'), {},
                                        RESTORE, 2, "the key 'provider' is given twice in one object"),
    "restore, provider with an escape": (state(provider=f"{ESC}xen"), {}, RESTORE, 2,
                                         "provider: '\\x1b[31mxen' is not one of virtualbox, libvirt"),
    "restore, no snapshot recorded": (state(), {}, RESTORE, 1, "recorded no snapshot of its provisioned state"),
    "restore, snapshot a string": (state(snapshot="nwl-provisioned"), {}, RESTORE, 1,
                                   "not a snapshot the lab recorded: snapshot: must be a mapping, got the string"),
    "restore, snapshot with wrong keys": (state(snapshot={"x": 1}), {}, RESTORE, 1, "snapshot: unknown key(s) x"),
    "restore, snapshot tokens not strings": (state(snapshot={**SNAPSHOT, "provision_tokens": {"u1": 3}}), {},
                                             RESTORE, 1, "snapshot.provision_tokens.u1: must be a string"),
    "restore, snapshot seconds a string": (state(snapshot={**SNAPSHOT, "saved_seconds": "7"}), {}, RESTORE, 1,
                                           "snapshot.saved_seconds: must be a number of seconds"),
    "restore, snapshot name with an escape": (state(snapshot={**SNAPSHOT, "name": f"{ESC}x"}), {}, RESTORE, 1,
                                              "snapshot.name: '\\x1b[31mx' is not a snapshot name"),
    "diagnostics into /dev/null/x": (None, {}, ["--provider", "libvirt", "diagnostics", "/dev/null/x"], 2,
                                     "diagnostics DEST /dev/null/x: /dev/null is not a directory"),
    # fetch --from: what provisioning would install wrongly
    "nomad zip with a second member": (nomad(zip_of(("nomad", ELF), ("evil.sh", b"#!/bin/sh\n"))), {},
                                       NOMAD_FETCH, 1, "a zip holding more than the nomad binary: evil.sh"),
    "nomad zip with nomad twice": (nomad(zip_of(("nomad", ELF), ("nomad", b"#!/bin/sh\n"))), {}, NOMAD_FETCH, 1,
                                   "a zip holding nomad 2 times"),
    "nomad for aarch64": (nomad(hashicorp_zip(io.BytesIO(), "nomad", elf(b18=183, b19=0)).getvalue()), {},
                          NOMAD_FETCH, 1, f"{NOT_AMD64} (built for ELF machine 183, not x86-64 (62))"),
    "nomad of the 32-bit class": (nomad(hashicorp_zip(io.BytesIO(), "nomad", elf(b4=1)).getvalue()), {},
                                  NOMAD_FETCH, 1, f"{NOT_AMD64} (a 32-bit ELF class, not 64-bit)"),
    "nomad big-endian": (nomad(hashicorp_zip(io.BytesIO(), "nomad", elf(b5=2)).getvalue()), {}, NOMAD_FETCH, 1,
                         f"{NOT_AMD64} (a big-endian ELF"),
    "nomad only the ELF magic": (nomad(hashicorp_zip(io.BytesIO(), "nomad", b"\x7fELF").getvalue()), {},
                                 NOMAD_FETCH, 1, f"{NOT_AMD64} (its ELF header is cut short at 4 bytes)"),
    "nomad setuid": (nomad(zip_of(("nomad", ELF), mode=0o104755)), {}, NOMAD_FETCH, 1,
                     "a zip whose nomad has mode 4755, more than 0755"),
    "nomad writable by all": (nomad(zip_of(("nomad", ELF), mode=0o100777)), {}, NOMAD_FETCH, 1,
                              "has mode 0777, more than 0755"),
    "weave script setting SCRIPT_VERSION twice": (script(weave_script("2.8.1") + 'SCRIPT_VERSION="9.9"\n'), {},
                                                  WEAVE, 1, "a script setting SCRIPT_VERSION 2 times"),
    "tar member named with an escape": (images_with_member("\x1b[2J../x"), {}, WEAVE, 1,
                                        "member \\x1b[2J../x has control characters in its name"),
    "tar link target with a newline": (images_with_member("ok\nname"), {}, WEAVE, 1,
                                       "member ok\\nname has control characters"),
    "--from folder named with an escape": (lambda tmp: (tmp / f"in{ESC}RED").mkdir(), {},
                                           ["fetch", "--from", f"{{tmp}}/in{ESC}RED", "--accept-unpinned"], 3,
                                           "from {tmp}/in\\x1b[31mRED: nothing"),
    # the cache's index
    "index trust unknown": (index_trust("totally-trusted"), {}, ["--profile", "current", "versions"], 2,
                            ".trust: 'totally-trusted' is not one of verified, first-use"),
    "index trust with an escape": (index_trust(f"{ESC}ok"), {}, ["--profile", "current", "versions"], 2,
                                   ".trust: '\\x1b[31mok' is not one of"),
    # reports
    "report of schema 2": (reports(run_with(schema=2)), {}, MERGE, 2, "a.json: schema: must be 1"),
    "report merged twice": (reports(GOOD_RUN), {}, ["report", "--merge", "{tmp}/a.json", "{tmp}/a.json"], 2,
                            "a.json: given twice to --merge"),
    "report merged twice through a link": (lambda tmp: (reports(GOOD_RUN)(tmp), (tmp / "l.json").symlink_to(
        tmp / "a.json")), {}, ["report", "--merge", "{tmp}/a.json", "{tmp}/l.json"], 2, "given twice to --merge"),
    "report naming no profile": (reports(run_with(metadata={})), {}, MERGE, 2,
                                 "a.json: metadata.profile: is required to merge a report not named "
                                 "<profile>/claims.json"),
    "report with NaN": (reports(json.dumps(run_with(metadata={"profile": "x", "up_seconds": float("nan")}))),
                        {}, MERGE, 2, "not usable JSON (NaN is not a JSON number)"),
    "report with 1e999": (reports('{"schema": 1, "results": [], "metadata": {"up_seconds": 1e999}}'), {}, MERGE, 2,
                          "not usable JSON ('1e999' is too large a number)"),
    "report with results twice": (reports('{"schema": 1, "results": [], "results": []}'), {}, MERGE, 2,
                                  "the key 'results' is given twice in one object"),
    # topology and versions
    "box_version with shell and escape": (topo(lambda r: r["providers"]["virtualbox"].update(
        box_version=f"{ESC};rm -rf")), {}, [*T_YAML, "--provider", "libvirt", "prepare"], 2,
        "providers.virtualbox.box_version: '\\x1b[31m;rm -rf' is not a box version"),
    "libvirt box with shell characters": (topo(lambda r: r["providers"]["libvirt"].update(box="a b;c")), {},
                                          [*T_YAML, "--provider", "libvirt", "prepare"], 2,
                                          "providers.libvirt.box: 'a b;c' is not a box name"),
    "signing key over http": (versions(lambda r: r["hashicorp_signing_key"].update(url="http://example.com/k")),
                              VERSIONS, ["versions"], 2, "hashicorp_signing_key.url: 'http://example.com/k' is not "
                                                         "an https:// URL"),
    "docker from hashicorp": (versions(lambda r: r["profiles"]["current"]["docker"].update(source="hashicorp")),
                              VERSIONS, ["versions"], 2, "profiles.current.docker.source: 'hashicorp' is not one "
                                                         "of box"),
    "consul from the box": (versions(lambda r: r["profiles"]["current"]["consul"].update(source="box")),
                            VERSIONS, ["versions"], 2, "profiles.current.consul.source: 'box' is not one of "
                                                       "hashicorp, debian"),
}


@pytest.mark.parametrize("setup, env, argv, status, words", BAD.values(), ids=BAD.keys())
def test_bad_input_round3_is_refused_clearly(tmp_path, setup, env, argv, status, words):
    proc = run_row(tmp_path, setup, env, argv, status, words)
    assert "vagrant is not installed" not in proc.stdout + proc.stderr
    if status == 2:
        assert proc.stderr.splitlines() == [f"error: {proc.stderr.strip()[7:]}"], proc.stderr
    if status == 1 and "refused" in proc.stdout:
        assert "error: 1 file(s) refused (see above); nothing was installed from them" in proc.stderr


GOOD = {
    "LZMA nomad zip (binary_from extracts with python3's zipfile)": (
        nomad(hashicorp_zip(io.BytesIO(), "nomad", ELF, compress_type=zipfile.ZIP_LZMA).getvalue()), NOMAD_FETCH),
    "box_version a constraint": (topo(lambda r: r["providers"]["virtualbox"].update(box_version=">= 202401, < 2025")),
                                 [*T_YAML, "versions"]),
}


@pytest.mark.parametrize("setup, argv", GOOD.values(), ids=GOOD.keys())
def test_good_input_round3_is_taken(tmp_path, setup, argv):
    setup(tmp_path)
    proc = lab(tmp_path, *(_fill(a, tmp_path) for a in argv))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _pytest(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           f"--lab-report-dir={tmp}/reports", *args],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, "PATH": "", "LAB_ROOT": str(tmp / "root"), "LAB_CACHE_DIR": str(tmp / "c"),
                               "LAB_TOPOLOGY": str(topology.DEFAULT_PATH), **(env or {})})


# pytest: a usage error (exit 4) before anything runs, or a one-line setup error of the first lab test
PYTEST_BAD = {
    "--lab-report-dir empty": (None, ["--collect-only", "--lab-report-dir=", "tests/connectivity"], {}, 4,
                               "ERROR: --lab-report-dir '': names no folder"),
    "relative LAB_CACHE_DIR": (None, ["--collect-only", "tests/connectivity"], {"LAB_CACHE_DIR": "rel"}, 4,
                               "ERROR: lab settings: LAB_CACHE_DIR='rel': must be an absolute path"),
    "fresh, state garbage": (write(STATE, "{nope"), ["-x", "--lab-reuse=fresh", "tests/connectivity"], {}, 1,
                             "state.json: not the state of a lab (the file line 1: not valid JSON"),
    "fresh, state /dev/zero": (lambda tmp: ((tmp / "root/.lab").mkdir(parents=True),
                                            (tmp / STATE).symlink_to("/dev/zero")),
                               ["-x", "--lab-reuse=fresh", "tests/connectivity"], {}, 1, "not a regular file"),
    "reuse, state a list": (write(STATE, []), ["-x", "--lab-reuse", "tests/connectivity"], {}, 1,
                            "state.json: not the state of a lab: the file: must be a mapping, got a list"),
    "fresh, no snapshot": (state(), ["-x", "--lab-reuse=fresh", "tests/connectivity"], {}, 1,
                           "--lab-reuse=fresh: the lab that is up recorded no snapshot"),
    "fresh, snapshot a string": (state(snapshot="x"), ["-x", "--lab-reuse=fresh", "tests/connectivity"], {}, 1,
                                 "--lab-reuse=fresh: {tmp}/root/.lab/state.json: not a snapshot the lab recorded"),
}


@pytest.mark.parametrize("setup, args, env, status, words", PYTEST_BAD.values(), ids=PYTEST_BAD.keys())
def test_pytest_says_bad_lab_input_in_one_line(tmp_path, setup, args, env, status, words):
    if setup:
        setup(tmp_path)
    (tmp_path / "root").mkdir(exist_ok=True)
    proc = _pytest(tmp_path, *args, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == status, output
    assert _fill(words, tmp_path) in output, output
    for noise in ("Traceback", "During handling", "vagrant is not installed", "MemoryError", "\nE   "):
        assert noise not in output, output


def test_every_plain_hint_in_the_labs_messages_is_a_command_the_lab_takes():
    """`python -m lab down`, `reap`, `up`, ... as the messages quote them (the fetch hints, built from a
    profile, are typed by test_every_fetch_hint_the_lab_prints_parses_and_names_its_profile)."""
    import re

    from lab.__main__ import build_parser
    hints = {hint for source in (ROOT / "lab").glob("*.py")
             for hint in re.findall(r"`python -m lab ([a-z][a-z -]*)`", source.read_text())}
    assert {"down", "reap", "up", "status"} <= hints
    for hint in hints:
        assert build_parser().parse_args(hint.split()).command == hint.split()[0], hint
