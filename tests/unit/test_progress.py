"""Bring-up progress: Vagrant's real output mapped to phases, the phase clock, heartbeats, and a
second process following the progress file."""
from __future__ import annotations

import threading
from pathlib import Path

from lab import vagrant
from lab.progress import LAB, Event, Progress, Tailer, read

SAMPLE = Path(__file__).with_name("samples") / "vagrant_up" / "libvirt-tcg-debian-profile.txt"
NODES = ("u1", "u2", "u3")
PROVISIONERS = ["base", "prereqs", "images", "stack-files", "stack"]


def steps() -> list[vagrant.Step]:
    return [s for s in map(vagrant.step, SAMPLE.read_text().splitlines()) if s is not None]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_every_node_goes_through_the_phases_of_a_real_vagrant_up_in_order():
    for node in NODES:
        phases = [s.phase for s in steps() if s.node == node and s.phase]
        expected = ["start", "networks", "box", "domain", "boot", "ssh", "setup", "interfaces",
                    *(f"provision {p}" for p in PROVISIONERS)]
        assert [p for p in phases if p != "box"] == [p for p in expected if p != "box"]
        # Only the node that uploads the box volume, or snapshots it, says so.
        assert phases.count("box") <= 2


def test_the_box_volume_line_behind_an_erase_sequence_is_still_read():
    assert vagrant.step("\x1b[K==> u3: Creating image (snapshot of base box volume).") == vagrant.Step(
        "u3", "Creating image (snapshot of base box volume).", "box", "the box's disk for the VM")


def test_provisioner_results_and_stack_versions_are_notes():
    notes = {(s.node, s.message.split(":")[0]) for s in steps() if s.phase is None}
    for node in NODES:
        assert {(node, "base"), (node, "prereqs"), (node, "images"), (node, "docker 20.10.24+dfsg1"),
                (node, "consul 1.8.7"), (node, "missing")} <= notes
    consul = next(s for s in steps() if s.node == "u1" and s.message.startswith("consul 1.8.7"))
    assert consul.message.startswith("consul 1.8.7: changed: /usr/local/bin/consul")
    assert len(consul.message) <= 160


def test_domain_settings_ssh_details_and_other_noise_are_not_shown():
    shown = {s.message for s in steps()}
    assert not any(m.startswith(("-- ", "SSH address", "Vagrant insecure key", "Running: /tmp")) for m in shown)
    assert vagrant.step("") is None and vagrant.step("==> box: Adding box 'x' (v0)") is None


def test_the_provisioner_step_names_what_it_awaits():
    step = vagrant.step("==> u2: Running provisioner: images (shell)...")
    assert (step.node, step.phase, step.awaited) == ("u2", "provision images", "the images provisioner")


def replay(progress: Progress, clock: FakeClock) -> None:
    """The sample as a bring-up: one second per line."""
    with progress.stage("bring-up"):
        for step in steps():
            clock.now += 1
            if step.phase:
                progress.phase(step.node, step.phase, step.message, awaited=step.awaited)
            else:
                progress.note(step.node, step.message)


def test_the_phase_clock_times_every_node_and_phase_in_the_order_they_started(tmp_path):
    clock = FakeClock()
    progress = Progress(tmp_path / "progress.jsonl", clock=clock, heartbeat=1e9)
    replay(progress, clock)
    timings = progress.timings("bring-up")
    assert list(timings)[:4] == ["start", "networks", "box", "domain"]
    assert list(timings)[-1] == "provision stack"
    for phase in ("boot", "ssh", "provision images", "provision stack"):
        assert set(timings[phase]) == set(NODES)
    total = progress.total("bring-up")
    assert total == len(steps())
    assert all(sum(by_node.get(n, 0) for by_node in timings.values()) <= total for n in NODES)


def test_events_say_which_phase_ended_and_how_long_it_took(tmp_path):
    clock = FakeClock()
    path = tmp_path / "progress.jsonl"
    replay(Progress(path, clock=clock, heartbeat=1e9), clock)
    events = read(path)
    booted = next(e for e in events if e.node == "u1" and e.phase == "setup")
    assert booted.ended == "ssh" and booted.ended_seconds > 0
    assert booted.line() == f"[lab bring-up {booted.elapsed:4.0f}s] u1 setup: Machine booted and ready! " \
                            f"(ssh {booted.ended_seconds:.0f}s)"
    done = events[-1]
    assert done.kind == "done" and done.message.startswith(f"bring-up done in {len(steps())}s (longest phase: ")
    assert Event.from_json(done.to_json()) == done


def test_a_quiet_phase_gets_a_heartbeat_that_says_what_it_awaits():
    lines: list[str] = []
    beat = threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if "awaiting" in line:
            beat.set()

    progress = Progress(None, echo=echo, heartbeat=0.2)
    with progress.stage("bring-up"):
        progress.phase("u2", "ssh", "Waiting for machine to boot.", awaited="SSH to answer")
        assert beat.wait(10), lines
    heartbeat = next(line for line in lines if "awaiting" in line)
    assert "u2 ssh" in heartbeat and "awaiting SSH to answer" in heartbeat


def test_nodes_awaiting_the_same_thing_share_one_heartbeat_line():
    clock = FakeClock()
    lines: list[str] = []
    progress = Progress(None, echo=lines.append, heartbeat=60, clock=clock)
    for node in ("u1", "u2", "u3"):
        progress.phase(node, "boot", "Starting domain.", awaited="the VM to boot")
        clock.now += 1
    progress.phase("lab", "box", awaited="the box")
    clock.now += 62
    progress.beat()
    progress.beat()  # nothing new: every quiet phase was just named
    assert lines[-1].endswith("… u1, u2, u3 boot 63-65s, awaiting the VM to boot; lab box 62s, awaiting the box")
    assert sum("awaiting" in line for line in lines) == 1


def test_a_failed_stage_says_so_and_closes_its_phases():
    lines: list[str] = []
    progress = Progress(None, echo=lines.append, heartbeat=1e9)
    try:
        with progress.stage("teardown"):
            progress.phase("u1", "destroy")
            raise RuntimeError("vagrant destroy failed")
    except RuntimeError:
        pass
    assert lines[-1].startswith("[lab teardown    0s] teardown failed in 0s")
    assert progress.timings("teardown") == {"destroy": {"u1": 0.0}}


def test_the_tailer_shows_what_another_writer_appends_also_a_line_written_in_two_parts(tmp_path):
    path = tmp_path / "progress.jsonl"
    shown: list[str] = []
    tailer = Tailer(path, shown.append)
    tailer.read_new()  # no file yet
    clock = FakeClock()
    writer = Progress(path, clock=clock, heartbeat=1e9)
    writer.phase("u1", "boot", "Starting domain.")
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"t": 1, "stage": "", "node": "lab", ')
    tailer.read_new()
    assert shown == ["[lab    0s] u1 boot: Starting domain."]
    with open(path, "ab") as out:
        out.write(b'"phase": "", "kind": "note", "message": "h\xc3\xa9", "elapsed": 2}\n')
    tailer.read_new()
    assert shown[-1] == "[lab    2s] lab: hé"


def test_the_tailer_thread_shows_the_rest_when_stopped(tmp_path):
    path = tmp_path / "progress.jsonl"
    shown: list[str] = []
    tailer = Tailer(path, shown.append, interval=60).start()
    Progress(path, heartbeat=1e9).note(LAB, "box: building")
    tailer.stop()
    assert shown == ["[lab    0s] lab: box: building"]


# -- in pytest: the worker that brings the lab up writes, the controller shows -------------------
FAKE_BRINGUP = """
from lab import pytest_plugin

def test_bring_up(request):
    progress = pytest_plugin._progress(request.config)
    with progress.stage("bring-up"):
        for node in ("u1", "u2", "u3"):
            progress.phase(node, "boot", "Starting domain.")
        progress.note("u2", "consul 1.8.7: unchanged")
"""


def _run_fake_bringup(pytester, monkeypatch, *args):
    monkeypatch.setenv("LAB_ROOT", str(pytester.path))
    monkeypatch.setenv("LAB_TOPOLOGY", str(Path(vagrant.__file__).with_name("topology.yaml")))
    pytester.makepyfile(test_fake=FAKE_BRINGUP)
    return pytester.runpytest_subprocess("-p", "lab.pytest_plugin", "-p", "no:cacheprovider",
                                         "--lab-provider", "libvirt", *args)


def test_the_xdist_controller_shows_what_a_worker_brings_up(pytester, monkeypatch):
    result = _run_fake_bringup(pytester, monkeypatch, "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*workers*", "[[]lab bring-up    0s[]] u1 boot: Starting domain.",
                                 "*u3 boot: Starting domain.", "*u2 boot: consul 1.8.7: unchanged",
                                 "[[]lab bring-up    0s[]] bring-up done in 0s*"])


def test_without_xdist_the_same_lines_are_shown_past_the_capture(pytester, monkeypatch):
    result = _run_fake_bringup(pytester, monkeypatch)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*u1 boot: Starting domain.", "*u2 boot: consul 1.8.7: unchanged",
                                 "*bring-up done in 0s*"])


pytest_plugins = ["pytester"]
