"""Bad input to the artifact cache and `fetch`/`versions`, round 2: every row is one hostile input
given to the real command line (`python -m lab ...` in a subprocess, nothing on PATH).

A row says the exit status and words of the output: 2 and one line `error: ...` for a path, an
option or the cache's index that is unusable; 1 and a `refused` line for a file offered with
`fetch --from` that provisioning could not install (real tars and zips, a real ELF program);
0 or 3 where the output must say something (a caveat, where a file came from)."""
from __future__ import annotations

import io
import os
import re
import shlex
import tarfile
import zipfile
from pathlib import Path

import pytest

from lab import artifacts, stage
from lab.__main__ import build_parser
from lab.artifacts import Cache, Fetcher
from tests.unit.archives import ELF, bad_crc_zip, docker_save, hashicorp_zip, patched_zip, weave_script
from tests.unit.test_bad_input import VERSIONS, _fill, folder, lab, versions, write

REFS = ["weaveworks/weave:2.8.1", "weaveworks/weaveexec:2.8.1", "weaveworks/weavedb:latest"]
NOMAD = "nomad_1.11.3_linux_amd64.zip"
IMAGES = "weave-images-2.8.1.tar"
ESC = "\x1b[2J\x1b[31m"
WEAVE = ["fetch", "--component", "weave", "--from", "{tmp}/stick", "--accept-unpinned"]
NOMAD_FETCH = ["fetch", "--component", "nomad", "--from", "{tmp}/stick", "--accept-unpinned"]


def stick(tmp: Path, script: str | None = None, images=None, nomad: bytes | None = None) -> None:
    """{tmp}/stick: the current profile's weave and nomad builds, with the parts given replaced."""
    (tmp / "stick").mkdir(exist_ok=True)
    (tmp / "stick" / "weave-2.8.1").write_text(weave_script("2.8.1") if script is None else script)
    path = tmp / "stick" / IMAGES
    images(path) if images else docker_save(path, REFS)
    (tmp / "stick" / NOMAD).write_bytes(hashicorp_zip(io.BytesIO(), "nomad", ELF).getvalue() if nomad is None
                                        else nomad)


def images(**save) -> callable:
    return lambda tmp: stick(tmp, images=lambda path: docker_save(path, REFS, **save))


def listed(tags: list[list[str] | None]) -> list[dict]:
    """manifest.json for docker_save's members (config and layer i), image i tagged tags[i]."""
    return [{"Config": f"{i % len(REFS):064x}.json", "RepoTags": tag, "Layers": [f"layer{i % len(REFS)}/layer.tar"]}
            for i, tag in enumerate(tags)]


def manifest(change) -> callable:
    """The stick's images with manifest.json's first image changed."""
    images_listed = listed([[ref] for ref in REFS])
    change(images_listed[0])
    return images(manifest=images_listed)


def nomad_zip(**made) -> bytes:
    return hashicorp_zip(io.BytesIO(), "nomad", **{"content": ELF, **made}).getvalue()


def nomad(data: bytes) -> callable:
    return lambda tmp: stick(tmp, nomad=data)


def pinned_nomad(data: bytes) -> callable:
    """The stick's nomad zip pinned by a copy of versions.yaml: the pin vouches for it, provisioning would not."""
    import hashlib

    def setup(tmp: Path) -> None:
        stick(tmp, nomad=data)
        versions(lambda r: r["profiles"]["current"]["nomad"].update(sha256=hashlib.sha256(data).hexdigest()))(tmp)
    return setup


def script(text: str) -> callable:
    return lambda tmp: stick(tmp, script=text)


def link_outside(tmp: Path) -> None:
    stick(tmp)
    (tmp / "elsewhere").mkdir()
    (tmp / "elsewhere" / "weave-2.8.1").write_text(weave_script("2.8.1"))
    (tmp / "stick" / "weave-2.8.1").unlink()
    (tmp / "stick" / "weave-2.8.1").symlink_to(tmp / "elsewhere" / "weave-2.8.1")


def index_links_to(target: str) -> callable:
    def setup(tmp: Path) -> None:
        (tmp / "cache" / "artifacts").mkdir(parents=True)
        (tmp / "cache" / "artifacts" / "index.json").symlink_to(target)
    return setup


def images_artifact(name: str = "current") -> artifacts.Artifact:
    return next(a for a in artifacts.profile(name).components["weave"].artifacts if a.role == "images")


def cached_images(trust: str = "operator-unpinned", verified: str = "test: the operator's images") -> callable:
    """The current profile's images tar in the cache, recorded with this trust."""
    def setup(tmp: Path) -> None:
        tar = docker_save(tmp / "images.tar", REFS)
        Cache(tmp / "cache").add(images_artifact(), tar, verified, trust)
    return setup


def mirrored(tmp: Path) -> None:
    """versions.yaml whose current profile takes weave's images from a mirror (other refs), and the
    cache holding the Docker Hub images' tar another profile put there."""
    cached_images()(tmp)
    mirror = [f"mirror.example.com/{ref}" for ref in REFS]
    versions(lambda r: r["profiles"]["current"]["weave"]["images"].update(refs=mirror))(tmp)


def placed_by_hand(tmp: Path) -> None:
    stick(tmp)
    by_hand = tmp / "cache" / "artifacts" / "weave" / "2.8.1" / "weave-2.8.1"
    by_hand.parent.mkdir(parents=True)
    by_hand.write_text(weave_script("2.8.1", "the operator's only copy"))


def only_weave(tmp: Path) -> None:
    stick(tmp)
    (tmp / "stick" / NOMAD).unlink()


def nomad_on_a_stick(tmp: Path) -> None:
    folder("stick")(tmp)
    (tmp / "stick" / NOMAD).write_bytes(nomad_zip())


OUTSIDE = "outside the archive"
ZIP = nomad_zip()
CONSUL_DEB = "consul 1.8.7 (consul_1.8.7+dfsg1-2+b3_amd64.deb)"

# id: (setup, environment, argv, exit status, words of the output). {tmp} is the row's temp folder.
BAD = {
    # images tars that crashed the check (a traceback)
    "images manifest.json a symlink": (images(manifest_kind=tarfile.SYMTYPE), {}, WEAVE, 1,
                                       "its manifest.json is not a regular file (a link or a folder)"),
    "images manifest.json a hardlink": (images(manifest_kind=tarfile.LNKTYPE), {}, WEAVE, 1,
                                        "its manifest.json is not a regular file"),
    "images manifest.json a folder": (images(manifest_kind=tarfile.DIRTYPE), {}, WEAVE, 1,
                                      "its manifest.json is not a regular file"),
    "images Config a list": (manifest(lambda image: image.update(Config=["a.json"])), {}, WEAVE, 1,
                             "manifest.json[0].Config is not the name of a member"),
    "images Layers an int": (manifest(lambda image: image.update(Layers=7)), {}, WEAVE, 1,
                             "manifest.json[0].Layers is not a list of members"),
    "images Layers a dict": (manifest(lambda image: image.update(Layers={"layer0/layer.tar": 1})), {}, WEAVE, 1,
                             "manifest.json[0].Layers is not a list of members"),
    # the cache's index that crashed it (MemoryError)
    "index.json a link to /dev/zero": (index_links_to("/dev/zero"), {}, ["versions"], 2,
                                       "cannot read the artifact cache's index {tmp}/cache/artifacts/index.json: "
                                       "not a regular file"),
    "index.json of 5 MiB": (write("cache/artifacts/index.json", " " * (5 << 20)), {}, ["versions"], 2,
                            "index.json: larger than 4096 KiB"),
    # images tars that were taken
    "images a tag twice": (images(manifest=listed([[REFS[0]], [REFS[1]], [REFS[2], f"docker.io/{REFS[0]}"]])), {},
                           WEAVE, 1, "manifest.json[2].RepoTags: docker.io/weaveworks/weave:2.8.1 is listed twice"),
    "images an untagged extra image": (images(manifest=listed([*([ref] for ref in REFS), None])), {}, WEAVE, 1,
                                       "manifest.json[3] is an image without a tag, which the profile does not name"),
    "images a hollow layer (text)": (images(layer_data=b"not a layer\n" * 100), {}, WEAVE, 1,
                                     "manifest.json[0].Layers[0]: layer0/layer.tar is not a layer (not a tar archive)"),
    "images a hollow layer (empty)": (images(layer_data=b""), {}, WEAVE, 1, "layer0/layer.tar is not a layer"),
    "images a ../ member": (images(extra=[("../evil", b"x")]), {}, WEAVE, 1, f"member ../evil lies {OUTSIDE}"),
    "images an absolute member": (images(extra=[("/etc/evil", b"x")]), {}, WEAVE, 1,
                                  f"member /etc/evil lies {OUTSIDE} (an absolute path or ..)"),
    "images a symlink out": (images(extra=[("layer0/passwd", b"", tarfile.SYMTYPE, "../../etc/passwd")]), {},
                             WEAVE, 1, f"member layer0/passwd links to ../../etc/passwd, {OUTSIDE}"),
    "images a hardlink out": (images(extra=[("shadow", b"", tarfile.LNKTYPE, "/etc/shadow")]), {}, WEAVE, 1,
                              f"member shadow links to /etc/shadow, {OUTSIDE}"),
    "images a device": (images(extra=[("null", b"", tarfile.CHRTYPE)]), {}, WEAVE, 1,
                        "member null is a device or a pipe"),
    # nomad zips that were taken, and provisioning's binary_from would refuse
    "nomad zip a symlink member": (nomad(nomad_zip(content=b"/usr/bin/true", mode=0o120777)), {}, NOMAD_FETCH, 1,
                                   "a zip whose nomad is a symbolic link, not the program"),
    "nomad zip a text file": (nomad(nomad_zip(content=b"#!/bin/sh\necho nomad\n")), {}, NOMAD_FETCH, 1,
                              "a zip whose nomad is not a Linux program (no ELF header)"),
    "nomad zip mode 0644": (nomad(nomad_zip(mode=0o100644)), {}, NOMAD_FETCH, 1,
                            "a zip whose nomad has mode 0644, not executable (HashiCorp's zips store 0755)"),
    "nomad zip not a regular file": (nomad(nomad_zip(mode=0o755)), {}, NOMAD_FETCH, 1,
                                     "a zip whose nomad is not recorded as a regular file (mode 000755"),
    "nomad zip a bad CRC": (nomad(bad_crc_zip(ZIP)), {}, NOMAD_FETCH, 1, "an unreadable zip (Bad CRC-32 for file"),
    "nomad zip encrypted": (nomad(patched_zip(ZIP, "flags", 1)), {}, NOMAD_FETCH, 1, "a zip whose nomad is encrypted"),
    "nomad zip an unknown compression": (nomad(patched_zip(ZIP, "method", 97)), {}, NOMAD_FETCH, 1,
                                         "a zip whose nomad is compressed with method 97, which provisioning "
                                         "cannot extract"),
    "nomad zip mode 0644, pinned": (pinned_nomad(nomad_zip(mode=0o100644)), VERSIONS,
                                    ["fetch", "--component", "nomad", "--from", "{tmp}/stick"], 1,
                                    "a zip whose nomad has mode 0644, not executable"),
    "nomad zip a bad CRC, pinned": (pinned_nomad(bad_crc_zip(ZIP)), VERSIONS,
                                    ["fetch", "--component", "nomad", "--from", "{tmp}/stick"], 1, "Bad CRC-32"),
    # weave scripts that were taken
    "weave script without SCRIPT_VERSION": (script("#!/bin/sh\necho weave\n"), {}, WEAVE, 1,
                                            'a script without SCRIPT_VERSION="2.8.1"'),
    "weave script of another version": (script(weave_script("2.8.0")), {}, WEAVE, 1,
                                        'its SCRIPT_VERSION is "2.8.0": the script of another weave than 2.8.1'),
    # paths that were taken
    "a supplied file a link out of --from": (link_outside, {}, WEAVE, 2,
                                             "{tmp}/stick/weave-2.8.1: a link to {tmp}/elsewhere/weave-2.8.1, "
                                             "outside {tmp}/stick: put the file itself in the folder"),
    "fetch --from an empty name": (None, {}, ["fetch", "--from", ""], 2,
                                   "fetch --from '': names no folder: give the folder holding the files"),
    "LAB_CACHE_DIR relative (versions)": (None, {"LAB_CACHE_DIR": "cache"}, ["versions"], 2,
                                          "LAB_CACHE_DIR='cache': must be an absolute path"),
    "LAB_CACHE_DIR relative (fetch)": (None, {"LAB_CACHE_DIR": "./c"}, ["fetch", "--component", "nomad"], 2,
                                       "LAB_CACHE_DIR='./c': must be an absolute path"),
    "LAB_CACHE_DIR not writable names it": (nomad_on_a_stick, {"LAB_CACHE_DIR": "/proc/nwl-cache"},
                                            NOMAD_FETCH, 2, "(LAB_CACHE_DIR names another folder)"),
    # what the cache shows
    "images of another profile's refs": (mirrored, VERSIONS, ["--profile", "current", "versions"], 0,
                                         f"images {IMAGES}: refused"),
    "images of another profile's refs (fetch)": (
        mirrored, VERSIONS, ["fetch", "--component", "weave"], 1,
        "holds the images weaveworks/weave:2.8.1, weaveworks/weavedb:latest, weaveworks/weaveexec:2.8.1, not this "
        "profile's mirror.example.com/weaveworks/weave:2.8.1"),
    # a file the operator put in the cache by hand is never deleted
    "a file placed by hand in the cache": (placed_by_hand, {}, WEAVE, 0,
                                           "moved {tmp}/cache/artifacts/weave/2.8.1/weave-2.8.1 aside to "
                                           "weave-2.8.1.placed-by-hand: no index entry or pin vouches for it"),
    # confusing output
    "fetch --from a folder with only some components": (only_weave, {}, ["fetch", "--from", "{tmp}/stick",
                                                                         "--accept-unpinned"], 0,
                                                        f"from {{tmp}}/stick: weave 2.8.1 (weave-2.8.1), weave 2.8.1 "
                                                        f"({IMAGES})\nstill missing: consul 1.22.7 "
                                                        "(consul_1.22.7_linux_amd64.zip), nomad 1.11.3 ("),
    "fetch --from a folder without a component named": (only_weave, {}, ["fetch", "--from", "{tmp}/stick",
                                                                          "--component", "nomad"], 3,
                                                         f"missing  nomad 1.11.3 ({NOMAD}): not in {{tmp}}/stick\n"),
    "a missing line names its file once": (folder("stick"), {}, ["--profile", "debian", "fetch", "--from",
                                                                 "{tmp}/stick", "--component", "consul"], 3,
                                           f"missing  {CONSUL_DEB}: not in {{tmp}}/stick\n"),
    "versions says which weave file is which": (None, {}, ["--profile", "current", "versions"], 0,
                                                f"  weave   2.8.1    script weave-2.8.1: missing; images {IMAGES}: "
                                                "missing\n"),
    "the stage's hint runs as printed": (None, {}, ["fetch", "--profile", "debian", "--component", "consul"], 3,
                                         f"missing  {CONSUL_DEB}: reading Debian bullseye's package list: apt-get "
                                         "is not installed"),
    "a global option given twice: the later wins": (None, {}, ["--profile", "current", "versions", "--profile",
                                                               "debian"], 0, "debian: "),
    # terminal escape sequences from supplied files
    "ESC in SCRIPT_VERSION": (script(weave_script(f"{ESC}2.8.1")), {}, WEAVE, 1,
                              'its SCRIPT_VERSION is "\\x1b[2J\\x1b[31m2.8.1"'),
    "ESC in a RepoTag": (images(manifest=listed([[f"{ESC}{ref}"] for ref in REFS])), {}, WEAVE, 1,
                         "unexpected \\x1b[2J\\x1b[31mweaveworks/weave:2.8.1"),
    "ESC in the index's verified": (cached_images(verified=f"{ESC}test"), {}, ["fetch", "--component", "weave"], 3,
                                    f"ok       weave 2.8.1 ({IMAGES}): \\x1b[2J\\x1b[31mtest"),
}


def run_row(tmp: Path, setup, env: dict, argv: list[str], status: int, words: str):
    """A row's command run on its setup: no traceback, no raw escape, its exit status and words."""
    if setup:
        setup(tmp)
    proc = lab(tmp, *(_fill(a, tmp) for a in argv), env={k: _fill(v, tmp) for k, v in env.items()})
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "\x1b" not in output, output
    assert proc.returncode == status, output
    assert _fill(words, tmp) in output, output
    return proc


@pytest.mark.parametrize("setup, env, argv, status, words", BAD.values(), ids=BAD.keys())
def test_bad_artifact_input_is_refused_or_said(tmp_path, setup, env, argv, status, words):
    proc = run_row(tmp_path, setup, env, argv, status, words)
    if status == 2:
        assert proc.stderr.splitlines() == [f"error: {proc.stderr.strip()[7:]}"], proc.stderr
    if status == 1:
        assert "error: 1 file(s) refused (see above); nothing was installed from them" in proc.stderr
        refused = re.findall(r"^refused  .*? \((.+?)\): refusing .*/stick/", proc.stdout, re.MULTILINE)
        assert not [path for name in refused for path in (tmp_path / "cache").rglob(name)]


# -- focused checks on what the rows cannot see in the output ----------------------------------

def test_a_file_placed_by_hand_is_kept_and_the_supplied_one_taken(tmp_path):
    placed_by_hand(tmp_path)
    proc = lab(tmp_path, *(_fill(a, tmp_path) for a in WEAVE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = tmp_path / "cache" / "artifacts" / "weave" / "2.8.1" / "weave-2.8.1.placed-by-hand"
    assert "the operator's only copy" in kept.read_text()
    assert "rebuilt" in (tmp_path / "cache" / "artifacts" / "weave" / "2.8.1" / "weave-2.8.1").read_text()


def test_the_index_of_a_shared_cache_is_readable_by_its_other_users(tmp_path):
    stick(tmp_path)
    proc = lab(tmp_path, *(_fill(a, tmp_path) for a in WEAVE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = tmp_path / "cache" / "artifacts" / "index.json"
    old = os.umask(0o022)
    os.umask(old)
    assert index.stat().st_mode & 0o777 == 0o666 & ~old


def test_a_global_option_after_the_command_does_not_clobber_one_before():
    args = build_parser().parse_args(["--profile", "debian", "--provider", "libvirt", "fetch", "--component", "weave"])
    assert (args.profile, args.provider, args.nomad_endpoint) == ("debian", "libvirt", "docker")
    args = build_parser().parse_args(["fetch", "--profile", "debian", "--nomad-endpoint", "weave-proxy"])
    assert (args.profile, args.provider, args.nomad_endpoint) == ("debian", "auto", "weave-proxy")


def _hints(text: str) -> list[str]:
    return [hint.strip() for hint in text.split("python -m lab ")[1:]]


def test_every_fetch_hint_the_lab_prints_parses_and_names_its_profile(tmp_path):
    """The hints of stage.plan (skip reasons, stack.env), of fetch's missing lines and of Cache.check."""
    cache = Cache(tmp_path / "cache")
    said = []
    for name in artifacts.load_profiles():
        profile = artifacts.profile(name)
        said += [state.reason for state in stage.plan(profile, cache).values() if state.reason]
        said += [entry.reason for entry in Fetcher(cache, profile, say=said.append).fetch(sources=())]
    hints = [hint for reason in said for hint in _hints(reason)]
    assert len(hints) >= 10
    for hint in hints:
        argv = shlex.split(hint.split(" on a machine")[0].split(":")[0])
        args = build_parser().parse_args(argv)
        assert args.command == "fetch" and args.profile in artifacts.load_profiles() and args.component, hint
    default = cache.check(images_artifact()).reason
    argv = shlex.split(_hints(default)[0].split(" (")[0])
    assert build_parser().parse_args(argv).component == ["weave"] and "--profile it is for" in default


def test_a_weave_script_naming_its_release_is_taken(tmp_path):
    stick(tmp_path)
    entries = Fetcher(Cache(tmp_path / "cache"), artifacts.profile("current"), say=lambda m: None,
                      from_dir=tmp_path / "stick", accept_unpinned=True).fetch(only=("weave", "nomad"))
    assert [e.status for e in entries] == ["ok", "ok", "ok"], [e.reason for e in entries]
    assert 'SCRIPT_VERSION="2.8.1"' in entries[0].verified


def test_a_docker_save_of_the_oci_layout_is_taken(tmp_path):
    """Docker 25+ writes layers as blobs/sha256/..., older paths as links to them, and may store them compressed."""
    import gzip

    from tests.unit.archives import layer
    listed, extra = [], []
    for i, ref in enumerate(REFS):
        blob = f"blobs/sha256/{i:064x}"
        extra += [(blob, gzip.compress(layer()) if i else layer()), (f"old{i}/layer.tar", b"", tarfile.SYMTYPE,
                                                                    f"../{blob}")]
        listed.append({"Config": blob, "RepoTags": [ref], "Layers": [f"old{i}/layer.tar"]})
    docker_save(tmp_path / "images.tar", [], manifest=listed, extra=extra)
    from lab import images
    assert images.saved_tags(tmp_path / "images.tar") == REFS


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_zip_compressed_as_provisioning_can_extract_is_taken(tmp_path, method):
    """binary_from (provision/stack/lib.sh) extracts with Python's zipfile: every method it reads is taken."""
    from lab import supplied
    nomad_artifact = next(iter(artifacts.profile("current").components["nomad"].artifacts))
    (tmp_path / NOMAD).write_bytes(nomad_zip(compress_type=method))
    assert supplied.describe(nomad_artifact, tmp_path / NOMAD) == f"a zip holding nomad ({len(ELF)} bytes)"
