"""pytest plugin: the claims report (<report-dir>/claims.json, .md, .html) and JUnit XML by default.

Under xdist, workers only tag their items: the claim ID and the subject ("u1", "u1_to_u2" or "")
go into `item.user_properties`, which travel with every report to the controller. The controller
(or the single process) collects the reports and writes the files at the end of the session. A
run in which no test of a claim ran writes no claims report, so a unit-test run does not replace
the last lab run's. Without --junitxml, JUnit XML goes to <report-dir>/junit.xml.

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
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lab import report

LAB_FILE = "lab-state.json"
REAL_OUTPUTS = "real-outputs"  # lab.recorder's folder in the report directory, one run's
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
    return (config.invocation_params.dir / value).resolve() if value else config.rootpath / "reports"


@pytest.hookimpl(tryfirst=True)  # before junitxml's pytest_configure reads --junitxml
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return
    directory = report_dir(config)
    if getattr(config.option, "xmlpath", "") is None:  # junitxml is active and --junitxml was not given
        config.option.xmlpath = str(directory / "junit.xml")
    (directory / LAB_FILE).unlink(missing_ok=True)  # a previous run's
    shutil.rmtree(directory / REAL_OUTPUTS, ignore_errors=True)
    config.pluginmanager.register(_Collector(config, directory), "lab-report-collector")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: every worker writes remember_lab's file where the controller reads it."""
    node.workerinput["lab_report_dir"] = str(report_dir(node.config))


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
    path = report_dir(config) / LAB_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("phases", {})[stage] = timings
    if stage == "teardown":
        data["down_seconds"] = total
    return _write_lab_file(config, data)


def _write_lab_file(config, data: dict) -> Path:
    path = report_dir(config) / LAB_FILE
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

    def __init__(self, config, directory: Path):
        self.config = config
        self.directory = directory
        self.cases: dict[str, dict] = {}
        self.collection_errors = 0
        self.started = _now()
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

    # Around the lab plugin's teardown, so that the report has the teardown's timings; innermost of
    # the wrappers, so that the terminal summary (after them) can name the report.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        try:
            return (yield)
        finally:
            self._write(exitstatus)

    def _write(self, exitstatus) -> None:
        results = [dict(c, outcome=c["outcome"] or "error",
                        message=c["message"] or ("" if c["outcome"] else "the test did not finish"))
                   for _, c in sorted(self.cases.items())]
        if not any(r["claim"] for r in results):
            return
        run = {"schema": report.SCHEMA, "metadata": self._metadata(int(exitstatus), results), "results": results}
        self.written = report.write(run, self.directory)

    def _metadata(self, exitstatus: int, results: list[dict]) -> dict:
        meta: dict = {}
        settings = getattr(self.config, "_lab_settings", None)
        if settings is not None:
            meta.update(profile=settings.profile, provider=settings.provider, nomad_endpoint=settings.nomad_endpoint)
        topology = getattr(self.config, "_lab_topology", None)
        if topology is not None:
            meta["nodes"] = list(topology.node_names)
        remembered = self.directory / LAB_FILE
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
        else:
            terminalreporter.write_sep("-", "claims report: not written (no test of a claim ran)")
