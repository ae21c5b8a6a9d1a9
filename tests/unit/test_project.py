"""The project's own promises: CI runs the README's test command; the README's commands work as
written; the stand-in image says what the article's image said."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab import article, topology

ROOT = Path(__file__).parents[2]
pytest_plugins = ["pytester"]


def readme_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_starts_with_the_two_commands():
    setup_and_run, tests = readme_commands()
    assert setup_and_run.startswith("scripts/setup-host.sh && ") and " -m lab " in setup_and_run
    assert " check" in setup_and_run
    assert "pytest -n 3" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(tests)}$", ci, re.M), f"{tests!r} is not a line of .ci/run"


RECORDER = '#!/bin/sh\necho "${0##*/} $*" >>"$LOG"\n'


@pytest.fixture
def setup_host(tmp_path):
    """scripts/setup-host.sh in a checkout of its own, on a PATH of stand-ins: it installs nothing."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup-host.sh", checkout / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "dirname", "cat", "grep", "env"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (checkout / ".venv" / "bin").mkdir(parents=True)
    stand_ins = {bin_dir / name: RECORDER for name in ("apt-get", "tee", "chmod", "rm")}
    stand_ins[checkout / ".venv" / "bin" / "python"] = RECORDER
    stand_ins[checkout / ".venv" / "bin" / "pip"] = RECORDER
    stand_ins[bin_dir / "id"] = '#!/bin/sh\necho "$FAKE_UID"\n'
    stand_ins[bin_dir / "dpkg-query"] = '#!/bin/sh\n[ -n "$INSTALLED" ] && echo "install ok installed"\n'
    for path, script in stand_ins.items():
        path.write_text(script)
        path.chmod(0o755)

    def run(uid: int, sudo: bool, installed: bool = False):
        if sudo:
            (bin_dir / "sudo").write_text(RECORDER + 'exec "$@"\n')
            (bin_dir / "sudo").chmod(0o755)
        log = tmp_path / "log"
        log.write_text("")
        proc = subprocess.run([str(bin_dir / "bash"), str(checkout / "scripts" / "setup-host.sh")],
                              capture_output=True, text=True, check=False, timeout=60,
                              env={"PATH": str(bin_dir), "LOG": str(log), "FAKE_UID": str(uid),
                                   "INSTALLED": "1" if installed else ""})
        return proc, log.read_text().splitlines()
    return run


def test_setup_host_installs_as_root_without_sudo(setup_host):
    proc, ran = setup_host(uid=0, sudo=False)
    assert proc.returncode == 0, proc.stderr
    assert "apt-get update -qq" in ran and any(line.startswith("apt-get install -y") for line in ran)
    assert not any(line.startswith("sudo") for line in ran)
    assert ran[-1].startswith("pip install")


def test_setup_host_installs_through_sudo_as_a_user(setup_host):
    proc, ran = setup_host(uid=1000, sudo=True)
    assert proc.returncode == 0, proc.stderr
    assert "sudo apt-get update -qq" in ran
    assert any(line.startswith("sudo env DEBIAN_FRONTEND=noninteractive apt-get install") for line in ran)
    assert ran[-1].startswith("pip install") and not ran[-2].startswith("sudo")  # the venv is the user's


def test_setup_host_without_root_or_sudo_says_what_to_do(setup_host):
    proc, ran = setup_host(uid=1000, sudo=False)
    assert proc.returncode == 1
    assert "needs root, and sudo is not installed: run it as root" in proc.stderr
    assert not any(line.startswith("apt-get") for line in ran)
    proc, ran = setup_host(uid=1000, sudo=False, installed=True)  # nothing to install: no root needed
    assert proc.returncode == 0, proc.stderr
    assert ran == ["pip install --quiet --disable-pip-version-check -e .[dev]"]


def test_httpbackend_stand_in_answers_like_the_articles_image():
    script = (ROOT / "provision" / "images.sh").read_text()
    assert f'body="{article.SERVICE_BODY}"' in script
    assert f'"-p", "{article.SERVICE_PORT}"' in script


def readme_pytest_lines() -> list[str]:
    """Every pytest command line in the README's code blocks, without its comment."""
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        for line in block.splitlines():  # a command starts its line; an indented one continues prose
            command = line.split("  #", 1)[0].rstrip()
            if command.startswith(("pytest ", ".venv/bin/pytest ")):
                lines.append(command)
    return lines


def test_the_readme_documents_every_form_of_lab_reuse():
    lines = readme_pytest_lines()
    assert "pytest --lab-reuse tests/connectivity" in lines
    assert "pytest --lab-reuse=auto tests/isolation" in lines


@pytest.mark.parametrize("line", readme_pytest_lines())
def test_every_pytest_command_of_the_readme_runs_as_written(tmp_path, line):
    """Collected only: no VM starts at collection. `...` in the README stands for more arguments.
    --lab-report-dir=DIR is one word: before the lab's plugin is loaded, pytest would take a
    separate DIR for a test path, and its rootdir from it."""
    words = [word for word in shlex.split(line)[1:] if word != "..."]
    proc = subprocess.run([sys.executable, "-m", "pytest", *words, "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--lab-report-dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
                          env={**os.environ, "LAB_ROOT": str(tmp_path), "LAB_TOPOLOGY": str(topology.DEFAULT_PATH)})
    assert proc.returncode in (0, 5), proc.stdout[-2000:] + proc.stderr
    collected = [out for out in proc.stdout.splitlines() if "::" in out]
    paths = [word for word in words if (ROOT / word).exists()]
    assert collected and all(any(test.startswith(path) for path in paths or [""]) for test in collected)


@pytest.mark.parametrize("args, reuse, paths", [
    ([], "no", []),
    (["--lab-reuse", "sub"], "yes", ["sub"]),
    (["--lab-reuse=yes", "sub"], "yes", ["sub"]),
    (["--lab-reuse=auto", "sub"], "auto", ["sub"]),
    (["sub", "--lab-reuse"], "yes", ["sub"]),
    (["--lab-reuse=no"], "no", []),
])
def test_lab_reuse_never_takes_the_test_path_as_its_value(pytester, monkeypatch, args, reuse, paths):
    monkeypatch.setenv("LAB_ROOT", str(pytester.path))
    monkeypatch.setenv("LAB_TOPOLOGY", str(topology.DEFAULT_PATH))
    pytester.makeconftest(textwrap.dedent("""
        def pytest_collection_finish(session):
            print("reuse", session.config.getoption("lab_reuse"), "args", " ".join(session.config.args))
    """))
    (pytester.path / "sub").mkdir()
    result = pytester.runpytest_subprocess("-p", "lab.pytest_plugin", "-p", "no:cacheprovider", "-s", *args)
    result.stdout.fnmatch_lines([f"reuse {reuse} args {' '.join(paths) if paths else '*'}"])
