"""pytest plugin: the claims report (<report-dir>/claims.json, .md, .html) and JUnit XML by default.

Under xdist, workers only tag their items: the claim ID and the subject ("u1", "u1_to_u2" or "")
go into `item.user_properties`, which travel with every report to the controller. The controller
(or the single process) collects the reports and writes the files at the end of the session.

The report directory holds the last lab run's records: claims.json/.md/.html, junit.xml,
lab-state.json and real-outputs/. A lab run is one in which the `lab` fixture was set up or a
test of a claim ran (passed, failed or errored: a failed bring-up is a lab run too). Only a lab
run replaces them, all at once at its end: until then its lab-state.json and real-outputs/ go
into .run-<id>/ in the report directory. A run that is not one (--collect-only, unit tests
only, every claim test skipped or deselected) leaves them as they were, and its JUnit XML goes
to junit-without-lab.xml instead. An explicit --junitxml is written where it says, every run.

The lab's metadata (profile, provider, versions, stack) comes from what `remember_lab` stored in
this run, else from .lab/state.json (the lab may be gone by then: the lab is torn down after the
report is written, but a failed bring-up or --lab-reuse may leave either one only).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _pytest.junitxml import xml_key  # the junitxml plugin's LogXML, to name its file

from lab import report
from lab.inputs import InputError, writable_folder

LAB_FILE = "lab-state.json"
REAL_OUTPUTS = "real-outputs"  # lab.recorder's folder, one lab run's
JUNIT = "junit.xml"  # the last lab run's, unless --junitxml names another file
JUNIT_WITHOUT_LAB = "junit-without-lab.xml"  # the last run's that was no lab run
# What a report may show of the lab's state (not its SSH endpoints or key paths).
_LAB_KEYS = ("provider", "profile", "versions", "stack", "libvirt_driver", "up_seconds", "down_seconds", "phases",
             "created_by", "nomad_endpoint", "diagnostics_dir")
_MAX_MESSAGE = 300
_PAIR_ID = re.compile(r"\w+?_to_\w+")


def pytest_addoption(parser):
    parser.getgroup("lab").addoption(
        "--lab-report-dir", default=None,
        help="where claims.json/.md/.html (and junit.xml unless --junitxml) go (default: <rootdir>/reports)")


def report_dir(config) -> Path:
    if hasattr(config, "workerinput") and "lab_report_dir" in config.workerinput:
        return Path(config.workerinput["lab_report_dir"])
    value = config.getoption("lab_report_dir", default=None)
    if value is not None and not value.strip():
        raise pytest.UsageError(f"--lab-report-dir {value!r}: names no folder: give the folder for the reports "
                                "(or leave the option out for reports/)")
    return (config.invocation_params.dir / value).resolve() if value else config.rootpath / "reports"


def run_records(config) -> Path:
    """Where this run keeps its lab-state.json and real-outputs/ until it ends (a lab run's then replace
    the report directory's); callable on any worker."""
    run = config.workerinput["lab_report_run"] if hasattr(config, "workerinput") else config._lab_report_run
    return report_dir(config) / f".run-{run}"


def _require_writable(directory: Path) -> None:
    try:
        writable_folder(directory, "--lab-report-dir")
    except InputError as e:
        raise pytest.UsageError(str(e)) from None


@pytest.hookimpl(tryfirst=True)  # before junitxml's pytest_configure reads --junitxml
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return
    directory = report_dir(config)
    _require_writable(directory)  # before any test runs, or a lab comes up whose report could not be written
    config._lab_report_run = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    default_junit = getattr(config.option, "xmlpath", "") is None  # junitxml is active, --junitxml not given
    if default_junit:
        config.option.xmlpath = str(directory / JUNIT)  # or JUNIT_WITHOUT_LAB: the collector decides at the end
    config.pluginmanager.register(_Collector(config, directory, default_junit), "lab-report-collector")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: every worker writes remember_lab's file where the controller reads it."""
    node.workerinput["lab_report_dir"] = str(report_dir(node.config))
    node.workerinput["lab_report_run"] = node.config._lab_report_run


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker and marker.args and not any(name == "claim" for name, _ in item.user_properties):
            item.user_properties += [("claim", str(marker.args[0])), ("subject", _subject(item))]


def _subject(item) -> str:
    """What a case is about: "u1" (a `node` test), "u1_to_u2" (a `pair` test), else the case's id
    ("b1", "address_mode_auto"), or the part of it shaped like "a1_to_a2"; "" if not parametrised."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ""
    if "pair" in callspec.params:
        pair = callspec.params["pair"]
        if isinstance(pair, (tuple, list)) and len(pair) == 2:
            return "_to_".join(getattr(p, "name", str(p)) for p in pair)
        return str(pair)
    if "node" in callspec.params:
        return getattr(callspec.params["node"], "name", str(callspec.params["node"]))
    pairs = [part for part in callspec.id.split("-") if _PAIR_ID.fullmatch(part)]
    return pairs[0] if pairs else callspec.id


def remember_lab(config, state) -> Path:
    """Store the lab's state (a LabState or its dict) for this run's report; callable on any worker."""
    data = dataclasses.asdict(state) if dataclasses.is_dataclass(state) else dict(state)
    return _write_lab_file(config, {k: data[k] for k in _LAB_KEYS if k in data})


def remember_phases(config, stage: str, timings: dict, total: float | None) -> Path:
    """Add a stage's phase timings (the teardown's, after the lab is gone) to this run's report."""
    path = run_records(config) / LAB_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("phases", {})[stage] = timings
    if stage == "teardown":
        data["down_seconds"] = total
    return _write_lab_file(config, data)


def _write_lab_file(config, data: dict) -> Path:
    path = run_records(config) / LAB_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{LAB_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
    return path


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _skip_reason(longrepr) -> str:
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr or "")


def _message(longrepr) -> str:
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        lines = [line for line in crash.message.splitlines() if line.strip()][:2]
    else:
        lines = [line for line in str(longrepr or "").splitlines() if line.strip()][-1:]
    text = " / ".join(" ".join(line.split()) for line in lines)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 1] + "…"


def _apply(case: dict, rep) -> None:
    """Fold one phase's report into the test's result."""
    if rep.passed:
        if rep.when == "call":
            case["outcome"] = "passed"
    elif rep.skipped:
        if hasattr(rep, "wasxfail"):
            case.update(outcome="xfailed", message=f"expected failure: {rep.wasxfail}".rstrip(": "))
        else:
            case.update(outcome="skipped", reason=_skip_reason(rep.longrepr))
    elif rep.when == "call" or case["outcome"] in (None, "passed"):
        # A failed call, or an error in setup/teardown (or a crashed worker's "???") of a test
        # that had not failed yet.
        outcome = "failed" if rep.when == "call" else "error"
        prefix = "" if rep.when == "call" else f"error in {rep.when}: "
        case.update(outcome=outcome, message=prefix + _message(rep.longrepr))


class _Collector:
    """Controller side: results of every test, the report at the end."""

    def __init__(self, config, directory: Path, default_junit: bool):
        self.config = config
        self.directory = directory
        self.records = run_records(config)
        self.default_junit = default_junit
        self.cases: dict[str, dict] = {}
        self.collection_errors = 0
        self.started = _now()
        self.lab_run = False
        self.written: dict[str, Path] | None = None

    def pytest_runtest_logreport(self, report):
        case = self.cases.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "claim": None, "subject": "", "outcome": None,
            "reason": "", "message": "", "duration": 0.0})
        props = dict(tuple(p) for p in report.user_properties if len(p) == 2)
        if "claim" in props:
            case.update(claim=props["claim"], subject=props.get("subject", ""))
        if props.get("finding"):
            case["finding"] = props["finding"]
        if props.get("diagnostics"):
            case["diagnostics"] = self._relative(props["diagnostics"])
        case["duration"] = round(case["duration"] + (report.duration or 0.0), 3)
        _apply(case, report)

    def _relative(self, path: str) -> str:
        """A folder as the report links it: relative to the report directory when inside it."""
        full = (self.config.invocation_params.dir / path).resolve()
        try:
            return full.relative_to(self.directory.resolve()).as_posix()
        except ValueError:
            return str(full)

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors += 1

    def _is_lab_run(self) -> bool:
        return (self.records / LAB_FILE).exists() or any(
            c["claim"] and c["outcome"] != "skipped" for c in self.cases.values())

    def _name_junit(self) -> None:
        """The default JUnit XML replaces the last lab run's only when this run is one."""
        xml = self.config.stash.get(xml_key, None) if self.default_junit else None
        if xml is not None:
            xml.logfile = str(self.directory / (JUNIT if self.lab_run else JUNIT_WITHOUT_LAB))

    # Around the lab plugin's teardown, so that the report has the teardown's timings; innermost of
    # the wrappers, so that the terminal summary (after them) can name the report. Whether this is
    # a lab run is known once every test has run, before junitxml writes its file.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.lab_run = self._is_lab_run()
        self._name_junit()
        try:
            return (yield)
        finally:
            try:
                if self.lab_run:
                    self._write(exitstatus)
                    self._replace_records()
            finally:
                shutil.rmtree(self.records, ignore_errors=True)

    def _write(self, exitstatus) -> None:
        results = [dict(c, outcome=c["outcome"] or "error",
                        message=c["message"] or ("" if c["outcome"] else "the test did not finish"))
                   for _, c in sorted(self.cases.items())]
        run = {"schema": report.SCHEMA, "metadata": self._metadata(int(exitstatus), results), "results": results}
        self.written = report.write(run, self.directory)

    def _replace_records(self) -> None:
        """This run's lab state and real outputs replace the last lab run's; what it has none of is
        removed, so that the folder describes one run."""
        for name in (LAB_FILE, REAL_OUTPUTS):
            old, new = self.directory / name, self.records / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink(missing_ok=True)
            if new.exists():
                new.replace(old)

    def _metadata(self, exitstatus: int, results: list[dict]) -> dict:
        meta: dict = {}
        settings = getattr(self.config, "_lab_settings", None)
        if settings is not None:
            meta.update(profile=settings.profile, provider=settings.provider, nomad_endpoint=settings.nomad_endpoint)
        topology = getattr(self.config, "_lab_topology", None)
        if topology is not None:
            meta["nodes"] = list(topology.node_names)
        remembered = self.records / LAB_FILE
        state = settings.state_dir / "state.json" if settings is not None else None
        for source in (remembered, state):
            try:
                data = json.loads(source.read_text()) if source is not None else None
            except (OSError, ValueError):  # absent, or damaged: the report is written without it
                continue
            if isinstance(data, dict):
                meta.update({k: data[k] for k in _LAB_KEYS if k in data}, lab_source=str(source))
                break
        if (self.directory / "diagnostics").is_dir():
            meta.setdefault("diagnostics_dir", "diagnostics")
        meta.update(started=self.started, finished=_now(), exit_status=exitstatus,
                    counts=dict(report.counts(results), collection_errors=self.collection_errors))
        return meta

    def pytest_terminal_summary(self, terminalreporter):
        if self.written:
            terminalreporter.write_sep("-", f"claims report: {self.written['md']} (also .json, .html)")
        elif not self.lab_run:
            terminalreporter.write_sep("-", f"claims report: not written (no lab run: no test of a claim ran); "
                                            f"the last lab run's records in {self.directory} are as they were")
