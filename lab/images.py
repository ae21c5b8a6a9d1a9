"""Docker image references as lab/versions.yaml pins them, and the tags a `docker save` archive holds."""
from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# [registry[:port]/]path:tag[@sha256:digest]. The tag is required: the lab saves, loads and runs
# the images by name:tag.
REF = re.compile(rf"(?P<name>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_PART}(?:/{_PART})*)"
                 rf":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})(?:@sha256:(?P<digest>[0-9a-f]{{64}}))?")
_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


class NotADockerSave(ValueError):
    """The file is not a `docker save` archive (the message says why)."""


def name_tag(ref: str) -> str:
    """`weaveworks/weave:2.5.1@sha256:...` -> `weaveworks/weave:2.5.1`."""
    return ref.split("@", 1)[0]


def normalise(ref: str) -> str:
    """One spelling per Docker Hub image: without `docker.io/` and `library/`, and without a digest."""
    ref = name_tag(ref)
    for prefix in _HUB_PREFIXES:
        ref = ref.removeprefix(prefix)
    return ref.removeprefix("library/")


def saved_tags(path: Path) -> list[str]:
    """The RepoTags of every image in a `docker save` archive, as its manifest.json lists them."""
    if not tarfile.is_tarfile(path):
        raise NotADockerSave("not a tar archive")
    try:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            if "manifest.json" not in names:
                raise NotADockerSave("a tar without manifest.json: not a `docker save` archive")
            manifest = json.load(tar.extractfile("manifest.json"))
    except (tarfile.TarError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotADockerSave(f"unreadable as a `docker save` archive ({e})") from None
    if not isinstance(manifest, list) or not all(isinstance(image, dict) for image in manifest):
        raise NotADockerSave("its manifest.json is not a list of images")
    tags: list[str] = []
    for i, image in enumerate(manifest):
        listed = image.get("RepoTags") or []
        files = [image.get("Config"), *(image.get("Layers") or [])]
        if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
            raise NotADockerSave(f"manifest.json[{i}].RepoTags is not a list of tags")
        absent = [str(f) for f in files if f not in names]
        if absent:
            raise NotADockerSave(f"manifest.json[{i}] names {', '.join(absent)}, which the archive lacks")
        tags += listed
    return tags
