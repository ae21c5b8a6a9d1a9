"""pytest integration: options, the lab's lifecycle (once per run, also under xdist), fixtures.

Lifecycle under `pytest -n N`: the controller creates a run directory and hands it to every
worker. The first worker whose test needs the lab brings it up under a file lock; the others
wait on the lock and then read the lab's state file. Only the controller tears down, in
`pytest_sessionfinish`, after every worker has finished. Without xdist the single process
plays both parts. A run that uses no lab fixture starts no VM.

Progress: the bring-up writes what it is doing to <run dir>/progress.jsonl (lab.progress). A
worker's output is hidden, so the xdist controller follows that file and prints each event as
a line; a single process prints them as they happen. Teardown prints the same way.
"""
from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext, suppress
from pathlib import Path

import pytest
from filelock import FileLock

from lab import artifacts, diagnostics, pytest_report, recorder
from lab import topology as topology_mod
from lab.claims import CLAIMS
from lab.inputs import InputError
from lab.lifecycle import Lab, LabState, LabStateError, restorable
from lab.node import Node
from lab.progress import Progress, Tailer
from lab.provisioned import ProvisioningIncomplete
from lab.report import diagnostics_name
from lab.settings import DESTROY_POLICIES, NOMAD_ENDPOINTS, REUSE, Settings, use_timeouts_for
from lab.snapshots import SnapshotError


class _Reuse(argparse.Action):
    """--lab-reuse, --lab-reuse=yes|no|auto: each form is an option string of its own, so that
    `--lab-reuse tests/connectivity` leaves the path to pytest (an optional value would take it)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string.partition("=")[2] or "yes")


def pytest_addoption(parser):
    group = parser.getgroup("lab", "nomad-weave-lab")
    group.addoption("--lab-provider", default="auto", choices=("auto", "virtualbox", "libvirt"),
                    help="Vagrant provider (auto: virtualbox where VBoxManage exists, else libvirt)")
    group.addoption("--lab-destroy", default="passing", choices=DESTROY_POLICIES,
                    help="after the run, destroy the lab always, only if every test passed, or never")
    group.addoption("--lab-reuse", *(f"--lab-reuse={value}" for value in REUSE), action=_Reuse, dest="lab_reuse",
                    default="no",
                    help="--lab-reuse (or =yes): test the lab that is already up, as is, and leave it up; "
                         "--lab-reuse=auto: that, or bring one up (and tear it down by --lab-destroy) if none is up; "
                         "--lab-reuse=fresh: first put the lab that is up back to its provisioned snapshot "
                         "(python -m lab restore), then test it and leave it up")
    group.addoption("--lab-topology", type=Path, default=None, help="topology file (default lab/topology.yaml)")
    group.addoption("--lab-profile", default=os.environ.get("LAB_PROFILE", "current"),
                    help="version profile from lab/versions.yaml (default: $LAB_PROFILE or current)")
    group.addoption("--lab-nomad-endpoint", default="docker", choices=NOMAD_ENDPOINTS,
                    help="where Nomad's docker driver connects at bring-up")


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): the test checks one of the article's claims (see lab/claims.py)")
    config.addinivalue_line("markers", "lab: the test needs the real three-VM lab")
    try:
        settings = _settings(config)
        state_dir = settings.writable_state_dir()
        _ = settings.cache_dir  # a relative LAB_CACHE_DIR is refused here as the command line refuses it
        topo = topology_mod.load(settings.topology_path)
        topo.require_provider(settings.provider)
    except topology_mod.TopologyError as e:
        raise pytest.UsageError(f"lab topology: {e}") from None
    except InputError as e:  # LAB_ROOT or another setting from the environment
        raise pytest.UsageError(f"lab settings: {e}") from None
    try:
        artifacts.profile(settings.profile)
    except artifacts.ArtifactError as e:
        raise pytest.UsageError(f"lab profile: {e}") from None
    config._lab_settings = settings
    config._lab_topology = topo
    if not hasattr(config, "workerinput"):
        numprocesses = config.getoption("numprocesses", default=None)
        if numprocesses and config.getoption("dist", default="no") not in ("loadgroup", "no"):
            raise pytest.UsageError("the lab's tests share state by xdist group: use --dist loadgroup (the default)")
        runs = state_dir / "runs"
        run_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        run_dir.mkdir(parents=True, exist_ok=True)
        for old in sorted(runs.iterdir())[:-20]:  # keep the last twenty runs' files
            shutil.rmtree(old, ignore_errors=True)
        config._lab_run_dir = run_dir


def _settings(config) -> Settings:
    return Settings(
        provider=config.getoption("lab_provider"),
        topology_path=config.getoption("lab_topology"),
        destroy=config.getoption("lab_destroy"),
        reuse=config.getoption("lab_reuse"),
        profile=config.getoption("lab_profile"),
        nomad_endpoint=config.getoption("lab_nomad_endpoint"),
    )


def _run_dir(config) -> Path:
    if hasattr(config, "workerinput"):
        return Path(config.workerinput["lab_run_dir"])
    return config._lab_run_dir


def _progress_path(config) -> Path:
    return _run_dir(config) / "progress.jsonl"


def _terminal_line(config) -> Callable[[str], None]:
    """Print a line in pytest's terminal now, from any thread, also while output is captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    lock = threading.Lock()

    def show(text: str) -> None:
        if reporter is None:
            return
        with lock, capture.global_and_fixture_disabled() if capture else nullcontext():
            # After xdist's progress dots (or its header) the line is not ended yet.
            if getattr(reporter, "_width_of_current_line", 0):
                reporter.write("\n")
            reporter.write_line(text)
            reporter.flush()  # a pipe (CI) would otherwise hold the line back

    return show


def _progress(config) -> Progress:
    """Where this process reports the lab's progress: the run's file, and the terminal unless
    this is an xdist worker (whose output nobody sees: the controller follows the file)."""
    return Progress(_progress_path(config), echo=None if hasattr(config, "workerinput") else _terminal_line(config))


def pytest_sessionstart(session):
    config = session.config
    if not hasattr(config, "workerinput") and config.pluginmanager.hasplugin("dsession"):
        config._lab_tailer = Tailer(_progress_path(config), _terminal_line(config)).start()


def _stop_tailer(config) -> None:
    tailer = getattr(config, "_lab_tailer", None)
    if tailer is not None:
        tailer.stop()
        config._lab_tailer = None


def pytest_unconfigure(config):
    _stop_tailer(config)
    run_dir = getattr(config, "_lab_run_dir", None)
    if run_dir is not None:
        # A run that used no lab left its folder empty: removed, so that runs without a lab (unit
        # tests, --collect-only) do not push the last lab runs' files out of the twenty kept.
        with suppress(OSError):
            run_dir.rmdir()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: tell each worker where this run's shared lab files are."""
    node.workerinput["lab_run_dir"] = str(node.config._lab_run_dir)


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            continue
        claim_id = marker.args[0]
        if claim_id not in CLAIMS:
            raise pytest.UsageError(f"{item.nodeid}: unknown claim {claim_id!r}")
        if claim_id not in item.nodeid:
            raise pytest.UsageError(f"{item.nodeid}: a test of claim {claim_id} must carry the ID in its name")
        item.add_marker(pytest.mark.lab)


def pytest_generate_tests(metafunc):
    """`node` runs a test once per node, `pair` once per ordered pair of distinct nodes."""
    topo = metafunc.config._lab_topology
    if "node" in metafunc.fixturenames:
        names = topo.node_names
        metafunc.parametrize("node", names, ids=names, indirect=True)
    if "pair" in metafunc.fixturenames:
        pairs = [(a.name, b.name) for a, b in topo.ordered_pairs()]
        metafunc.parametrize("pair", pairs, ids=[f"{a}_to_{b}" for a, b in pairs], indirect=True)


class LabSession:
    """What tests get from the `lab` fixture: the running lab's state and its nodes."""

    def __init__(self, settings: Settings, state: LabState, topo: topology_mod.Topology, brought_up: bool):
        self.settings = settings
        self.state = state
        self.brought_up = brought_up  # by this run (else it was up already and is tested as is)
        self.topology = topo
        use_timeouts_for(state.provider, state.libvirt_driver)
        self._lab = Lab(settings, say=lambda _msg: None)
        self.nodes: dict[str, Node] = self._lab.nodes(state)

    def component(self, name: str) -> dict:
        """What the lab's stack has of a component: version, status, and why not if not."""
        return self.state.stack.get(name, {"name": name, "version": "?", "status": "missing",
                                           "reason": "the lab was brought up without a stack"})

    def require(self, *components: str) -> None:
        """Skip the calling test, with the exact reasons, unless every component is installed."""
        missing = [self.component(name) for name in components]
        missing = [c for c in missing if c["status"] != "ready"]
        if missing:
            pytest.skip("; ".join(f"{c['name']} {c['version']} {c['status']}: {c['reason']}" for c in missing))

    def keep_for_debugging(self, item) -> bool:
        """Whether what a test created stays after it (--lab-destroy=never, or passing and it failed)."""
        if self.settings.destroy == "never":
            return True
        failed = any(getattr(item, f"lab_report_{when}", None) is not None
                     and getattr(item, f"lab_report_{when}").failed for when in ("setup", "call"))
        return self.settings.destroy == "passing" and failed

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise KeyError(f"no node {name!r} in the lab (nodes: {', '.join(self.nodes)})")
        return self.nodes[name]

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


def _bring_up(config) -> LabState:
    try:
        return _bring_up_or_reuse(config)
    except LabStateError as e:  # a damaged .lab/state.json: one line, as the command line says it
        problem = str(e)
    pytest.fail(problem, pytrace=False)  # outside the except: pytest would show the error it replaces


def _bring_up_or_reuse(config) -> LabState:
    settings: Settings = config._lab_settings
    run_dir = _run_dir(config)
    failed = run_dir / "bringup-failed"
    with FileLock(str(run_dir / "bringup.lock"), timeout=3600):
        if failed.exists():
            pytest.fail(f"the lab could not be brought up in this run: {failed.read_text()}", pytrace=False)
        state = LabState.load(settings)
        if (run_dir / "brought-up").exists() and state is not None:
            return state
        if state is not None and settings.reuse == "fresh":
            if not (run_dir / "restored").exists():
                _restore(config, settings)
                (run_dir / "restored").write_text(state.created_by)
            return LabState.load(settings)
        if state is None and settings.reuse == "fresh":
            pytest.fail("--lab-reuse=fresh: no lab is up to restore (no .lab/state.json); `python -m lab up` "
                        "brings one up and snapshots it", pytrace=False)
        if state is not None and settings.reuse in ("yes", "auto"):
            verified = run_dir / "reused-lab-verified"
            if not verified.exists():
                _require_finished_provisioning(settings, state)
                verified.write_text(state.created_by)
            return state
        if state is None and settings.reuse == "yes":
            pytest.fail("--lab-reuse: no lab is up (no .lab/state.json); run `python -m lab up`", pytrace=False)
        if state is not None:
            pytest.fail(f"a lab is already up (brought up by {state.created_by}, profile {state.profile}): "
                        "test it as it is with --lab-reuse, or remove it with `python -m lab down`", pytrace=False)
        progress = _progress(config)
        try:
            state = Lab(settings, say=progress.echo or (lambda _msg: None), progress=progress).up(
                created_by=f"pytest {run_dir.name}")
        except BaseException as e:
            failed.write_text(f"{type(e).__name__}: {e} (progress: {progress.path}, "
                              f"vagrant's output: {settings.log_dir / 'vagrant.log'})")
            raise
        (run_dir / "brought-up").write_text(state.created_by)
        return state


def _restore(config, settings: Settings) -> None:
    progress = _progress(config)
    try:
        restorable(settings)  # no usable snapshot is said before anything needs Vagrant
        Lab(settings, say=progress.echo or (lambda _msg: None), progress=progress).restore()
    except (SnapshotError, ProvisioningIncomplete) as e:
        problem = str(e)
    else:
        return
    pytest.fail(f"--lab-reuse=fresh: {problem}", pytrace=False)


def _require_finished_provisioning(settings: Settings, state: LabState) -> None:
    """A lab whose provisioning did not finish is never tested (Vagrant's sentinel does not tell)."""
    try:
        Lab(settings, say=lambda _msg: None).check_provisioned(state)
    except ProvisioningIncomplete as e:
        pytest.fail(f"the lab that is up cannot be tested: {e}", pytrace=False)


@pytest.fixture(scope="session")
def lab(request) -> LabSession:
    """The running lab (brought up once per run)."""
    state = _bring_up(request.config)
    pytest_report.remember_lab(request.config, state)
    recorder.start(pytest_report.run_records(request.config) / pytest_report.REAL_OUTPUTS, _lab_versions(state))
    brought_up = (_run_dir(request.config) / "brought-up").exists()
    session = LabSession(request.config._lab_settings, state, request.config._lab_topology, brought_up)
    yield session
    recorder.stop()
    session.close()


def _lab_versions(state: LabState) -> dict[str, str]:
    """What produced a recorded output: the versions the nodes run, and how they run."""
    versions = {name: ",".join(c.get("installed") or [c["version"]])
                for name, c in state.stack.items() if c.get("status") == "ready"}
    return dict(versions, profile=state.profile, provider=state.provider, driver=state.libvirt_driver or "")


@pytest.fixture(scope="session")
def nodes(lab) -> list[Node]:
    return list(lab.nodes.values())


@pytest.fixture
def node(request, lab) -> Node:
    return lab.node(request.param)


@pytest.fixture
def pair(request, lab) -> tuple[Node, Node]:
    a, b = request.param
    return lab.node(a), lab.node(b)


@pytest.fixture(scope="session")
def u1(lab) -> Node:
    return lab.node("u1")


@pytest.fixture(scope="session")
def u2(lab) -> Node:
    return lab.node("u2")


@pytest.fixture(scope="session")
def u3(lab) -> Node:
    return lab.node("u3")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (fixtures decide from it what to keep for debugging),
    and when a lab test fails, collect diagnostics from every node next to the report."""
    report = yield
    setattr(item, f"lab_report_{report.when}", report)
    session = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    if report.failed and report.when in ("setup", "call") and isinstance(session, LabSession):
        dest = pytest_report.report_dir(item.config) / "diagnostics" / diagnostics_name(item.nodeid)
        prefix = f"{session.topology.name}-" if session.settings.provider == "libvirt" else None
        outcomes = diagnostics.collect(list(session.nodes.values()), dest, console_prefix=prefix)
        report.user_properties.append(("diagnostics", str(dest)))
        report.sections.append(("lab diagnostics", f"collected from every node into {dest}\n"
                                + "\n".join(o.summary() for o in outcomes)))
    return report


def pytest_sessionfinish(session, exitstatus):
    """Controller only: tear the lab down once, by the destroy policy, after all workers."""
    config = session.config
    if hasattr(config, "workerinput") or not hasattr(config, "_lab_run_dir"):
        return
    _stop_tailer(config)  # every worker is done: the bring-up's lines have all been shown
    settings: Settings = config._lab_settings
    brought_up = (config._lab_run_dir / "brought-up").exists()
    config._lab_teardown = None
    if not brought_up:  # a lab this run did not bring up is not this run's to tear down
        return
    keep = settings.destroy == "never" or (settings.destroy == "passing" and exitstatus != 0)
    if keep:
        config._lab_teardown = f"lab kept (--lab-destroy={settings.destroy}); `python -m lab down` removes it"
        return
    progress = _progress(config)
    lab = Lab(settings, say=progress.echo, progress=progress)
    try:
        removed = lab.down()
    finally:
        pytest_report.remember_phases(config, "teardown", progress.timings("teardown"), progress.total("teardown"))
    left = lab.libvirt.leftovers() if lab.libvirt and lab.libvirt.daemons_running() else []
    config._lab_teardown = f"lab destroyed ({len(removed)} resources removed)" + (
        f"; LEFT BEHIND: {', '.join(left)}" if left else ""
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    message = getattr(config, "_lab_teardown", None)
    if message:
        terminalreporter.write_sep("-", message)
