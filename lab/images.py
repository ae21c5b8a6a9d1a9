"""Docker image references as lab/versions.yaml pins them, and the tags a `docker save` archive holds."""
from __future__ import annotations

import hashlib
import posixpath
import re
import tarfile
from pathlib import Path

from lab.inputs import MAX_INPUT_BYTES, InputError, parse_json
from lab.printable import printable

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
    """The RepoTags of every image in a `docker save` archive, as its manifest.json lists them.

    The archive must be what `docker load` takes and nothing else: no member outside it (an
    absolute or `..` name, a link pointing out), manifest.json a regular file listing images that
    each have a tag (once), a config and layers that are members of the archive, each a tar."""
    if not tarfile.is_tarfile(path):
        raise NotADockerSave("not a tar archive")
    try:
        with tarfile.open(path) as tar:
            members = _members(tar)
            manifest = _manifest(tar, members)
            tags: list[str] = []
            for i, image in enumerate(manifest):
                tags += _image(tar, members, image, f"manifest.json[{i}]", tags)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise NotADockerSave(f"unreadable as a `docker save` archive ({printable(str(e), 80)})") from None
    return tags


def image_ids(path: Path) -> dict[str, str]:
    """Each tag of a `docker save` archive (normalised) with the ID `docker load` gives its image:
    sha256 of the image's config, as Docker's image store names it. Call after saved_tags()."""
    ids: dict[str, str] = {}
    with tarfile.open(path) as tar:
        members = _members(tar)
        for i, image in enumerate(_manifest(tar, members)):
            config = _file(members, image["Config"], f"manifest.json[{i}].Config")
            digest = "sha256:" + hashlib.sha256(tar.extractfile(config).read()).hexdigest()
            ids.update({normalise(tag): digest for tag in image["RepoTags"]})
    return ids


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Every member by name; one that would land outside the folder it is loaded from is refused."""
    members = {}
    for member in tar.getmembers():
        name = member.name
        if printable(name) != name or printable(member.linkname) != member.linkname:
            raise NotADockerSave(f"member {printable(name, 80)} has control characters in its name or link, "
                                 "which docker save never writes")
        if _escapes(name):
            raise NotADockerSave(f"member {printable(name, 80)} lies outside the archive (an absolute path or ..)")
        if member.issym() or member.islnk():
            target = member.linkname if member.islnk() else posixpath.join(posixpath.dirname(name), member.linkname)
            if _escapes(target):
                raise NotADockerSave(f"member {printable(name, 80)} links to {printable(member.linkname, 80)}, "
                                     "outside the archive")
        elif not (member.isreg() or member.isdir()):
            raise NotADockerSave(f"member {printable(name, 80)} is a device or a pipe, which no image holds")
        members[posixpath.normpath(name)] = member
    return members


def _escapes(name: str) -> bool:
    return name.startswith("/") or posixpath.normpath(name).split("/")[0] == ".."


def _manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> list[dict]:
    member = members.get("manifest.json")
    if member is None:
        raise NotADockerSave("a tar without manifest.json: not a `docker save` archive")
    if not member.isreg():
        raise NotADockerSave("its manifest.json is not a regular file (a link or a folder)")
    if member.size > MAX_INPUT_BYTES:
        raise NotADockerSave(f"its manifest.json is larger than {MAX_INPUT_BYTES // 1024} KiB, which none is")
    try:
        manifest = parse_json(tar.extractfile(member).read().decode("utf-8"), "its manifest.json")
    except UnicodeDecodeError as e:
        raise NotADockerSave(f"its manifest.json is not UTF-8 text ({e.reason})") from None
    except InputError as e:
        raise NotADockerSave(str(e)) from None
    if not isinstance(manifest, list) or not all(isinstance(image, dict) for image in manifest):
        raise NotADockerSave("its manifest.json is not a list of images")
    return manifest


def _image(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], image: dict, where: str,
           earlier: list[str]) -> list[str]:
    """One image's tags, once its config and layers are found in the archive."""
    tags = image.get("RepoTags")
    if not tags:
        raise NotADockerSave(f"{where} is an image without a tag, which the profile does not name")
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags):
        raise NotADockerSave(f"{where}.RepoTags is not a list of tags")
    seen = [normalise(tag) for tag in earlier]
    for tag in tags:
        if normalise(tag) in seen:
            raise NotADockerSave(f"{where}.RepoTags: {printable(tag, 80)} is listed twice (docker load would keep "
                                 "one image of the two)")
        seen.append(normalise(tag))
    config, layers = image.get("Config"), image.get("Layers")
    if not isinstance(config, str):
        raise NotADockerSave(f"{where}.Config is not the name of a member")
    if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
        raise NotADockerSave(f"{where}.Layers is not a list of members")
    _file(members, config, f"{where}.Config")
    for j, layer in enumerate(layers):
        if not _is_layer(tar, _file(members, layer, f"{where}.Layers[{j}]")):
            raise NotADockerSave(f"{where}.Layers[{j}]: {printable(layer, 80)} is not a layer (not a tar archive)")
    return tags


def _file(members: dict[str, tarfile.TarInfo], name: str, where: str) -> tarfile.TarInfo:
    """The regular member `name` is, following links inside the archive (newer docker saves link
    the old layer paths to blobs/sha256/...)."""
    for _ in range(8):
        member = members.get(posixpath.normpath(name)) if not _escapes(name) else None
        if member is None:
            raise NotADockerSave(f"{where} names {printable(name, 80)}, which the archive lacks")
        if member.isreg():
            return member
        if not member.issym() and not member.islnk():
            raise NotADockerSave(f"{where} names {printable(name, 80)}, which is a folder, not a file")
        name = member.linkname if member.islnk() else posixpath.join(posixpath.dirname(member.name), member.linkname)
    raise NotADockerSave(f"{where} names {printable(name, 80)} through too many links")


# What a layer may start with: a compressed stream (gzip, zstd) or a tar header.
_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")


def _is_layer(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
    head = tar.extractfile(member).read(tarfile.BLOCKSIZE)
    if head.startswith(_COMPRESSED) or (len(head) == tarfile.BLOCKSIZE and not head.strip(b"\0")):
        return True  # compressed, or an empty layer (a tar holding nothing: its end-of-archive blocks)
    try:
        tarfile.TarInfo.frombuf(head, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True
