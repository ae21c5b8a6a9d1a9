"""What a file handed in with `fetch --from DIR` must be, by its role, pinned or not.

A pin says the file is the one expected; with --accept-unpinned nothing does, so it must at
least be what its name claims. Either way it must be something provisioning can install, checked
before the cache takes it: the weave script a script naming its release (SCRIPT_VERSION), the
images tar a `docker save` of exactly the profile's images, a HashiCorp zip a zip holding the
binary as provisioning extracts it, a Debian package an ar archive starting with debian-binary.
"""
from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from lab import images
from lab.inputs import MAX_INPUT_BYTES
from lab.printable import printable

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


# Weave's script names its release on a line of its own; a build from a tag writes the tag there.
_SCRIPT_VERSION = re.compile(rb'^SCRIPT_VERSION="([^"\n]*)"', re.MULTILINE)


def _script(artifact: Artifact, path: Path) -> str:
    text = _head(path, MAX_INPUT_BYTES)
    first = text.split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        raise NotWhatItClaims("not a script (its first line is no #! line)")
    named = _SCRIPT_VERSION.findall(text)
    if not named:
        raise NotWhatItClaims(f'a script without SCRIPT_VERSION="{artifact.version}" (weave\'s script names its '
                              "release so): not weave's script")
    if len(named) > 1:  # the shell keeps the last, which the check would not have read
        raise NotWhatItClaims(f"a script setting SCRIPT_VERSION {len(named)} times (weave's script sets it once)")
    version = named[0].decode(errors="replace")
    if version != artifact.version:
        raise NotWhatItClaims(f'its SCRIPT_VERSION is "{printable(version, 80)}": the script of another weave '
                              f"than {artifact.version}")
    return f"a script ({printable(first.decode(errors='replace'), 80)}, SCRIPT_VERSION=\"{version}\")"


def _images(artifact: Artifact, path: Path) -> str:
    try:
        found = {images.normalise(tag) for tag in images.saved_tags(path)}
    except images.NotADockerSave as e:
        raise NotWhatItClaims(str(e)) from None
    wanted = {images.normalise(ref) for ref in artifact.refs}
    missing, unexpected = sorted(wanted - found), sorted(found - wanted)
    if missing or unexpected:
        problems = [f"{what} {', '.join(printable(ref, 80) for ref in refs)}"
                    for what, refs in (("missing", missing), ("unexpected", unexpected)) if refs]
        raise NotWhatItClaims(f"not the profile's images: {'; '.join(problems)}")
    held = f"a docker save holding {', '.join(sorted(wanted))}"
    by_digest = [images.name_tag(ref) for ref in artifact.refs if "@" in ref]
    if by_digest:
        held += (f"; the digests pinned for {', '.join(by_digest)} could not be checked "
                 "(a docker save keeps no registry digest)")
    return held


# What provisioning's binary_from (provision/stack/lib.sh) can extract: it runs the guest's python3
# zipfile (not unzip), and Debian 12's python3 reads all four, LZMA included (its _lzma module).
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _zip(artifact: Artifact, path: Path) -> str:
    """HashiCorp's zip: the binary a regular, executable ELF file whose CRC is right, as provisioning
    would refuse it otherwise (after the cache took it, on every node)."""
    member = artifact.component
    if not zipfile.is_zipfile(path):
        raise NotWhatItClaims("not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
            others = [printable(name, 80) for name in archive.namelist() if name != member]
            if archive.namelist().count(member) > 1:
                raise NotWhatItClaims(f"a zip holding {member} {archive.namelist().count(member)} times "
                                      "(provisioning would extract the last)")
            if others:  # provisioning extracts only the binary: what else a zip carries came from elsewhere
                raise NotWhatItClaims(f"a zip holding more than the {member} binary: {', '.join(others[:5])}"
                                      f"{' ...' if len(others) > 5 else ''} (HashiCorp's zips hold it alone)")
            _binary_member(info)
            with archive.open(info) as binary:
                header = binary.read(_ELF_HEADER_SIZE)
                while binary.read(1 << 20):  # to the end: zipfile checks the CRC there
                    pass
    except KeyError:
        raise NotWhatItClaims(f"a zip without the {member} binary") from None
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as e:
        raise NotWhatItClaims(f"an unreadable zip ({printable(str(e), 80)})") from None
    problem = _not_an_amd64_program(header)
    if problem:
        program = "a Linux program" if problem == _NO_ELF else "a Linux program for amd64"
        raise NotWhatItClaims(f"a zip whose {member} is not {program} ({problem})")
    return f"a zip holding {member} ({info.file_size} bytes)"


_ELF_HEADER_SIZE = 64  # an ELF64 header
_EM_X86_64 = 62
_NO_ELF = "no ELF header"


def _not_an_amd64_program(header: bytes) -> str:
    """What the ELF header shows against the nodes' machine (64-bit little-endian x86-64), or ""."""
    if header[:4] != b"\x7fELF":
        return _NO_ELF
    if len(header) < _ELF_HEADER_SIZE:
        return f"its ELF header is cut short at {len(header)} bytes"
    if header[4] != 2:
        return "a 32-bit ELF class, not 64-bit"
    if header[5] != 1:
        return "a big-endian ELF, not little-endian"
    machine = int.from_bytes(header[18:20], "little")
    if machine != _EM_X86_64:
        return f"built for ELF machine {machine}, not x86-64 ({_EM_X86_64})"
    if int.from_bytes(header[52:54], "little") != _ELF_HEADER_SIZE:
        return "its ELF header size is not that of a 64-bit program"
    return ""


def _binary_member(info: zipfile.ZipInfo) -> None:
    name, mode = info.filename, info.external_attr >> 16
    if info.is_dir() or info.file_size == 0:
        raise NotWhatItClaims(f"a zip whose {name} is not a program")
    if stat.S_ISLNK(mode):
        raise NotWhatItClaims(f"a zip whose {name} is a symbolic link, not the program")
    if not stat.S_ISREG(mode):
        raise NotWhatItClaims(f"a zip whose {name} is not recorded as a regular file (mode {mode:06o}; HashiCorp's "
                              "zips store 0100755)")
    if mode & 0o111 != 0o111:
        raise NotWhatItClaims(f"a zip whose {name} has mode {mode & 0o7777:04o}, not executable (HashiCorp's zips "
                              "store 0755)")
    if mode & 0o7777 & ~0o755:  # binary_from would extract it so: setuid, or writable by anyone
        raise NotWhatItClaims(f"a zip whose {name} has mode {mode & 0o7777:04o}, more than 0755 (setuid, setgid, "
                              "sticky or writable by others; HashiCorp's zips store 0755)")
    if info.flag_bits & 0x1:
        raise NotWhatItClaims(f"a zip whose {name} is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise NotWhatItClaims(f"a zip whose {name} is compressed with method {info.compress_type}, "
                              "which provisioning cannot extract")


def _deb(artifact: Artifact, path: Path) -> str:
    if _head(path, 21) != b"!<arch>\ndebian-binary":
        raise NotWhatItClaims("not a Debian package (no ar archive starting with debian-binary)")
    return "a Debian package"


_CHECKS = {"script": _script, "images": _images, "binary": _zip, "package": _deb}
