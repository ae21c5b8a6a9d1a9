"""Bounded waits: the bound depends on how the guests run, and an expired wait says what it last saw."""
import itertools

import pytest

from lab import settings, wait
from lab.node import CommandError, CommandResult


@pytest.fixture(autouse=True)
def restore_timeouts():
    yield
    settings.use_timeouts_for("libvirt", "qemu")


@pytest.mark.parametrize("provider, driver, emulated", [
    ("libvirt", "qemu", True), ("libvirt", None, True), ("libvirt", "kvm", False), ("virtualbox", None, False)])
def test_bounds_follow_the_virtualisation(provider, driver, emulated):
    chosen = settings.use_timeouts_for(provider, driver)
    assert settings.timeouts() is chosen
    assert chosen == (settings.EMULATED if emulated else settings.HARDWARE)


def test_hardware_bounds_are_a_third_but_never_below_half_a_minute():
    assert settings.HARDWARE.weave_mesh == settings.EMULATED.weave_mesh / 3
    assert settings.HARDWARE.diagnostic_command == 30  # 60 / 3 would be 20


def test_an_expired_wait_names_what_it_awaited_and_the_last_state_seen():
    counter = itertools.count()
    with pytest.raises(wait.WaitTimeout) as caught:
        wait.until(lambda: next(counter), "the counter to reach a million", timeout=0.3, interval=0.1,
                   accept=lambda n: n >= 1_000_000)
    message = str(caught.value)
    assert message.startswith("timed out after 0s waiting for the counter to reach a million (last result: ")


def test_an_expired_wait_shows_the_last_error_when_the_probe_kept_failing():
    def probe():
        raise CommandError(CommandResult("u2", "weave status", 1, "", "weave is not running"))

    with pytest.raises(wait.WaitTimeout, match=r"last error: CommandError\('u2: `weave status` exited 1: weave is"):
        wait.until(probe, "weave on u2", timeout=0.2, interval=0.1)


def test_a_huge_last_state_is_cut():
    with pytest.raises(wait.WaitTimeout) as caught:
        wait.until(lambda: "x" * 10_000, "nothing", timeout=0.1, interval=0.05, accept=lambda _: False)
    assert len(str(caught.value)) < wait.MAX_SEEN + 200
