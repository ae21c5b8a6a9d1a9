"""What a file handed in with `fetch --from DIR --accept-unpinned` must be, by its role.

Nothing pins such a file, so it must at least be what its name claims: the weave script a
script, the images tar a `docker save` of exactly the profile's images, a HashiCorp zip a zip
holding the binary, a Debian package an ar archive starting with debian-binary.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from lab import images

if TYPE_CHECKING:
    from lab.artifacts import Artifact


class NotWhatItClaims(ValueError):
    """The file is not what its name says; the message says what is wrong."""


def describe(artifact: Artifact, path: Path) -> str:
    """What the file was found to be, for the record; NotWhatItClaims if it is not what it should be."""
    return _CHECKS[artifact.role](artifact, path)


def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _script(artifact: Artifact, path: Path) -> str:
    first = _head(path, 256).split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        raise NotWhatItClaims("not a script (its first line is no #! line)")
    return f"a script ({first.decode(errors='replace')})"


def _images(artifact: Artifact, path: Path) -> str:
    try:
        found = {images.normalise(tag) for tag in images.saved_tags(path)}
    except images.NotADockerSave as e:
        raise NotWhatItClaims(str(e)) from None
    wanted = {images.normalise(ref) for ref in artifact.refs}
    missing, unexpected = sorted(wanted - found), sorted(found - wanted)
    if missing or unexpected:
        problems = [f"{what} {', '.join(refs)}" for what, refs in (("missing", missing), ("unexpected", unexpected))
                    if refs]
        raise NotWhatItClaims(f"not the profile's images: {'; '.join(problems)}")
    held = f"a docker save holding {', '.join(sorted(wanted))}"
    by_digest = [images.name_tag(ref) for ref in artifact.refs if "@" in ref]
    if by_digest:
        held += (f"; the digests pinned for {', '.join(by_digest)} could not be checked "
                 "(a docker save keeps no registry digest)")
    return held


def _zip(artifact: Artifact, path: Path) -> str:
    member = artifact.component
    if not zipfile.is_zipfile(path):
        raise NotWhatItClaims("not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
    except KeyError:
        raise NotWhatItClaims(f"a zip without the {member} binary") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise NotWhatItClaims(f"an unreadable zip ({e})") from None
    if info.is_dir() or info.file_size == 0:
        raise NotWhatItClaims(f"a zip whose {member} is not a program")
    return f"a zip holding {member} ({info.file_size} bytes)"


def _deb(artifact: Artifact, path: Path) -> str:
    if _head(path, 21) != b"!<arch>\ndebian-binary":
        raise NotWhatItClaims("not a Debian package (no ar archive starting with debian-binary)")
    return "a Debian package"


_CHECKS = {"script": _script, "images": _images, "binary": _zip, "package": _deb}
