"""The stage a node's stack provisioning reads: what goes in it for a fully cached profile."""
import hashlib
import io
import json
import shlex
import tarfile
from pathlib import Path

import yaml

from lab import artifacts, provisioned, stage, topology
from lab.artifacts import Cache
from tests.unit.archives import saved_images

ROOT = Path(__file__).parents[2]
IMAGES = saved_images(["weaveworks/weave:2.8.1", "weaveworks/weaveexec:2.8.1", "weaveworks/weavedb:latest"])
FILES = {"weave-2.8.1": b"#!/bin/sh\n# weave 2.8.1\n", "weave-images-2.8.1.tar": IMAGES,
         "nomad_1.11.3_linux_amd64.zip": b"PK nomad", "consul_1.22.7_linux_amd64.zip": b"PK consul"}


def cached_profile(tmp_path):
    """The current profile with every artifact pinned to a stand-in file, all of them cached."""
    raw = yaml.safe_load(artifacts.MANIFEST.read_text())
    current = raw["profiles"]["current"]
    current["weave"]["script"]["sha256"] = hashlib.sha256(FILES["weave-2.8.1"]).hexdigest()
    current["nomad"]["sha256"] = hashlib.sha256(FILES["nomad_1.11.3_linux_amd64.zip"]).hexdigest()
    current["consul"]["sha256"] = hashlib.sha256(FILES["consul_1.22.7_linux_amd64.zip"]).hexdigest()
    manifest = tmp_path / "versions.yaml"
    manifest.write_text(yaml.safe_dump(raw))
    profile = artifacts.load_profiles(manifest)["current"]
    cache = Cache(tmp_path / "cache")
    for artifact in profile.artifacts():
        download = tmp_path / artifact.filename
        download.write_bytes(FILES[artifact.filename])
        cache.add(artifact, download, "test stand-in")
    return profile, cache


def env_of(stage_dir: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (stage_dir / "stack.env").read_text().splitlines()]
    return {k: " ".join(shlex.split(v)) for k, v in pairs if k != "MISSING"}


def test_a_fully_cached_profile_stages_every_component(tmp_path):
    profile, cache = cached_profile(tmp_path)
    states = stage.plan(profile, cache)
    assert {name: s.status for name, s in states.items()} == dict.fromkeys(stage.ORDER, "ready")
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", topology.load(), profile, cache, states,
                       "weave-proxy")
    for node in topology.load().nodes:
        folder = root / node.name
        env = env_of(folder)
        assert env["COMPONENTS"] == "docker weave consul nomad"
        assert env["HOSTONLY_IP"] == str(node.hostonly_ip)
        assert env["WEAVE_IMAGES"] == "weaveworks/weave:2.8.1 weaveworks/weaveexec:2.8.1 weaveworks/weavedb:latest"
        assert env["WEAVE_API_VERSION"] == "1.18"  # weave 2.8.1 speaks Docker API 1.18
        assert env["NOMAD_ENDPOINT"] == "weave-proxy"
        assert (folder / "stack.env").read_text().splitlines()[-1] == "MISSING=()"
        for name, content in FILES.items():
            assert (folder / "artifacts" / name).read_bytes() == content
        assert "weave.sock" in (folder / "config" / "nomad-weave-proxy.hcl").read_text()
        assert "docker.sock" in (folder / "config" / "nomad-docker.hcl").read_text()
        assert f'bind_addr = "{node.hostonly_ip}"' in (folder / "config" / "consul.hcl").read_text()
        assert (folder / "scripts" / "stack.sh").exists() and not (folder / "scripts" / "units").exists()


def test_staging_again_starts_from_a_clean_folder(tmp_path):
    profile, cache = cached_profile(tmp_path)
    states = stage.plan(profile, cache)
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", topology.load(), profile, cache, states)
    (root / "u1" / "leftover").write_text("x")
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", topology.load(), profile, cache, states)
    assert not (root / "u1" / "leftover").exists()


def test_the_stage_names_each_weave_image_with_the_id_docker_load_gives_it(tmp_path):
    profile, cache = cached_profile(tmp_path)
    ids = stage.weave_image_ids(profile, cache)
    with tarfile.open(fileobj=io.BytesIO(IMAGES)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        configs = {image["RepoTags"][0]: tar.extractfile(image["Config"]).read() for image in manifest}
    assert ids == {tag: "sha256:" + hashlib.sha256(config).hexdigest() for tag, config in configs.items()}
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", topology.load(), profile, cache,
                       stage.plan(profile, cache))
    assert env_of(root / "u1")["WEAVE_IMAGE_IDS"] == " ".join(f"{tag}={i}" for tag, i in ids.items())


def test_a_node_with_every_weave_image_gets_no_images_tar_and_keeps_its_token(tmp_path):
    profile, cache = cached_profile(tmp_path)
    states = stage.plan(profile, cache)
    root = stage.write(tmp_path / "stage", ROOT / "provision" / "stack", topology.load(), profile, cache, states)
    tokens = provisioned.write_tokens(root, ["u1", "u2"], [])
    wanted = stage.weave_image_ids(profile, cache)
    older_build = {**wanted, "weaveworks/weave:2.8.1": "sha256:" + "0" * 64}
    assert stage.leave_out_images_present(root, "u1", profile, wanted, dict(wanted))
    assert not stage.leave_out_images_present(root, "u2", profile, wanted, older_build)
    assert not stage.leave_out_images_present(root, "u2", profile, wanted, {})
    assert not (root / "u1" / "artifacts" / "weave-images-2.8.1.tar").exists()
    assert (root / "u2" / "artifacts" / "weave-images-2.8.1.tar").read_bytes() == IMAGES
    assert (root / "u1" / provisioned.TOKEN_FILE).read_text().strip() == tokens["u1"]
