"""The claims report: one verdict per article claim, as Markdown and HTML, and across profiles.

Pure functions over plain data. A run is what lab.pytest_report writes to claims.json:

    {"schema": 1, "metadata": {profile, provider, versions, stack, libvirt_driver, started,
     finished, exit_status, counts, nodes?, diagnostics_dir?, up_seconds?, down_seconds?,
     phases?: {"bring-up"|"teardown": {phase: {node: seconds}}}, ...},
     "results": [{nodeid, claim, subject, outcome, reason, message, duration, diagnostics?}, ...]}

outcome is passed | failed | error | skipped | xfailed; subject is "u1" (a `node` test),
"u1_to_u2" (a `pair` test) or "" (neither); diagnostics (optional) is a failure's folder.
A claim's verdict: passed when every case passed, failed when any failed/errored/xfailed,
skipped when every case was skipped, partial when some passed and the rest were skipped,
"not run" when no case ran.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from lab import trust
from lab.claims import CLAIMS, Claim
from lab.inputs import TOP, Fields, InputError, kind, load_json, quoted

SCHEMA = 1
COMPONENTS = ("docker", "weave", "consul", "nomad")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed")
FAILING = ("failed", "error", "xfailed")
VERDICTS = ("passed", "failed", "skipped", "partial", "not run")
SYMBOLS = {"passed": "✓", "failed": "✗", "skipped": "○", "partial": "◐", "not run": "·"}
MEANINGS = {
    "passed": "every case passed",
    "failed": "a case failed, errored or was an expected failure",
    "skipped": "every case was skipped",
    "partial": "some cases passed, the others were skipped",
    "not run": "no test of the claim ran",
}
UNKNOWN_CLAIM = "(not a claim of this version's lab/claims.py: the report comes from another version?)"
GRID_CLAIMS = ("W3", "W6", "I5")  # reachability claims: always shown as a source x destination grid
_MAX_FAILURES = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Case:
    nodeid: str
    claim: str | None
    subject: str = ""
    outcome: str = "passed"
    reason: str = ""
    message: str = ""
    duration: float = 0.0
    diagnostics: str = ""  # the folder lab.pytest_plugin collected for this failure, relative to the report
    finding: str = ""  # what a test found to be true where the article left it open (I7)

    @property
    def name(self) -> str:
        return self.nodeid.rsplit("::", 1)[-1]


@dataclass
class Subject:
    name: str
    verdict: str
    cases: list[Case]

    @property
    def label(self) -> str:
        return self.name.replace("_to_", "→") if self.name else "all"

    @property
    def title(self) -> str:
        return "\n".join(f"{c.name}: {c.outcome}" + (f" ({c.reason or c.message})" if c.reason or c.message else "")
                         for c in self.cases)


@dataclass
class Grid:
    axis: list[str]
    cells: dict[tuple[str, str], Subject]

    def rows(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Per source: (destination, verdict or "self", tooltip) for every destination."""
        out = []
        for src in self.axis:
            row = []
            for dst in self.axis:
                cell = self.cells.get((src, dst))
                if src == dst and cell is None:
                    row.append((dst, "self", f"{src} → {dst}: not a pair"))
                else:
                    row.append((dst, cell.verdict if cell else "not run",
                                f"{src} → {dst}\n" + (cell.title if cell else "not run")))
            out.append((src, row))
        return out


@dataclass
class ClaimRow:
    claim: Claim
    verdict: str
    subjects: list[Subject]
    reasons: list[str]
    failures: list[Case]
    findings: list[str]
    grid: Grid | None


def diagnostics_name(nodeid: str) -> str:
    """The folder of a test's diagnostics (reports/diagnostics/<name>/): the plugin writes it, the report links it."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


def verdict(outcomes: Iterable[str]) -> str:
    outcomes = list(outcomes)
    if not outcomes:
        return "not run"
    if any(o in FAILING for o in outcomes):
        return "failed"
    if all(o == "passed" for o in outcomes):
        return "passed"
    if all(o == "skipped" for o in outcomes):
        return "skipped"
    return "partial"


def cases(run: dict) -> list[Case]:
    return [Case(**{k: r[k] for k in Case.__dataclass_fields__ if k in r}) for r in run["results"]]


def counts(results: Iterable[dict]) -> dict[str, int]:
    out = {o: 0 for o in ("passed", "failed", "error", "skipped", "xfailed")}
    for r in results:
        out[r["outcome"]] = out.get(r["outcome"], 0) + 1
    out["total"] = sum(out.values())
    return out


def _natural(text: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _subject_key(name: str) -> tuple:
    return (2 if "_to_" in name else 1 if name else 0, _natural(name))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _grid(claim_id: str, subjects: list[Subject], nodes: list[str]) -> Grid | None:
    pairs = {tuple(s.name.split("_to_", 1)): s for s in subjects if "_to_" in s.name}
    if not pairs and claim_id not in GRID_CLAIMS:
        return None
    axis = sorted({end for pair in pairs for end in pair}, key=_natural) or nodes
    return Grid(axis, pairs) if axis else None


def claim_rows(run: dict) -> list[ClaimRow]:
    """One row per claim: the catalog's in its order, then any other claim the run names."""
    all_cases = cases(run)
    by_claim: dict[str, list[Case]] = {}
    for case in sorted(all_cases, key=lambda c: c.nodeid):
        if case.claim:
            by_claim.setdefault(case.claim, []).append(case)
    nodes = list(run.get("metadata", {}).get("nodes") or sorted(
        {c.subject for c in all_cases if c.subject and "_to_" not in c.subject}, key=_natural))
    catalog = dict(CLAIMS)
    for cid in sorted(set(by_claim) - set(catalog), key=_natural):
        catalog[cid] = Claim(cid, "?", UNKNOWN_CLAIM)
    rows = []
    for cid, claim in catalog.items():
        claim_cases = by_claim.get(cid, [])
        grouped: dict[str, list[Case]] = {}
        for case in claim_cases:
            grouped.setdefault(case.subject, []).append(case)
        subjects = [Subject(name, verdict(c.outcome for c in grouped[name]), grouped[name])
                    for name in sorted(grouped, key=_subject_key)]
        rows.append(ClaimRow(
            claim=claim,
            verdict=verdict(c.outcome for c in claim_cases),
            subjects=subjects,
            reasons=_unique(c.reason for c in claim_cases if c.outcome == "skipped"),
            failures=[c for c in claim_cases if c.outcome in FAILING],
            findings=_unique(c.finding for c in claim_cases if c.finding),
            grid=_grid(cid, subjects, nodes),
        ))
    return rows


def verdict_counts(run: dict) -> dict[str, int]:
    """How many claims got each verdict, in VERDICTS order."""
    verdicts = [row.verdict for row in claim_rows(run)]
    return {v: verdicts.count(v) for v in VERDICTS}


def components(meta: dict) -> list[dict]:
    """Every component of the stack: name, version, status installed/missing/refused (+ reason), and
    where its software came from when that is not a verified source (lab.trust)."""
    versions, stack = meta.get("versions") or {}, meta.get("stack") or {}
    names = [n for n in COMPONENTS if n in versions or n in stack] + sorted(
        (set(versions) | set(stack)) - set(COMPONENTS))
    out = []
    for name in names:
        entry = stack.get(name, {})
        status = entry.get("status", "unknown" if stack == {} else "missing")
        version = entry.get("version") or versions.get(name, "?")
        installed = ", ".join(entry.get("installed") or [])  # what the nodes report running
        level = entry.get("trust", "") if status == "ready" else ""
        out.append({"name": name, "version": f"{version} (installed {installed})" if installed else version,
                    "status": "installed" if status == "ready" else status, "reason": entry.get("reason", ""),
                    "trust": level, "caveat": _caveat(level)})
    return out


def _caveat(level: str) -> str:
    """A level this version does not know (a report from a newer one) is shown, never taken for verified."""
    if level and level not in trust.LABELS:
        return f"trust level {level} (not known to this version)"
    return trust.caveat(level)


def _component_cell(component: dict) -> str:
    """A component in the profiles' table: version, status, and its trust where that is a caveat."""
    caveat = f" ({component['trust']})" if component["caveat"] else ""
    return f"{component['version']} {component['status']}{caveat}"


def profile_name(run: dict, fallback: str = "?") -> str:
    return run.get("metadata", {}).get("profile") or fallback


def _provider(meta: dict) -> str:
    provider = meta.get("provider") or "?"
    return f"{provider} ({meta['libvirt_driver']})" if meta.get("libvirt_driver") else provider


def _summary(meta: dict) -> str:
    c = meta.get("counts") or {}
    shown = ", ".join(f"{c[k]} {k}" for k in ("passed", "failed", "error", "skipped", "xfailed",
                                               "collection_errors") if c.get(k))
    return (f"Run {meta.get('started', '?')} → {meta.get('finished', '?')}, "
            f"pytest exit status {meta.get('exit_status', '?')}: {shown or 'no test'}.")


def _diag_link(meta: dict, case: Case) -> str | None:
    if case.diagnostics:
        return case.diagnostics.rstrip("/") + "/"
    base = meta.get("diagnostics_dir")
    return f"{base.rstrip('/')}/{diagnostics_name(case.nodeid)}/" if base else None


@dataclass
class Phases:
    """Seconds per phase (rows, in the order they started) and node (columns) of the lab's stages."""

    nodes: list[str]
    rows: list[tuple[str, str, dict[str, float]]]  # (stage, phase, seconds by node)
    totals: dict[str, float]  # by stage

    @property
    def longest(self) -> float:
        return max((s for _, _, by_node in self.rows for s in by_node.values()), default=0.0) or 1.0


def phases(meta: dict) -> Phases | None:
    """The bring-up's and teardown's timings, if the run has them."""
    stages = meta.get("phases") or {}
    if not any(stages.values()):
        return None
    nodes = sorted({node for by_phase in stages.values() for by_node in by_phase.values() for node in by_node},
                   key=lambda n: (n != "lab", _natural(n)))
    rows = [(stage, phase, by_node) for stage, by_phase in stages.items() for phase, by_node in by_phase.items()]
    totals = {stage: meta[key] for stage, key in (("bring-up", "up_seconds"), ("teardown", "down_seconds"))
              if meta.get(key) is not None}
    return Phases(nodes, rows, totals)


def phase_table(timings: Phases) -> tuple[list[str], list[list[str]]]:
    """The timings as a table of text cells (seconds, blank where a node had no such phase)."""
    rows = []
    for i, (stage, phase, by_node) in enumerate(timings.rows):
        rows.append([stage, phase, *(f"{by_node[n]:.0f}" if n in by_node else "" for n in timings.nodes)])
        stage_ends = i + 1 == len(timings.rows) or timings.rows[i + 1][0] != stage
        if stage_ends and stage in timings.totals:
            rows.append([stage, "total", f"{timings.totals[stage]:.0f}", *[""] * (len(timings.nodes) - 1)])
    return ["Stage", "Phase", *timings.nodes], rows


def _failure_label(case: Case) -> str:
    return f"{case.name}: {case.outcome}" + (f": {case.message}" if case.message else "")


# -- Markdown --------------------------------------------------------------------------------
def _plain(text: str) -> str:
    """One line, with control characters (a terminal's escape sequences) shown, not sent."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", " ".join(str(text).split()))


def _cell(text: str) -> str:
    text = _plain(text).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")  # GitHub would take <other peers> for a tag


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def legend() -> str:
    return "Legend: " + " · ".join(f"{SYMBOLS[v]} {v} ({MEANINGS[v]})" for v in VERDICTS)


def _notes_md(row: ClaimRow, meta: dict) -> str:
    notes = [f"found: {f}" for f in row.findings] + [f"skipped: {r}" for r in row.reasons]
    for case in row.failures[:_MAX_FAILURES]:
        link = _diag_link(meta, case)
        notes.append(_failure_label(case) + (f" ([diagnostics]({link}))" if link else ""))
    if len(row.failures) > _MAX_FAILURES:
        notes.append(f"+{len(row.failures) - _MAX_FAILURES} more failures")
    return "; ".join(notes)


def to_markdown(run: dict) -> str:
    meta = run.get("metadata", {})
    lines = [f"# Article claims: profile `{_plain(profile_name(run))}`, provider {_plain(_provider(meta))}", "",
             _plain(_summary(meta)), ""]
    stack = components(meta)
    if stack:
        lines += _table(["Component", "Version", "Status"],
                        [[c["name"], c["version"], c["status"] + (f", {c['caveat']}" if c["caveat"] else "")
                          + (f": {c['reason']}" if c["reason"] else "")] for c in stack]) + [""]
    rows = [[r.claim.id, r.claim.section, r.claim.text, f"{SYMBOLS[r.verdict]} {r.verdict}",
             " ".join(f"{s.label} {SYMBOLS[s.verdict]}" for s in r.subjects), _notes_md(r, meta)]
            for r in claim_rows(run)]
    lines += _table(["ID", "Section", "Claim", "Verdict", "Results", "Notes"], rows)
    lines += ["", legend(), ""]
    timings = phases(meta)
    if timings:
        lines += ["## The lab's bring-up and teardown, seconds per phase and node", "",
                  *_table(*phase_table(timings)), ""]
    return "\n".join(lines)


# -- HTML ------------------------------------------------------------------------------------
_HTML = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def to_html(run: dict) -> str:
    meta = run.get("metadata", {})
    rows = claim_rows(run)
    return _HTML.get_template("claims.html.j2").render(
        profile=profile_name(run), provider=_provider(meta), summary=_summary(meta), components=components(meta),
        rows=rows, grids=[r for r in rows if r.grid], symbols=SYMBOLS, meanings=MEANINGS, verdicts=VERDICTS,
        phases=phases(meta),
        diag_link=lambda case: _diag_link(meta, case), failure_label=_failure_label, max_failures=_MAX_FAILURES,
    )


# -- files -----------------------------------------------------------------------------------
class ReportError(InputError):
    """A claims.json that cannot be read as one; the message names the file, the key path and the problem."""


def load(path: Path | str) -> dict:
    path = Path(path)
    run = load_json(path, "the claims report", ReportError)
    check(run, path)
    return run


_CASE_TEXT = ("subject", "reason", "message", "diagnostics", "finding")
_META_TEXT = ("profile", "provider", "libvirt_driver", "started", "finished", "diagnostics_dir", "nomad_endpoint",
              "created_by", "lab_source")
_STACK_TEXT = ("name", "version", "status", "reason", "trust")
_META_SECONDS = ("up_seconds", "down_seconds")
# A claim's ID: its section's letter and a number (lab/claims.py). A report may name claims this
# version does not know (one from a newer version): they are shown, marked as such.
CLAIM_ID = re.compile(r"[A-Z][0-9]{1,3}")
_PLAIN_KEY = re.compile(r"[\w .-]{1,40}")


def _key(name: str) -> str:
    """A key of the input in a key path: as it is when plain, else quoted and cut."""
    return name if _PLAIN_KEY.fullmatch(name) else quoted(name)


def _seconds(f: Fields, value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        f.fail(where, f"must be a number of seconds, got {kind(value)}")


def _texts(f: Fields, mapping: dict, where: str, keys: Iterable[str], nullable: bool = False) -> None:
    for key in keys:
        if key in mapping and not isinstance(mapping[key], str) and not (nullable and mapping[key] is None):
            f.fail(f"{where}.{key}", f"must be a string, got {kind(mapping[key])}")


def _check_result(f: Fields, result: object, where: str) -> None:
    f.mapping(result, where, required=("nodeid", "outcome"))
    f.text(result["nodeid"], f"{where}.nodeid")
    f.one_of(result["outcome"], f"{where}.outcome", OUTCOMES)
    # The plugin always writes the key (null for a test of no claim): a result without one was not
    # written by it, and guessing its claim from the test's name could credit the wrong claim.
    if "claim" not in result:
        f.fail(f"{where}.claim", "is required (the claim's ID, or null for a test of no claim)")
    if result["claim"] is not None:
        f.text(result["claim"], f"{where}.claim", CLAIM_ID, "a claim ID (a letter and a number, like W3)")
    _texts(f, result, where, _CASE_TEXT)
    if "duration" in result:
        _seconds(f, result["duration"], f"{where}.duration")


def _check_metadata(f: Fields, meta: dict) -> None:
    """Every metadata field that to_markdown, to_html and merge read has the type they use."""
    _texts(f, meta, "metadata", _META_TEXT, nullable=True)  # the lab's state has no libvirt_driver on VirtualBox
    for name, version in f.mapping(meta.get("versions", {}), "metadata.versions").items():
        if not isinstance(version, str):
            f.fail(f"metadata.versions.{_key(name)}", f"must be a version string, got {kind(version)}")
    for name, entry in f.mapping(meta.get("stack", {}), "metadata.stack").items():
        entry = f.mapping(entry, f"metadata.stack.{_key(name)}")
        _texts(f, entry, f"metadata.stack.{_key(name)}", _STACK_TEXT)
        installed = entry.get("installed", [])
        if not isinstance(installed, list) or not all(isinstance(v, str) for v in installed):
            f.fail(f"metadata.stack.{_key(name)}.installed", f"must be a list of versions, got {kind(installed)}")
    for name, count in f.mapping(meta.get("counts", {}), "metadata.counts").items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            f.fail(f"metadata.counts.{_key(name)}", f"must be a number of tests, got {kind(count)}")
    status = meta.get("exit_status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        f.fail("metadata.exit_status", f"must be pytest's exit status (a number), got {kind(status)}")
    nodes = meta.get("nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(n, str) and n for n in nodes):
        f.fail("metadata.nodes", f"must be a list of node names, got {kind(nodes)}")
    for key in _META_SECONDS:
        if meta.get(key) is not None:
            _seconds(f, meta[key], f"metadata.{key}")
    for stage, by_phase in f.mapping(meta.get("phases") or {}, "metadata.phases").items():
        stage = f"metadata.phases.{_key(stage)}"
        for phase, by_node in f.mapping(by_phase, stage).items():
            phase = f"{stage}.{_key(phase)}"
            for node, seconds in f.mapping(by_node, phase).items():
                _seconds(f, seconds, f"{phase}.{_key(node)}")


def check(run: object, path: Path) -> None:
    """Refuse what the report would misread: every key path the renderers use has the type they expect."""
    f = Fields(path, ReportError)
    f.mapping(run, TOP)
    if "schema" in run and run["schema"] != SCHEMA:  # another layout would be misread field by field
        f.fail("schema", f"must be {SCHEMA} (the layout this version writes and reads), got {kind(run.get('schema'))}")
    if not isinstance(run.get("results"), list):
        f.fail("results", "must be a list of test results: not a claims report")
    for i, result in enumerate(run["results"]):
        _check_result(f, result, f"results[{i}]")
    _check_metadata(f, f.mapping(run.get("metadata", {}), "metadata"))


def unknown_claims(run: dict) -> dict[str, str]:
    """The claims a (checked) run names that lab/claims.py does not, each with where it first appears."""
    unknown: dict[str, str] = {}
    for i, result in enumerate(run["results"]):
        if result["claim"] is not None and result["claim"] not in CLAIMS:
            unknown.setdefault(result["claim"], f"results[{i}].claim")
    return unknown


RENDERED = ("md", "html")  # what --from writes from a claims.json


def write(run: dict, directory: Path | str, formats: Iterable[str] = ("json", *RENDERED)) -> dict[str, Path]:
    """Write claims.<format> for each format into directory; returns the paths by format."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    render = {"json": lambda r: json.dumps(r, indent=2, ensure_ascii=False) + "\n", "md": to_markdown, "html": to_html}
    paths = {}
    for fmt in formats:
        paths[fmt] = directory / f"claims.{fmt}"
        paths[fmt].write_text(render[fmt](run), encoding="utf-8")
    return paths


# -- across profiles -------------------------------------------------------------------------
def merge(paths: Iterable[Path | str]) -> str:
    """One Markdown table, claims x profiles (one claims.json per profile), with a legend."""
    return merge_runs([(Path(p), load(p)) for p in paths])


def merge_runs(runs: list[tuple[Path, dict]]) -> str:
    """merge, of runs already loaded (each with the file it came from). Each column is a profile's:
    a report that does not name its profile is named by its folder (reports/<profile>/claims.json),
    and refused elsewhere: a column named after any file would pass for a profile."""
    names = []
    for i, (path, run) in enumerate(runs):
        earlier = next((other for other, _ in runs[:i] if _same_file(other, path)), None)
        if earlier is not None:
            raise ReportError(f"{path}: given twice to --merge (as {earlier}): each report is one column")
        in_a_profile_folder = path.name == "claims.json" and path.parent.name
        if not run.get("metadata", {}).get("profile") and not in_a_profile_folder:
            raise ReportError(f"{path}: metadata.profile: is required to merge a report not named "
                              "<profile>/claims.json (each column is a profile's)")
        name = profile_name(run, path.parent.name)
        names.append(name if name not in names else f"{name} ({path})")
    lines = ["# Article claims across version profiles", ""]
    info = [["provider"] + [_provider(r.get("metadata", {})) for _, r in runs],
            ["run"] + [r.get("metadata", {}).get("finished", "?") for _, r in runs]]
    stacks = [{c["name"]: c for c in components(r.get("metadata", {}))} for _, r in runs]
    for comp in [n for n in COMPONENTS if any(n in s for s in stacks)]:
        info.append([comp] + [_component_cell(s[comp]) if comp in s else "?" for s in stacks])
    lines += _table([""] + names, info) + [""]
    per_run = [{row.claim.id: row for row in claim_rows(r)} for _, r in runs]
    ids = list(dict.fromkeys(cid for rows in per_run for cid in rows))
    table = []
    for cid in ids:
        first = next(rows[cid] for rows in per_run if cid in rows)
        cells = [f"{SYMBOLS[rows[cid].verdict]} {rows[cid].verdict}" if cid in rows else "· not run"
                 for rows in per_run]
        table.append([cid, first.claim.section, first.claim.text] + cells)
    lines += _table(["ID", "Section", "Claim"] + names, table) + ["", legend(), ""]
    notes = []
    for name, rows in zip(names, per_run):
        for row in rows.values():
            detail = "; ".join(row.reasons + [_failure_label(c) for c in row.failures[:1]])
            if detail and row.verdict != "passed":
                notes.append(f"- **{_cell(name)}** {row.claim.id} ({row.verdict}): {_cell(detail)}")
    if notes:
        lines += ["## Why not passed", ""] + notes + [""]
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------
def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)  # a hard link
    except OSError:  # one of them is not there (yet)
        return False


def refuse_overwriting(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """A report is never written over a report it is made from: that file would be its only copy."""
    inputs = list(inputs)
    for output in outputs:
        for source in inputs:
            if _same_file(output, source):
                raise ReportError(f"{output}: the output is the input {source}: writing it would destroy "
                                  "the report; choose another -o")


def _warn_unknown_claims(path: Path, run: dict) -> None:
    for claim_id, where in unknown_claims(run).items():
        print(f"warning: {path}: {where}: {claim_id} is not a claim of this version's lab/claims.py "
              "(a report from another version?): shown as it is", file=sys.stderr)


def _load_all(paths: Iterable[Path]) -> list[tuple[Path, dict]]:
    runs = [(path, load(path)) for path in paths]
    for path, run in runs:
        _warn_unknown_claims(path, run)
    return runs


def cli(argv: list[str]) -> int:
    """python -m lab report --merge A.json B.json [-o out.md] | --from reports/claims.json [-o DIR]"""
    argv = list(argv)
    if argv[:1] == ["report"]:
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="python -m lab report", description="render or merge claims reports")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--merge", nargs="+", type=Path, metavar="CLAIMS_JSON",
                        help="one claims.json per profile: print a claims x profiles table")
    source.add_argument("--from", dest="source", type=Path, metavar="CLAIMS_JSON",
                        help="re-render claims.md and claims.html from a claims.json")
    parser.add_argument("-o", "--output", type=Path,
                        help="--merge: the Markdown file (default stdout); --from: the directory (default the JSON's)")
    args = parser.parse_args(argv)
    try:
        if args.merge:
            if args.output:
                refuse_overwriting([args.output], args.merge)
            text = merge_runs(_load_all(args.merge))
            if args.output:
                args.output.write_text(text, encoding="utf-8")
                print(f"wrote {args.output}")
            else:
                sys.stdout.write(text)
        else:
            directory = args.output or args.source.parent
            refuse_overwriting([directory / f"claims.{fmt}" for fmt in RENDERED], [args.source])
            (_, run), = _load_all([args.source])
            paths = write(run, directory, formats=RENDERED)
            print("wrote " + ", ".join(str(p) for p in paths.values()))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the output: a folder where a file belongs, a file where a folder does
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    return 0


main_report = cli
