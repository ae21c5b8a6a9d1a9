"""Real archives for the tests: `docker save` tars, HashiCorp zips and weave scripts, well made or not."""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

# A real Linux program, as a HashiCorp zip holds one.
ELF = Path("/bin/true").read_bytes()


def weave_script(version: str, note: str = "rebuilt") -> str:
    """The head of weave's script: a #! line and the release it names."""
    return f'#!/bin/sh\n# weave {version}, {note}\nset -e\n\nSCRIPT_VERSION="{version}"\n'


def layer() -> bytes:
    """A layer as `docker save` stores it: a tar of the image's files."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        add(tar, "etc/hostname", b"weave\n")
    return out.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def docker_save(path: Path, tags: list[str], manifest: list | None = None, extra=(), layer_data: bytes | None = None,
                manifest_kind: bytes = tarfile.REGTYPE) -> Path:
    """A tar laid out as `docker save` writes it: one config and one layer per image, manifest.json.

    `manifest` replaces the one written; `extra` are more members, (name, data, type, link) each."""
    path.write_bytes(saved_images(tags, manifest, extra, layer_data, manifest_kind))
    return path


def saved_images(tags: list[str], manifest: list | None = None, extra=(), layer_data: bytes | None = None,
                 manifest_kind: bytes = tarfile.REGTYPE) -> bytes:
    """The bytes of docker_save's tar."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        images = []
        for i, tag in enumerate(tags):
            add(tar, f"{i:064x}.json", b"{}")
            add(tar, f"layer{i}/layer.tar", layer() if layer_data is None else layer_data)
            images.append({"Config": f"{i:064x}.json", "RepoTags": [tag], "Layers": [f"layer{i}/layer.tar"]})
        for member in extra:
            add(tar, *member)
        text = json.dumps(images if manifest is None else manifest).encode()
        if manifest_kind == tarfile.REGTYPE:
            add(tar, "manifest.json", text)
        else:
            add(tar, "real-manifest.json", text)
            add(tar, "manifest.json", kind=manifest_kind,
                link="" if manifest_kind == tarfile.DIRTYPE else "real-manifest.json")
    return out.getvalue()


def hashicorp_zip(path: Path, member: str, content: bytes = ELF, mode: int = 0o100755,
                  compress_type: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(member)
        info.external_attr = mode << 16  # HashiCorp's zips store 0100755
        info.compress_type = compress_type
        archive.writestr(info, content)
    return path


def patched_zip(data: bytes, field: str, value: int) -> bytes:
    """A zip with one header field of its (single) member changed in its local and central headers,
    as zipfile cannot write such a zip: `flags` (bit 0: encrypted) or `method` (compression)."""
    local, central = {"flags": (6, 8), "method": (8, 10)}[field]
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = out.index(signature) + offset
        out[at:at + 2] = value.to_bytes(2, "little")
    return bytes(out)


def bad_crc_zip(data: bytes) -> bytes:
    """A stored zip with one byte of its member's data changed after its CRC was written."""
    out = bytearray(data)
    at = out.index(b"\x7fELF") + 64
    out[at] ^= 0xFF
    return bytes(out)
