"""provision/stack/lib.sh's binary_from, run for real (bash, python3, dpkg-deb) on real archives."""
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "provision" / "stack" / "lib.sh"
VERSION_SCRIPT = b"#!/bin/sh\necho 'Nomad v0.8.7 (21a2d93eecf018ad2209a5eab6aae6c359267933+CHANGES)'\n"


def binary_from(artifact: Path, name: str, dest: Path) -> subprocess.CompletedProcess:
    script = f'. "{LIB}"; binary_from "$1" "$2" "$3"; echo "installed=$installed"'
    return subprocess.run(["bash", "-c", script, "binary_from", str(artifact), name, str(dest)],
                          capture_output=True, text=True, check=False)


def hashicorp_zip(path: Path, name: str, content: bytes, mode: int | None) -> Path:
    """A zip as HashiCorp's release zips are: one member, made on Unix, its mode in the external attributes."""
    info = zipfile.ZipInfo(name, date_time=(2019, 2, 12, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        info.create_system = 3  # Unix
        info.external_attr = (0o100000 | mode) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, content)
    return path


def test_installs_the_executable_member_of_a_hashicorp_style_zip_and_it_runs(tmp_path):
    archive = hashicorp_zip(tmp_path / "nomad_0.8.7_linux_amd64.zip", "nomad", VERSION_SCRIPT, 0o755)
    assert zipfile.ZipFile(archive).getinfo("nomad").external_attr >> 16 == 0o100755
    dest = tmp_path / "bin" / "nomad"
    result = binary_from(archive, "nomad", dest)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "installed=yes"
    assert dest.stat().st_mode & 0o777 == 0o755
    assert subprocess.run([str(dest)], capture_output=True, text=True, check=True).stdout.startswith("Nomad v0.8.7")
    again = binary_from(archive, "nomad", dest)
    assert (again.returncode, again.stdout.strip()) == (0, "installed=no")


def test_installs_a_real_elf_binary_from_a_zip(tmp_path):
    true = Path(shutil.which("true"))
    archive = hashicorp_zip(tmp_path / "consul_1.4.4_linux_amd64.zip", "consul", true.read_bytes(), 0o755)
    dest = tmp_path / "consul"
    assert binary_from(archive, "consul", dest).returncode == 0
    assert subprocess.run([str(dest)], check=False).returncode == 0


@pytest.mark.parametrize("mode", [0o644, None], ids=["stored-0644", "no-unix-mode"])
def test_refuses_a_member_that_is_not_executable(tmp_path, mode):
    archive = hashicorp_zip(tmp_path / "nomad_0.8.7_linux_amd64.zip", "nomad", VERSION_SCRIPT, mode)
    result = binary_from(archive, "nomad", tmp_path / "nomad")
    assert result.returncode == 1
    assert "nomad in" in result.stderr and "is not executable" in result.stderr
    assert not (tmp_path / "nomad").exists()


def test_says_when_the_zip_lacks_the_binary(tmp_path):
    archive = hashicorp_zip(tmp_path / "nomad_0.8.7_linux_amd64.zip", "README", b"not it", 0o644)
    result = binary_from(archive, "nomad", tmp_path / "nomad")
    assert result.returncode == 1
    assert f"no nomad in {archive}" in result.stderr


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is not installed")
def test_installs_the_binary_of_a_real_deb(tmp_path):
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: consul\nVersion: 1.8.7+dfsg1-2+b3\nArchitecture: amd64\nMaintainer: lab <lab@localhost>\n"
        "Description: test package\n")
    (root / "usr" / "bin").mkdir(parents=True)
    binary = root / "usr" / "bin" / "consul"
    binary.write_bytes(b"#!/bin/sh\necho 'Consul v1.8.7'\n")
    binary.chmod(0o755)
    deb = tmp_path / "consul_1.8.7+dfsg1-2+b3_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], capture_output=True, check=True)
    dest = tmp_path / "consul"
    assert binary_from(deb, "consul", dest).returncode == 0
    assert subprocess.run([str(dest)], capture_output=True, text=True, check=True).stdout.strip() == "Consul v1.8.7"
