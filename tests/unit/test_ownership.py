"""One lab per machine: who owns the nwl-* resources, judged by live processes, not leftover files.

These tests start real processes that look like a lab's VMs and scan the real /proc. Each test
has a lab name of its own, so that under `pytest -n 3` a fake VM started by one test is never
taken for a live owner by another one running at the same moment."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab import lifecycle, ownership
from lab.__main__ import main

SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(ownership.tempfile, "gettempdir", lambda: str(tmp_path))


@pytest.fixture
def lab_name() -> str:
    """A lab name no other test uses (all of one length, so none is a prefix of another)."""
    return f"t{uuid.uuid4().hex[:9]}"


@pytest.fixture
def process():
    """Start a real process with the given argv; kill it after the test."""
    started = []

    def start(*argv):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE)
        started.append(p)
        assert p.stdout.readline() == b"ready\n"   # it has exec'd and runs as itself
        return p
    yield start
    for p in started:
        p.kill()
        p.wait()


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_owner(lab_name, root, pid, started=None):
    ownership.owner_file(lab_name).write_text(json.dumps({"root": str(root), "pid": pid, "started": started}))


def test_a_checkout_claims_the_lab_and_releases_it(tmp_path, lab_name):
    ownership.claim(lab_name, tmp_path / "a")
    owner = ownership.current(lab_name)
    assert (owner.root, owner.pid) == (str(tmp_path / "a"), os.getpid())
    assert owner.started == ownership.start_time(os.getpid())
    ownership.release(lab_name, tmp_path / "a")
    assert ownership.current(lab_name) is None


def test_another_checkout_is_refused_while_the_claiming_process_runs(tmp_path, lab_name):
    ownership.claim(lab_name, tmp_path / "a")
    with pytest.raises(ownership.LabBusy, match=r"belongs to .*/a \(pid \d+\).*python -m lab down"):
        ownership.check(lab_name, tmp_path / "b")
    ownership.check(lab_name, tmp_path / "a")   # the owner itself may go on


def test_a_leftover_owner_file_of_a_dead_process_is_stale_even_with_a_state_file(tmp_path, lab_name):
    # What a killed CI job or a restored snapshot leaves: the owner file and the checkout's
    # .lab/state.json, but no process of that lab.
    root = tmp_path / "a"
    (root / ".lab" / "daemons").mkdir(parents=True)
    (root / ".lab" / "state.json").write_text("{}")
    (root / ".lab" / "daemons" / "libvirtd.pid").write_text(str(dead_pid()))
    write_owner(lab_name, root, dead_pid(), started=123)
    ownership.check(lab_name, tmp_path / "b")
    ownership.claim(lab_name, tmp_path / "b")
    assert ownership.current(lab_name).root == str(tmp_path / "b")


def test_a_reused_pid_is_not_the_owner(tmp_path, process, lab_name):
    stranger = process("sh", "-c", "echo ready; exec sleep 60")
    write_owner(lab_name, tmp_path / "a", stranger.pid, started=ownership.start_time(stranger.pid) + 1)
    ownership.check(lab_name, tmp_path / "b")
    write_owner(lab_name, tmp_path / "a", stranger.pid)   # an old-format file: no start time, not python
    ownership.check(lab_name, tmp_path / "b")


def test_a_running_vm_of_the_lab_keeps_its_owner_alive(tmp_path, process, lab_name):
    # `python -m lab up` has exited, but its VMs run: QEMU names them guest=<lab>-<node>.
    write_owner(lab_name, tmp_path / "a", dead_pid(), started=1)
    vm = process(sys.executable, "-c", SLEEPER, "-name", f"guest={lab_name}-u1,debug-threads=on")
    assert ownership.vm_processes(lab_name) == [vm.pid]
    with pytest.raises(ownership.LabBusy):
        ownership.check(lab_name, tmp_path / "b")


def test_a_running_libvirt_daemon_of_the_owner_keeps_it_alive(tmp_path, process, lab_name):
    root = tmp_path / "a"
    (root / ".lab" / "daemons").mkdir(parents=True)
    daemon = process(sys.executable, "-c", SLEEPER)
    name = Path(f"/proc/{daemon.pid}/comm").read_text().strip()
    (root / ".lab" / "daemons" / f"{name}.pid").write_text(str(daemon.pid))    # its name matches
    (root / ".lab" / "daemons" / "libvirtd.pid").write_text(str(os.getpid()))  # a reused PID does not
    write_owner(lab_name, root, dead_pid(), started=1)
    with pytest.raises(ownership.LabBusy):
        ownership.check(lab_name, tmp_path / "b")
    (root / ".lab" / "daemons" / f"{name}.pid").unlink()
    ownership.check(lab_name, tmp_path / "b")


def test_release_by_another_checkout_leaves_a_live_owner_alone(tmp_path, lab_name):
    ownership.claim(lab_name, tmp_path / "a")
    ownership.release(lab_name, tmp_path / "b")
    assert ownership.current(lab_name).root == str(tmp_path / "a")


def test_a_vm_of_another_lab_does_not_keep_this_one_alive(tmp_path, process, lab_name):
    # What made these tests fail at random under -n 3: one test's fake VM seen by another's check.
    write_owner(lab_name, tmp_path / "a", dead_pid(), started=1)
    process(sys.executable, "-c", SLEEPER, "-name", f"guest={lab_name}x-u1,debug-threads=on")
    assert ownership.vm_processes(lab_name) == []
    ownership.check(lab_name, tmp_path / "b")


# -- `python -m lab status`, on a process table of our making ---------------------------------

def fake_proc(tmp_path, processes: dict[int, tuple[bytes, int]]) -> Path:
    """A /proc holding only these processes: pid -> (command line, start time)."""
    proc = tmp_path / "proc"
    for pid, (cmdline, started) in processes.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(cmdline)
        (proc / str(pid) / "stat").write_text(f"{pid} (a command) S {' '.join(['0'] * 18)} {started} 0 0\n")
    proc.mkdir(exist_ok=True)
    return proc


class LabConstructed(Exception):
    """`status` went on to ask Vagrant and libvirt (which these tests never run)."""


@pytest.fixture
def cli_on_a_fake_machine(monkeypatch):
    def no_lab(*args, **kwargs):
        raise LabConstructed
    monkeypatch.setattr(lifecycle, "Lab", no_lab)

    def run(proc: Path, *argv: str) -> int:
        monkeypatch.setattr(ownership, "PROC", proc)
        return main(["--provider", "libvirt", *argv])
    return run


def test_status_says_whose_lab_is_up_while_another_checkout_owns_it(tmp_path, cli_on_a_fake_machine, capsys):
    proc = fake_proc(tmp_path, {4242: (b"python3\0-m\0lab\0up\0", 777),
                                5001: (b"qemu-system-x86_64\0-name\0guest=nwl-u1,debug-threads=on\0", 900),
                                5002: (b"qemu-system-x86_64\0-name\0guest=nwl-u2,debug-threads=on\0", 901)})
    write_owner("nwl", "/srv/other-checkout", 4242, started=777)  # the shipped topology's lab
    assert cli_on_a_fake_machine(proc, "status") == 0
    out = capsys.readouterr().out
    assert ("the nwl-* lab on this machine is up and belongs to /srv/other-checkout (pid 4242): the process that "
            "brought it up (pid 4242) runs; 2 VM process(es) of the lab run (pid 5001, 5002)") in out
    assert "`python -m lab status` in /srv/other-checkout shows its nodes" in out
    assert "not_created" not in out


def test_status_of_a_lab_whose_owner_is_gone_asks_vagrant(tmp_path, cli_on_a_fake_machine):
    write_owner("nwl", "/srv/other-checkout", 4242, started=777)
    with pytest.raises(LabConstructed):  # nothing runs there: this checkout's own state is asked for
        cli_on_a_fake_machine(fake_proc(tmp_path, {}), "status")
