"""Version profiles, the artifact cache and its verification (no VM; only 127.0.0.1 traffic)."""
import copy
import functools
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from lab import artifacts, report, stage, topology
from lab.artifacts import Artifact, ArtifactError, Cache, Fetcher
from tests.unit.archives import ELF, docker_save, hashicorp_zip, weave_script

ROOT = Path(__file__).parents[2]


def test_every_profile_names_all_four_components_with_versions():
    profiles = artifacts.load_profiles()
    assert {"article", "current", "current-fork", "debian"} <= set(profiles)
    assert profiles["article"].versions() == {"docker": "18.09", "weave": "2.5.1", "consul": "1.4.4", "nomad": "0.8.7"}
    assert profiles["article"].components["nomad"].hcl == 1
    assert profiles["current"].components["nomad"].hcl == 2


def test_profiles_extend_their_parent():
    profiles = artifacts.load_profiles()
    debian, current = profiles["debian"], profiles["current"]
    assert debian.components["consul"].artifacts[0].source == "debian"
    assert debian.components["nomad"] == current.components["nomad"]
    assert debian.components["weave"] == current.components["weave"]
    fork = profiles["current-fork"].components["weave"]
    assert fork.version == "2.9.0" and fork.env["DOCKERHUB_USER"] == "rajchaudhuri"


def test_hashicorp_artifacts_know_their_release_urls():
    nomad = artifacts.profile("article").components["nomad"].artifacts[0]
    assert nomad.url == "https://releases.hashicorp.com/nomad/0.8.7/nomad_0.8.7_linux_amd64.zip"
    assert nomad.sha256 == "a5a3a507ee8048ab2337427824b5e7fd0c6c069ca5d2f545f13f742af0a707da"


def test_unknown_profile_is_refused():
    with pytest.raises(ArtifactError, match="unknown profile 'newest': use one of article, current"):
        artifacts.profile("newest")


def test_manifest_errors_name_the_place(tmp_path):
    raw = yaml.safe_load(artifacts.MANIFEST.read_text())
    raw["profiles"]["current"]["nomad"]["sha256"] = "abc"
    bad = tmp_path / "versions.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ArtifactError, match=r"versions\.yaml: profiles\.current\.nomad\.sha256: 'abc' is not 64 lo"):
        artifacts.load_profiles(bad)


@pytest.mark.parametrize("pin", [
    "A5A3A507EE8048AB2337427824B5E7FD0C6C069CA5D2F545F13F742AF0A707DA",  # the real pin, upper case
    "a5a3a507ee8048ab2337427824b5e7fd0c6c069ca5d2f545f13f742af0a707dA",
    "g5a3a507ee8048ab2337427824b5e7fd0c6c069ca5d2f545f13f742af0a707da",
    "a5a3a507ee8048ab2337427824b5e7fd0c6c069ca5d2f545f13f742af0a707d ",
    "a5a3a507ee8048ab2337427824b5e7fd0c6c069ca5d2f545f13f742af0a707da\n",
])
def test_a_pin_that_is_not_64_lowercase_hex_digits_is_refused(tmp_path, pin):
    assert len(pin.rstrip("\n")) == 64
    raw = yaml.safe_load(artifacts.MANIFEST.read_text())
    raw["profiles"]["article"]["nomad"]["sha256"] = pin
    bad = tmp_path / "versions.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ArtifactError, match=r"profiles\.article\.nomad\.sha256: .* is not 64 lowercase hex digits"):
        artifacts.load_profiles(bad)


SHIPPED = yaml.safe_load(artifacts.MANIFEST.read_text())


def manifest_variant(tmp_path, change) -> Path:
    raw = copy.deepcopy(SHIPPED)
    change(raw)
    path = tmp_path / "versions.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _current(component):
    return lambda r: r["profiles"]["current"][component]


BAD_MANIFESTS = {
    "a version YAML reads as a number": (lambda r: _current("nomad")(r).update(version=1.1),
                                         "profiles.current.nomad.version: must be a string, got the number 1.1"),
    "a list where a version belongs": (lambda r: _current("nomad")(r).update(version=["1", "11"]),
                                       "profiles.current.nomad.version: must be a non-empty string, got a list"),
    "a version with a trailing newline": (lambda r: _current("nomad")(r).update(version="1.11.3\n"),
                                          "profiles.current.nomad.version: '1.11.3\\n' is not a version"),
    "a version that climbs out of the cache": (lambda r: _current("consul")(r).update(version="../../etc"),
                                               "profiles.current.consul.version: '../../etc' is not a version"),
    "an unknown source": (lambda r: _current("consul")(r).update(source="ftp"),
                          "profiles.current.consul.source: 'ftp' is not one of hashicorp, debian"),
    "no source": (lambda r: _current("nomad")(r).pop("source"), "profiles.current.nomad.source: is required"),
    "a misspelt pin": (lambda r: _current("nomad")(r).update(sha265="0" * 64),
                       "profiles.current.nomad: unknown key(s) sha265"),
    "a size that is a string": (lambda r: _current("consul")(r).update(size="34 MB"),
                                "profiles.current.consul.size: must be a positive integer, got '34 MB'"),
    "refs that are one string": (lambda r: _current("weave")(r)["images"].update(refs="weaveworks/weave:2.8.1"),
                                 "profiles.current.weave.images.refs: must be a non-empty list of image references, "
                                 "got the string"),
    "a ref without a tag": (lambda r: _current("weave")(r)["images"]["refs"].__setitem__(0, "weaveworks/weave"),
                            "profiles.current.weave.images.refs[0]: 'weaveworks/weave' is not an image reference"),
    "a ref with a trailing newline": (
        lambda r: _current("weave")(r)["images"]["refs"].__setitem__(0, "weaveworks/weave:2.8.1\n"),
        "profiles.current.weave.images.refs[0]: 'weaveworks/weave:2.8.1\\n' is not an image reference"),
    "a ref listed twice": (lambda r: _current("weave")(r)["images"]["refs"].append("docker.io/weaveworks/weave:2.8.1"),
                           "profiles.current.weave.images.refs[3]: 'docker.io/weaveworks/weave:2.8.1' names an image "
                           "listed before it"),
    "a script URL that is not one": (lambda r: _current("weave")(r)["script"].update(url="weave"),
                                     "profiles.current.weave.script.url: 'weave' is not an http(s) URL"),
    "no images": (lambda r: _current("weave")(r).pop("images"), "profiles.current.weave.images: is required"),
    "an env value that is a number": (lambda r: r["profiles"]["current-fork"]["weave"]["env"].update(WEAVE_MTU=1376),
                                      "profiles.current-fork.weave.env.WEAVE_MTU: must be a string, got the number"),
    "a Debian file name with a folder": (
        lambda r: r["profiles"]["debian"]["consul"].update(filename="../consul.deb"),
        "profiles.debian.consul.filename: '../consul.deb' is not a .deb file name (no directory)"),
    "a Debian package without its name": (lambda r: r["profiles"]["debian"]["consul"].pop("package"),
                                          "profiles.debian.consul.package: is required"),
    "an unknown HCL version": (lambda r: _current("nomad")(r).update(hcl=3),
                               "profiles.current.nomad.hcl: 3 is not one of 1, 2"),
    "extends an unknown profile": (lambda r: r["profiles"]["debian"].update(extends="curent"),
                                   "profiles.debian.extends: unknown profile 'curent'"),
    "extends a list": (lambda r: r["profiles"]["debian"].update(extends=["current"]),
                       "profiles.debian.extends: must be a non-empty string, got a list"),
    "extends itself through another": (lambda r: r["profiles"]["current"].update(extends="debian"),
                                       "profile current extends itself (current -> debian -> current)"),
    "a profile without nomad": (lambda r: r["profiles"]["article"].pop("nomad"), "profiles.article: lacks nomad"),
    "a component that is a string": (lambda r: r["profiles"]["current"].update(docker="20.10"),
                                     "profiles.current.docker: must be a mapping, got the string '20.10'"),
    "a profile name with a capital": (lambda r: r["profiles"].update(Newest=copy.deepcopy(r["profiles"]["current"])),
                                      "profiles.Newest: 'Newest' is not a profile name"),
    "no profiles": (lambda r: r.update(profiles={}), "profiles: names no profile"),
    "a short key fingerprint": (lambda r: r["hashicorp_signing_key"].update(fingerprint="72D7468F"),
                                "hashicorp_signing_key.fingerprint: '72D7468F' is not a key fingerprint"),
    "no signing key": (lambda r: r.pop("hashicorp_signing_key"), "hashicorp_signing_key: is required"),
    "a description that is a list": (lambda r: r["profiles"]["article"].update(description=["a", "b"]),
                                     "profiles.article.description: must be a non-empty string, got a list"),
}


@pytest.mark.parametrize("change, message", BAD_MANIFESTS.values(), ids=BAD_MANIFESTS.keys())
def test_bad_manifest_is_refused_with_the_key_path_named(tmp_path, change, message):
    bad = manifest_variant(tmp_path, change)
    with pytest.raises(artifacts.ManifestError) as error:
        artifacts.load_profiles(bad)
    assert str(error.value).startswith(f"{bad}: ")
    assert message in str(error.value)


def test_an_error_in_an_extended_profile_names_the_profile_that_extends_it(tmp_path):
    bad = manifest_variant(tmp_path, lambda r: _current("weave")(r)["images"].update(refs="weaveworks/weave:2.8.1"))
    with pytest.raises(artifacts.ManifestError, match=r"versions\.yaml: debian extends current: "
                                                      r"profiles\.current\.weave\.images\.refs: must be a non-empty"):
        artifacts.profile("debian", bad)


def test_a_broken_profile_does_not_stop_another_that_does_not_use_it(tmp_path):
    bad = manifest_variant(tmp_path, lambda r: r["profiles"]["article"]["nomad"].update(version=0.87))
    assert artifacts.profile("debian", bad).versions()["nomad"] == "1.11.3"
    with pytest.raises(artifacts.ManifestError, match=r"profiles\.article\.nomad\.version: must be a string"):
        artifacts.load_profiles(bad)


def test_a_key_given_twice_is_refused(tmp_path):
    pin = "      sha256: 19dac5642a2ba5305e6ff8efee06a708d760ebe4d1cd7936bc3dc526f477dc12\n"
    bad = tmp_path / "versions.yaml"
    bad.write_text(artifacts.MANIFEST.read_text().replace(pin, pin + "      sha256: " + "0" * 64 + "\n"))
    with pytest.raises(artifacts.ManifestError, match=r"versions\.yaml line \d+: duplicate key 'sha256' \(first at"):
        artifacts.load_profiles(bad)


def test_lab_versions_names_another_manifest(tmp_path, monkeypatch):
    bad = manifest_variant(tmp_path, lambda r: _current("nomad")(r).update(hcl="two"))
    monkeypatch.setenv("LAB_VERSIONS", str(bad))
    with pytest.raises(artifacts.ManifestError, match=rf"^{re.escape(str(bad))}: profiles\.current\.nomad\.hcl"):
        artifacts.profile("current")


# -- the cache ------------------------------------------------------------------------------

def pinned(content: bytes, source="url", **extra) -> Artifact:
    return Artifact("weave", "script", "9.9.9", source, "weave-9.9.9", url="http://127.0.0.1:1/weave",
                    sha256=hashlib.sha256(content).hexdigest(), **extra)


def test_missing_artifact_says_how_to_get_it(tmp_path):
    entry = Cache(tmp_path).check(pinned(b"x"), hint="python -m lab fetch --profile p --component weave")
    assert entry.status == "missing"
    assert "weave 9.9.9 (weave-9.9.9) is not in the cache" in entry.reason
    assert "python -m lab fetch --profile p --component weave" in entry.reason


def test_cached_file_with_wrong_checksum_is_refused(tmp_path):
    cache = Cache(tmp_path)
    artifact = pinned(b"the real script\n")
    path = cache.path(artifact)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"a tampered script\n")
    entry = cache.check(artifact)
    assert entry.status == "refused"
    assert f"expected {artifact.sha256} (pinned in lab/versions.yaml): refusing it" in entry.reason


def test_file_dropped_into_the_cache_by_hand_is_refused(tmp_path):
    cache = Cache(tmp_path)
    artifact = Artifact("weave", "script", "9.9.9", "url", "weave-9.9.9")  # nothing pinned
    cache.path(artifact).parent.mkdir(parents=True)
    cache.path(artifact).write_text("#!/bin/sh\n")
    assert cache.check(artifact).status == "refused"
    assert "not put there by `python -m lab fetch`" in cache.check(artifact).reason


def test_unpinned_artifact_is_held_to_what_was_recorded_at_fetch(tmp_path):
    cache = Cache(tmp_path)
    artifact = Artifact("weave", "script", "9.9.9", "url", "weave-9.9.9")
    download = tmp_path / "download"
    download.write_text("#!/bin/sh\necho weave\n")
    entry = cache.add(artifact, download, "trust on first use: test")
    assert entry.status == "ok" and entry.verified == "trust on first use: test"
    cache.path(artifact).write_text("#!/bin/sh\necho evil\n")
    refused = cache.check(artifact)
    assert refused.status == "refused" and "recorded when it was fetched" in refused.reason


def test_download_with_wrong_checksum_never_enters_the_cache(tmp_path):
    cache = Cache(tmp_path)
    artifact = pinned(b"expected\n")
    download = tmp_path / "download"
    download.write_bytes(b"something else\n")
    with pytest.raises(ArtifactError, match=r"expected .* \(pinned in lab/versions\.yaml\); not cached"):
        cache.add(artifact, download, "x")
    assert not cache.path(artifact).exists()


# -- the cache shared by processes, and interrupted ------------------------------------------

ADDER = """
import sys, time
from pathlib import Path
from lab.artifacts import Artifact, Cache

root, me, own, shared = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cache = Cache(root)
work = root.parent / f"work-{me}"
work.mkdir()
while not (root.parent / "go").exists():  # both start adding at the same moment
    time.sleep(0.005)
names = [f"{me}-{i}" for i in range(own)] + [f"shared-{i}" for i in range(shared)]
for name in names:
    artifact = Artifact("weave", "script", name, "url", f"weave-{name}")  # unpinned: only the index vouches
    download = work / name
    download.write_text(f"#!/bin/sh\\n# {name}, from {me}\\n")
    assert cache.add(artifact, download, f"test: added by {me}").status == "ok"
"""


def test_two_processes_adding_at_once_lose_nothing(tmp_path):
    own, shared = 20, 5
    adders = [subprocess.Popen([sys.executable, "-c", ADDER, str(tmp_path / "cache"), me, str(own), str(shared)],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True) for me in ("a", "b")]
    (tmp_path / "go").touch()
    for adder in adders:
        assert adder.wait(timeout=120) == 0, adder.stderr.read()
    cache = Cache(tmp_path / "cache")
    names = [f"{me}-{i}" for me in ("a", "b") for i in range(own)] + [f"shared-{i}" for i in range(shared)]
    entries = {name: cache.check(Artifact("weave", "script", name, "url", f"weave-{name}")) for name in names}
    assert {name: e.status for name, e in entries.items()} == dict.fromkeys(names, "ok")
    assert len(json.loads(cache.index_path.read_text())) == 2 * own + shared
    for i in range(shared):  # the last writer's file, with the last writer's entry
        content = entries[f"shared-{i}"].path.read_text()
        assert entries[f"shared-{i}"].verified == f"test: added by {content.rsplit(' ', 1)[1].strip()}"


@pytest.fixture
def crash_after_the_move(monkeypatch):
    """Stop Cache.add as a killed process would: its file moved in, its entry not yet written."""
    real = Cache._write_index

    def write_then_die(self, index):
        if any(entry.get("verified") == "dies" for entry in index.values()):
            raise KeyboardInterrupt("killed")
        real(self, index)
    monkeypatch.setattr(Cache, "_write_index", write_then_die)


@pytest.mark.parametrize("earlier_entry", [False, True], ids=["first add", "over an earlier entry"])
def test_an_interrupted_add_leaves_an_orphan_that_fetch_removes(tmp_path, release_server, crash_after_the_move,
                                                                 earlier_entry):
    root, url = release_server
    (root / "weave").write_text("#!/bin/sh\n# the release\n")
    artifact = Artifact("weave", "script", "9.9.9", "url", "weave-9.9.9", url=f"{url}/weave")
    cache = Cache(tmp_path / "cache")
    if earlier_entry:  # an entry whose file was deleted since: it must not vouch for the new file
        (tmp_path / "old").write_text("#!/bin/sh\n# an older download\n")
        cache.add(artifact, tmp_path / "old", "first")
        cache.path(artifact).unlink()
    (tmp_path / "download").write_text("#!/bin/sh\n# a download\n")
    with pytest.raises(KeyboardInterrupt):
        cache.add(artifact, tmp_path / "download", "dies")
    assert cache.path(artifact).exists()  # the file is there, and no entry says anything about it
    assert "not put there by `python -m lab fetch`" in cache.check(artifact).reason
    said = []
    profile = artifacts.Profile("t", "", {"weave": artifacts.Component("weave", "9.9.9", (artifact,), {})}, {})
    entry = Fetcher(cache, profile, say=said.append).fetch()[0]
    assert said[0] == (f"removed {cache.path(artifact)}: no index entry or pin vouched for it "
                       "(an interrupted fetch left it)")
    assert entry.status == "ok" and entry.path.read_text() == "#!/bin/sh\n# the release\n"


def test_orphans_are_only_files_nothing_vouches_for(tmp_path):
    cache = Cache(tmp_path / "cache")
    unpinned = Artifact("weave", "script", "9.9.9", "url", "weave-9.9.9")
    recorded = Artifact("weave", "script", "9.9.8", "url", "weave-9.9.8")
    by_pin = Artifact("weave", "script", "9.9.7", "url", "weave-9.9.7", sha256=hashlib.sha256(b"pinned\n").hexdigest())
    other_profile = Artifact("weave", "script", "1.0.0", "url", "weave-1.0.0")
    (tmp_path / "download").write_text("#!/bin/sh\n")
    cache.add(recorded, tmp_path / "download", "test")
    for artifact, content in ((unpinned, "#!/bin/sh\n"), (by_pin, "pinned\n"), (other_profile, "#!/bin/sh\n")):
        cache.path(artifact).parent.mkdir(parents=True, exist_ok=True)
        cache.path(artifact).write_text(content)
    partial = cache.path(recorded).with_name(".weave-9.9.8.4242.partial")
    partial.write_text("half a copy")
    aside = cache.path(unpinned).with_name("weave-9.9.9.placed-by-hand")
    assert cache.remove_orphans([unpinned, recorded, by_pin]) == [(partial, None), (cache.path(unpinned), aside)]
    assert aside.read_text() == "#!/bin/sh\n"  # no mark of an add: someone else's file, moved aside, not deleted
    assert [cache.check(a).status for a in (recorded, by_pin)] == ["ok", "ok"]
    assert cache.path(other_profile).exists()  # not among the artifacts asked about: left alone


# -- fetch through a local release server ---------------------------------------------------

@pytest.fixture(scope="module")
def gpg_keys(tmp_path_factory):
    """Two throw-away signing keys: the one the test manifest pins, and an impostor."""
    home = tmp_path_factory.mktemp("gnupg")
    env = dict(os.environ, GNUPGHOME=str(home))
    keys = {}
    try:  # stop this keyring's agent even if generating a key fails
        for name in ("pinned", "impostor"):
            subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@lab.invalid>",
                            "ed25519", "sign", "never"], env=env, check=True, capture_output=True)
            listing = subprocess.run(["gpg", "--batch", "--with-colons", "--fingerprint", f"{name}@lab.invalid"],
                                     env=env, check=True, capture_output=True, text=True).stdout
            fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
            public = subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True,
                                    capture_output=True).stdout
            keys[name] = (fpr, public)
        yield env, keys
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)


@pytest.fixture
def release_server(tmp_path):
    """HashiCorp's release layout served on 127.0.0.1 only."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def zip_of(program: bytes) -> bytes:
    """A HashiCorp zip holding a nomad binary of this content (after an ELF header)."""
    return hashicorp_zip(io.BytesIO(), "nomad", ELF + program).getvalue()


NOMAD_999 = zip_of(b"nomad 9.9.9")


def publish(root: Path, gpg_env, signer_fpr, zip_bytes: bytes, listed_bytes: bytes | None = None):
    folder = root / "nomad" / "9.9.9"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nomad_9.9.9_linux_amd64.zip").write_bytes(zip_bytes)
    listed = hashlib.sha256(listed_bytes if listed_bytes is not None else zip_bytes).hexdigest()
    sums = folder / "nomad_9.9.9_SHA256SUMS"
    sums.write_text(f"{listed}  nomad_9.9.9_linux_amd64.zip\n")
    subprocess.run(["gpg", "--batch", "--yes", "--local-user", signer_fpr, "--detach-sign", "-o",
                    str(folder / "nomad_9.9.9_SHA256SUMS.72D7468F.sig"), str(sums)],
                   env=gpg_env, check=True, capture_output=True)


def nomad_profile(tmp_path, monkeypatch, base_url, key_fpr, sha256=None):
    monkeypatch.setenv("LAB_HASHICORP_RELEASES", base_url)
    raw = yaml.safe_load(artifacts.MANIFEST.read_text())
    raw["hashicorp_signing_key"] = {"fingerprint": key_fpr, "url": f"{base_url}/key.asc"}
    raw["profiles"] = {"t": dict(raw["profiles"]["current"])}
    raw["profiles"]["t"]["nomad"] = {"version": "9.9.9", "source": "hashicorp", "hcl": 2,
                                     **({"sha256": sha256} if sha256 else {})}
    manifest = tmp_path / "versions.yaml"
    manifest.write_text(yaml.safe_dump(raw))
    return artifacts.load_profiles(manifest)["t"]


def fetch_nomad(tmp_path, profile):
    return Fetcher(Cache(tmp_path / "cache"), profile, say=lambda m: None).fetch(only=("nomad",))[0]


def test_hashicorp_download_verified_by_signed_sums(tmp_path, monkeypatch, gpg_keys, release_server):
    gpg_env, keys = gpg_keys
    root, url = release_server
    (root / "key.asc").write_bytes(keys["pinned"][1])
    publish(root, gpg_env, keys["pinned"][0], NOMAD_999)
    entry = fetch_nomad(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0]))
    assert entry.status == "ok", entry.reason
    assert entry.verified == f"sha256 listed in nomad_9.9.9_SHA256SUMS, signed by {keys['pinned'][0]}"
    assert entry.path.read_bytes() == NOMAD_999


def test_hashicorp_zip_not_matching_the_signed_sums_is_refused(tmp_path, monkeypatch, gpg_keys, release_server):
    gpg_env, keys = gpg_keys
    root, url = release_server
    (root / "key.asc").write_bytes(keys["pinned"][1])
    publish(root, gpg_env, keys["pinned"][0], zip_of(b"swapped"), listed_bytes=NOMAD_999)
    entry = fetch_nomad(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0]))
    assert entry.status == "missing"
    assert "is not what the signed nomad_9.9.9_SHA256SUMS lists" in entry.reason
    assert not any((tmp_path / "cache").rglob("*.zip"))


def test_hashicorp_sums_signed_by_another_key_are_refused(tmp_path, monkeypatch, gpg_keys, release_server):
    gpg_env, keys = gpg_keys
    root, url = release_server
    (root / "key.asc").write_bytes(keys["impostor"][1])  # the server hands out the impostor's key
    publish(root, gpg_env, keys["impostor"][0], NOMAD_999)
    entry = fetch_nomad(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0]))
    assert entry.status == "missing"
    assert f"is not the pinned one {keys['pinned'][0]}" in entry.reason


def test_hashicorp_download_must_also_match_a_pinned_sha256(tmp_path, monkeypatch, gpg_keys, release_server):
    gpg_env, keys = gpg_keys
    root, url = release_server
    (root / "key.asc").write_bytes(keys["pinned"][1])
    publish(root, gpg_env, keys["pinned"][0], zip_of(b"nomad 9.9.9, rebuilt"))
    pin = hashlib.sha256(NOMAD_999).hexdigest()
    profile = nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0], sha256=pin)
    entry = fetch_nomad(tmp_path, profile)
    assert entry.status == "missing" and "pinned in lab/versions.yaml); not cached" in entry.reason


def test_preseeding_from_a_directory_checks_the_pin(tmp_path, monkeypatch, gpg_keys, release_server):
    gpg_env, keys = gpg_keys
    root, url = release_server
    publish(root, gpg_env, keys["pinned"][0], NOMAD_999)
    good = hashlib.sha256(NOMAD_999).hexdigest()
    profile = nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0], sha256=good)
    offered = tmp_path / "usb-stick"
    offered.mkdir()
    (offered / "nomad_9.9.9_linux_amd64.zip").write_bytes(NOMAD_999)
    entry = Fetcher(Cache(tmp_path / "cache"), profile, say=lambda m: None, from_dir=offered).fetch(only=("nomad",))[0]
    assert entry.status == "ok" and "copied from" in entry.verified
    (offered / "nomad_9.9.9_linux_amd64.zip").write_bytes(zip_of(b"tampered"))
    other = Fetcher(Cache(tmp_path / "cache2"), profile, say=lambda m: None, from_dir=offered).fetch(only=("nomad",))[0]
    assert other.status == "missing" and "not cached" in other.reason



@pytest.fixture
def usb_stick(tmp_path, monkeypatch, gpg_keys, release_server):
    """A folder holding a signed release (zip, SHA256SUMS, signature), and no way to download anything."""
    gpg_env, keys = gpg_keys
    root, url = release_server
    (root / "key.asc").write_bytes(keys["pinned"][1])  # served, but pre-seeding must not fetch it
    publish(root, gpg_env, keys["pinned"][0], NOMAD_999)
    offered = tmp_path / "usb-stick"
    shutil.copytree(root / "nomad" / "9.9.9", offered)

    def no_download(url, dest):
        raise AssertionError(f"fetch --from downloaded {url}")
    monkeypatch.setattr(artifacts, "_download", no_download)
    return offered, url, keys


def preseed(tmp_path, profile, offered):
    return Fetcher(Cache(tmp_path / "cache"), profile, say=lambda m: None, from_dir=offered).fetch(only=("nomad",))[0]


@pytest.mark.parametrize("key_file", ["hashicorp.asc", "hashicorp-pgp-key.txt"])
def test_preseeding_verifies_the_signed_sums_with_the_key_in_the_folder(tmp_path, monkeypatch, usb_stick, key_file):
    offered, url, keys = usb_stick
    (offered / key_file).write_bytes(keys["pinned"][1])
    entry = preseed(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0]), offered)  # no pin
    assert entry.status == "ok", entry.reason
    assert entry.verified == (f"sha256 listed in nomad_9.9.9_SHA256SUMS, signed by {keys['pinned'][0]} "
                              f"(copied from {offered}, key from {key_file})")


def test_preseeding_refuses_sums_signed_by_another_key_even_with_a_pin(tmp_path, monkeypatch, gpg_keys, usb_stick):
    gpg_env, _ = gpg_keys
    offered, url, keys = usb_stick
    (offered / "hashicorp.asc").write_bytes(keys["impostor"][1])
    pin = hashlib.sha256(NOMAD_999).hexdigest()
    entry = preseed(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0], sha256=pin), offered)
    assert entry.status == "missing" and f"is not the pinned one {keys['pinned'][0]}" in entry.reason
    (offered / "hashicorp.asc").write_bytes(keys["pinned"][1])  # the right key, but the sums re-signed by another
    sums = offered / "nomad_9.9.9_SHA256SUMS"
    subprocess.run(["gpg", "--batch", "--yes", "--local-user", keys["impostor"][0], "--detach-sign", "-o",
                    str(offered / "nomad_9.9.9_SHA256SUMS.72D7468F.sig"), str(sums)],
                   env=gpg_env, check=True, capture_output=True)
    entry = preseed(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0], sha256=pin), offered)
    assert entry.status == "missing" and "bad signature on nomad_9.9.9_SHA256SUMS" in entry.reason
    assert not any((tmp_path / "cache").rglob("*.zip"))


def test_preseeding_without_the_key_accepts_a_pinned_zip_on_its_pin(tmp_path, monkeypatch, usb_stick):
    offered, url, keys = usb_stick
    pin = hashlib.sha256(NOMAD_999).hexdigest()
    entry = preseed(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0], sha256=pin), offered)
    assert entry.status == "ok", entry.reason
    assert entry.verified.startswith(f"sha256 pinned in lab/versions.yaml (copied from {offered}")
    assert "signature not checked" in entry.verified and "HashiCorp's public key" in entry.verified


def test_preseeding_with_neither_a_pin_nor_the_key_is_refused(tmp_path, monkeypatch, usb_stick):
    offered, url, keys = usb_stick
    (offered / "nomad_9.9.9_SHA256SUMS.72D7468F.sig").unlink()
    entry = preseed(tmp_path, nomad_profile(tmp_path, monkeypatch, url, keys["pinned"][0]), offered)
    assert entry.status == "missing"
    assert "no sha256 pinned in lab/versions.yaml" in entry.reason
    assert (f"{offered} lacks nomad_9.9.9_SHA256SUMS.72D7468F.sig, "
            "HashiCorp's public key (hashicorp.asc or hashicorp-pgp-key.txt)") in entry.reason
    assert not any((tmp_path / "cache").rglob("*.zip"))


# -- a tampered cache file: the CLI refuses it and the stage installs nothing from it ---------

@pytest.fixture
def tampered_consul_cache(tmp_path):
    consul = artifacts.profile("debian").components["consul"].artifacts[0]
    cache = Cache(tmp_path / "cache")
    path = cache.path(consul)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"!<arch>\nnot the consul package\n")
    return tmp_path / "cache", consul


def test_fetch_refuses_a_tampered_cache_file(tampered_consul_cache):
    cache_dir, consul = tampered_consul_cache
    proc = subprocess.run([sys.executable, "-m", "lab", "--profile", "debian", "fetch", "--component", "consul"],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env=dict(os.environ, LAB_CACHE_DIR=str(cache_dir)))
    assert proc.returncode == 1
    assert f"refused  {consul.label}" in proc.stdout
    assert f"expected {consul.sha256} (pinned in lab/versions.yaml): refusing it" in proc.stdout
    assert "nothing was installed from them" in proc.stderr
    assert Cache(cache_dir).path(consul).read_bytes().startswith(b"!<arch>\nnot the")  # left for inspection


def test_stage_installs_nothing_from_a_tampered_file(tampered_consul_cache, tmp_path):
    cache_dir, consul = tampered_consul_cache
    profile = artifacts.profile("debian")
    states = stage.plan(profile, Cache(cache_dir))
    assert states["consul"].status == "refused" and "refusing it" in states["consul"].reason
    assert states["docker"].ready
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", topology.load(), profile,
                       Cache(cache_dir), states)
    env = (root / "u1" / "stack.env").read_text()
    assert "COMPONENTS=docker\n" in env
    assert "consul 1.8.7: " in env and "refusing it" in env
    assert not (root / "u1" / "artifacts" / consul.filename).exists()
    assert not (root / "u1" / "config" / "consul.hcl").exists()


# -- fetch --from DIR --accept-unpinned: builds nothing pins -----------------------------------

CURRENT_REFS = ["weaveworks/weave:2.8.1", "weaveworks/weaveexec:2.8.1", "weaveworks/weavedb:latest"]


@pytest.fixture
def stick(tmp_path) -> Path:
    """A folder of the operator's files for the current profile: a weave rebuild, its images (one
    of them tagged as a mirror's `docker save` writes it), and a Nomad 1.11.3 rebuild."""
    folder = tmp_path / "stick"
    folder.mkdir()
    (folder / "weave-2.8.1").write_text(weave_script("2.8.1"))
    docker_save(folder / "weave-images-2.8.1.tar", ["docker.io/weaveworks/weave:2.8.1", *CURRENT_REFS[1:]])
    hashicorp_zip(folder / "nomad_1.11.3_linux_amd64.zip", "nomad")
    return folder


def lab_fetch(tmp_path, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", "--profile", "current", *argv], capture_output=True, text=True,
                          cwd=ROOT, check=False, env=dict(os.environ, LAB_CACHE_DIR=str(tmp_path / "cache")))


def test_without_the_flag_nothing_unpinned_gets_in(tmp_path, stick):
    proc = lab_fetch(tmp_path, "fetch", "--component", "weave", "--from", str(stick))
    assert proc.returncode == 3, proc.stderr
    assert "nothing pinned to check" in proc.stdout and "(or take it as it is with --accept-unpinned)" in proc.stdout
    assert not (tmp_path / "cache" / "artifacts" / "weave").exists()


def test_accept_unpinned_takes_the_operators_build_and_says_so(tmp_path, stick):
    proc = lab_fetch(tmp_path, "fetch", "--component", "weave", "--from", str(stick), "--accept-unpinned")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok       weave 2.8.1 (weave-images-2.8.1.tar): supplied by the operator, unpinned, accepted with " \
           "--accept-unpinned: sha256 " in proc.stdout
    assert ("a docker save holding weaveworks/weave:2.8.1, weaveworks/weavedb:latest, weaveworks/weaveexec:2.8.1"
            in proc.stdout)
    index = json.loads((tmp_path / "cache" / "artifacts" / "index.json").read_text())
    assert {key: entry["trust"] for key, entry in index.items()} == {
        "weave/2.8.1/weave-2.8.1": "operator-unpinned", "weave/2.8.1/weave-images-2.8.1.tar": "operator-unpinned"}
    shown = lab_fetch(tmp_path, "versions").stdout
    assert "  weave   2.8.1    script weave-2.8.1: ok, supplied by the operator, unpinned (operator-unpinned); " \
           "images weave-images-2.8.1.tar: ok, supplied by the operator, unpinned (operator-unpinned)" in shown
    assert shown.splitlines()[0].startswith("current:")


@pytest.mark.parametrize("tags, words", [
    (CURRENT_REFS[:2], "refusing {stick}/weave-images-2.8.1.tar: not the profile's images: missing "
                       "weaveworks/weavedb:latest"),
    ([*CURRENT_REFS, "library/busybox:latest"], "not the profile's images: unexpected busybox:latest"),
    (["weaveworks/weave:2.8.0", *CURRENT_REFS[1:]],
     "missing weaveworks/weave:2.8.1; unexpected weaveworks/weave:2.8.0"),
    (None, "refusing {stick}/weave-images-2.8.1.tar: not a tar archive"),
], ids=["missing refs", "extra refs", "another tag", "not a tar"])
def test_accept_unpinned_refuses_images_that_are_not_the_profiles(tmp_path, stick, tags, words):
    images = stick / "weave-images-2.8.1.tar"
    if tags is None:
        images.write_bytes(b"\x89PNG not a tar at all" * 40)
    else:
        docker_save(images, tags)
    proc = lab_fetch(tmp_path, "fetch", "--component", "weave", "--from", str(stick), "--accept-unpinned")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    refused = next(line for line in proc.stdout.splitlines() if line.startswith("refused "))
    assert refused.startswith(f"refused  weave 2.8.1 (weave-images-2.8.1.tar): refusing {stick}/")
    assert words.format(stick=stick) in refused
    assert not Cache(tmp_path / "cache").path(profile_artifact("current", "weave", "images")).exists()


def profile_artifact(name: str, component: str, role: str) -> Artifact:
    return next(a for a in artifacts.profile(name).components[component].artifacts if a.role == role)


@pytest.mark.parametrize("make, words", [
    (lambda p: hashicorp_zip(p, "consul"), "a zip without the nomad binary"),
    (lambda p: p.write_text("#!/bin/sh\n"), "not a zip archive"),
    (lambda p: hashicorp_zip(p, "nomad", b""), "a zip whose nomad is not a program"),
], ids=["another binary", "a script", "an empty binary"])
def test_accept_unpinned_refuses_a_zip_that_is_not_what_it_claims(tmp_path, stick, make, words):
    make(stick / "nomad_1.11.3_linux_amd64.zip")
    entry = Fetcher(Cache(tmp_path / "cache"), artifacts.profile("current"), say=lambda m: None, from_dir=stick,
                    accept_unpinned=True).fetch(only=("nomad",))[0]
    assert entry.status == "refused" and entry.reason.endswith(words)


def test_a_rebuild_that_differs_from_the_pin_is_accepted_and_recorded_as_such(tmp_path, stick):
    nomad = profile_artifact("current", "nomad", "binary")
    cache = Cache(tmp_path / "cache")
    entry = Fetcher(cache, artifacts.profile("current"), say=lambda m: None, from_dir=stick,
                    accept_unpinned=True).fetch(only=("nomad",))[0]
    assert entry.status == "ok" and entry.trust == "operator-differs-from-pin"
    assert entry.verified.startswith(f"supplied by the operator, differs from the pin in lab/versions.yaml "
                                     f"(sha256 {nomad.sha256}), accepted with --accept-unpinned: sha256 ")
    assert "a zip holding nomad (" in entry.verified
    # Held to what was recorded from now on: tampering afterwards is refused like any other.
    with open(cache.path(nomad), "ab") as f:
        f.write(b"tampered")
    refused = cache.check(nomad)
    assert refused.status == "refused" and "recorded when the operator supplied it" in refused.reason


def test_an_operators_file_that_matches_its_pin_is_simply_verified(tmp_path):
    content = hashicorp_zip(tmp_path / "nomad.zip", "nomad").read_bytes()
    folder = tmp_path / "stick"
    folder.mkdir()
    (folder / "nomad_9.9.9_linux_amd64.zip").write_bytes(content)
    raw = yaml.safe_load(artifacts.MANIFEST.read_text())
    raw["profiles"]["current"]["nomad"].update(version="9.9.9", sha256=hashlib.sha256(content).hexdigest())
    (tmp_path / "versions.yaml").write_text(yaml.safe_dump(raw))
    entry = Fetcher(Cache(tmp_path / "cache"), artifacts.profile("current", tmp_path / "versions.yaml"),
                    say=lambda m: None, from_dir=folder, accept_unpinned=True).fetch(only=("nomad",))[0]
    assert (entry.status, entry.trust) == ("ok", "verified")
    assert entry.verified == (f"sha256 pinned in lab/versions.yaml (copied from {folder}: "
                              f"a zip holding nomad ({len(ELF)} bytes))")


def test_pinned_digests_are_named_as_not_checked(tmp_path):
    refs = [ref.split("@")[0] for ref in profile_artifact("article", "weave", "images").refs]
    folder = tmp_path / "stick"
    folder.mkdir()
    docker_save(folder / "weave-images-2.5.1.tar", refs)
    (folder / "weave-2.5.1").write_text(weave_script("2.5.1"))
    entries = Fetcher(Cache(tmp_path / "cache"), artifacts.profile("article"), say=lambda m: None, from_dir=folder,
                      accept_unpinned=True).fetch(only=("weave",))
    script, images = entries
    assert images.trust == "operator-unpinned" and images.verified.endswith(
        "; the digests pinned for weaveworks/weave:2.5.1, weaveworks/weaveexec:2.5.1, weaveworks/weavedb:latest "
        "could not be checked (a docker save keeps no registry digest))")
    # The article pins the script's size only: a rebuild of another size differs from that pin.
    assert script.trust == "operator-differs-from-pin" and "(52227 bytes)" in script.verified


def test_the_claims_report_says_where_an_operators_build_came_from(tmp_path, stick):
    cache = Cache(tmp_path / "cache")
    profile = artifacts.profile("current")
    Fetcher(cache, profile, say=lambda m: None, from_dir=stick, accept_unpinned=True).fetch(only=("weave", "nomad"))
    stack = stage.as_json(stage.plan(profile, cache))
    assert {name: state["trust"] for name, state in stack.items()} == {
        "docker": "", "weave": "operator-unpinned", "consul": "", "nomad": "operator-differs-from-pin"}
    run = {"schema": 1, "metadata": {"profile": "current", "versions": profile.versions(), "stack": stack},
           "results": [{"nodeid": "t.py::test_W1_x[u1]", "claim": "W1", "subject": "u1", "outcome": "passed"}]}
    markdown = report.to_markdown(run)
    assert "| weave | 2.8.1 | installed, supplied by the operator, unpinned (operator-unpinned) |" in markdown
    assert "| nomad | 1.11.3 | installed, supplied by the operator, differs from the pin in lab/versions.yaml " \
           "(operator-differs-from-pin) |" in markdown
    assert "| docker | 20.10 | installed |" in markdown
    assert "installed, supplied by the operator, unpinned (operator-unpinned)" in report.to_html(run)
    report.write(run, tmp_path / "reports", formats=("json",))
    assert report.merge([tmp_path / "reports" / "claims.json"]).count("| weave | 2.8.1 installed (operator-unpinned) |")
