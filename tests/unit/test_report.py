"""The claims report: the plugin collects the same results with and without xdist, verdicts,
the HTML reachability grid, the merge of several profiles, and the command line."""
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab import report

pytest_plugins = ["pytester"]

SAMPLES = Path(__file__).with_name("report_samples")

FAKE_CONFTEST = """
import pytest
from lab.pytest_report import remember_lab

NODES = ["u1", "u2", "u3"]

def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id): the article claim a test checks")

def pytest_generate_tests(metafunc):
    if "node" in metafunc.fixturenames:
        metafunc.parametrize("node", NODES, ids=NODES, indirect=True)
    if "pair" in metafunc.fixturenames:
        pairs = [(a, b) for a in NODES for b in NODES if a != b]
        metafunc.parametrize("pair", pairs, ids=[f"{a}_to_{b}" for a, b in pairs], indirect=True)

@pytest.fixture(scope="session")
def lab(request):
    remember_lab(request.config, {
        "provider": "libvirt", "profile": "current", "libvirt_driver": "kvm",
        "versions": {"docker": "20.10", "weave": "2.8.1", "consul": "1.20.1", "nomad": "1.9.3"},
        "stack": {"weave": {"name": "weave", "version": "2.8.1", "status": "refused",
                            "reason": "sha256 mismatch"},
                  "docker": {"name": "docker", "version": "20.10", "status": "ready", "reason": ""}},
        "endpoints": {"u1": {"identity_file": "/secret/key"}},
    })
    return "lab"

@pytest.fixture
def node(request, lab):
    return request.param

@pytest.fixture
def pair(request, lab):
    return request.param

@pytest.fixture
def weave(lab):
    pytest.skip("weave 2.8.1 refused: sha256 mismatch")

@pytest.fixture
def broken():
    raise RuntimeError("consul did not start")

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # What lab.pytest_plugin does for a failed lab test: diagnostics next to the report.
    report = yield
    if report.failed and report.when == "call":
        report.user_properties.append(("diagnostics", f"out/diagnostics/{item.name}"))
    return report
"""

FAKE_TESTS = """
import pytest

@pytest.mark.claim("L1")
def test_L1_named(node):
    pass

@pytest.mark.claim("L1")
def test_L1_reach(pair):
    pass

@pytest.mark.claim("W3")
def test_W3_containers_ping(pair):
    assert pair != ("u2", "u3"), "u2 -> u3: 0 of 3 received"

@pytest.mark.claim("W1")
def test_W1_mesh(node, weave):
    pass

@pytest.mark.claim("N1")
def test_N1_leader(node):
    if node == "u3":
        pytest.skip("nomad not on u3")

@pytest.mark.claim("C1")
def test_C1_one_leader(broken):
    pass

@pytest.mark.claim("C2")
def test_C2_resolves():
    pass

@pytest.mark.claim("I5")
@pytest.mark.parametrize("source, target", [("a1", "a2"), ("a1", "b1")], ids=["a1_to_a2", "a1_to_b1"])
def test_I5_isolation(source, target):
    pass

@pytest.mark.claim("I4")
@pytest.mark.parametrize("label", ["b1", "b2"])
def test_I4_proxy(label):
    pass

def test_without_claim():
    pass
"""

EXPECTED_VERDICTS = {"L1": "passed", "W3": "failed", "W1": "skipped", "N1": "partial", "C1": "failed",
                     "C2": "passed", "I4": "passed", "I5": "passed", "W2": "not run"}


def _run_fake_suite(pytester, *args):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makepyfile(test_fake=FAKE_TESTS)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess("-p", "lab.pytest_report", "-p", "no:cacheprovider",
                                           "--lab-report-dir", str(out), *args)
    return result, out


def _stable(run):
    return [{k: v for k, v in r.items() if k != "duration"} for r in run["results"]]


@pytest.fixture
def serial_run(pytester):
    result, out = _run_fake_suite(pytester)
    result.assert_outcomes(passed=22, failed=1, skipped=4, errors=1)
    return out


def test_same_claims_json_with_and_without_xdist(pytester):
    serial, out = _run_fake_suite(pytester)
    serial.assert_outcomes(passed=22, failed=1, skipped=4, errors=1)
    first = json.loads((out / "claims.json").read_text())
    (out / "claims.json").unlink()
    parallel, _ = _run_fake_suite(pytester, "-n", "2")
    parallel.assert_outcomes(passed=22, failed=1, skipped=4, errors=1)
    second = json.loads((out / "claims.json").read_text())
    assert _stable(first) == _stable(second)
    assert first["metadata"]["counts"] == second["metadata"]["counts"]
    for run in (first, second):
        assert run["metadata"]["profile"] == "current"  # from remember_lab, also on an xdist worker
        assert run["metadata"]["exit_status"] == 1


def test_results_carry_claim_subject_outcome_and_reason(serial_run):
    run = report.load(serial_run / "claims.json")
    by_id = {r["nodeid"].split("::")[1]: r for r in run["results"]}
    assert by_id["test_L1_reach[u1_to_u2]"] | {"duration": 0} == {
        "nodeid": "test_fake.py::test_L1_reach[u1_to_u2]", "claim": "L1", "subject": "u1_to_u2",
        "outcome": "passed", "reason": "", "message": "", "duration": 0}
    assert by_id["test_W1_mesh[u2]"]["outcome"] == "skipped"
    assert by_id["test_W1_mesh[u2]"]["reason"] == "weave 2.8.1 refused: sha256 mismatch"
    failed = by_id["test_W3_containers_ping[u2_to_u3]"]
    assert failed["outcome"] == "failed" and "u2 -> u3: 0 of 3 received" in failed["message"]
    assert failed["diagnostics"] == "diagnostics/test_W3_containers_ping[u2_to_u3]"  # relative to the report
    error = by_id["test_C1_one_leader"]
    assert error["outcome"] == "error" and "consul did not start" in error["message"]
    assert by_id["test_C2_resolves"]["subject"] == ""
    assert by_id["test_without_claim"]["claim"] is None


def test_metadata_has_the_lab_but_not_its_endpoints(serial_run):
    meta = report.load(serial_run / "claims.json")["metadata"]
    assert meta["provider"] == "libvirt" and meta["libvirt_driver"] == "kvm"
    assert meta["stack"]["weave"]["status"] == "refused"
    assert "endpoints" not in meta and "/secret/key" not in (serial_run / "claims.json").read_text()
    assert meta["counts"] == {"passed": 22, "failed": 1, "error": 1, "skipped": 4, "xfailed": 0, "total": 28,
                              "collection_errors": 0}
    assert meta["started"] <= meta["finished"]


def test_verdicts_of_the_fake_suite(serial_run):
    rows = {r.claim.id: r for r in report.claim_rows(report.load(serial_run / "claims.json"))}
    assert {cid: rows[cid].verdict for cid in EXPECTED_VERDICTS} == EXPECTED_VERDICTS
    assert rows["W1"].reasons == ["weave 2.8.1 refused: sha256 mismatch"]  # deduplicated over u1..u3
    assert [s.label for s in rows["L1"].subjects] == ["u1", "u2", "u3", "u1→u2", "u1→u3", "u2→u1", "u2→u3",
                                                      "u3→u1", "u3→u2"]
    assert list(rows) == list(report.CLAIMS)  # catalog order, every claim
    # Other parametrisations than node/pair: the case's id, a pair when shaped like one.
    assert [s.name for s in rows["I4"].subjects] == ["b1", "b2"]
    assert [s.name for s in rows["I5"].subjects] == ["a1_to_a2", "a1_to_b1"]
    assert rows["I5"].grid.axis == ["a1", "a2", "b1"]


def test_markdown_and_html_files_are_written(serial_run):
    md = (serial_run / "claims.md").read_text()
    assert "# Article claims: profile `current`, provider libvirt (kvm)" in md
    assert "| weave | 2.8.1 | refused: sha256 mismatch |" in md
    assert "| docker | 20.10 | installed |" in md
    assert "| consul | 1.20.1 | missing |" in md
    n1 = next(line for line in md.splitlines() if line.startswith("| N1 |"))
    assert "◐ partial" in n1 and "u1 ✓ u2 ✓ u3 ○" in n1 and "skipped: nomad not on u3" in n1
    assert next(line for line in md.splitlines() if line.startswith("| W2 |")).count("· not run") == 1
    html = (serial_run / "claims.html").read_text()
    assert html.startswith("<!doctype html>") and 'id="grid-W3"' in html
    assert '(<a href="diagnostics/test_W3_containers_ping[u2_to_u3]/">diagnostics</a>)' in html


def test_junit_xml_goes_to_the_report_dir_also_under_xdist(pytester):
    result, out = _run_fake_suite(pytester, "-n", "2")
    result.assert_outcomes(passed=22, failed=1, skipped=4, errors=1)
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) == 28
    case = next(c for c in suite.iter("testcase") if c.get("name") == "test_W3_containers_ping[u2_to_u3]")
    assert case.find("failure") is not None
    assert {p.get("name"): p.get("value") for p in case.iter("property")} == {"claim": "W3", "subject": "u2_to_u3"}


def test_an_explicit_junitxml_is_respected(pytester):
    result, out = _run_fake_suite(pytester, "--junitxml", "mine.xml", "-k", "C2")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "mine.xml").exists() and not (out / "junit.xml").exists()
    assert (out / "claims.json").exists()


def test_no_claims_report_when_no_claim_test_ran(pytester):
    result, out = _run_fake_suite(pytester, "-k", "without_claim")
    result.assert_outcomes(passed=1)
    assert not (out / "claims.json").exists()
    result.stdout.fnmatch_lines(["*claims report: not written (no lab run: no test of a claim ran)*"])


def test_lab_state_file_is_the_fallback_for_metadata(pytester, monkeypatch):
    """With the lab plugin loaded and no remember_lab call, .lab/state.json describes the lab."""
    root = pytester.path / "root"
    (root / ".lab").mkdir(parents=True)
    (root / ".lab" / "state.json").write_text(json.dumps({
        "provider": "libvirt", "profile": "article", "versions": {"weave": "2.5.1"}, "libvirt_driver": "qemu",
        "stack": {}, "ssh_config_path": "/secret/ssh_config", "endpoints": {}}))
    monkeypatch.setenv("LAB_ROOT", str(root))
    monkeypatch.setenv("LAB_TOPOLOGY", str(Path(report.__file__).with_name("topology.yaml")))
    pytester.makepyfile(test_one=textwrap.dedent("""
        import pytest

        @pytest.mark.claim("C2")
        def test_C2_resolves():
            pass
    """))
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess("-p", "lab.pytest_plugin", "-p", "lab.pytest_report", "-p",
                                           "no:cacheprovider", "--lab-report-dir", str(out), "--lab-profile",
                                           "article")
    result.assert_outcomes(passed=1)
    meta = report.load(out / "claims.json")["metadata"]
    assert (meta["profile"], meta["libvirt_driver"], meta["versions"]) == ("article", "qemu", {"weave": "2.5.1"})
    assert meta["nodes"] == ["u1", "u2", "u3"] and meta["lab_source"].endswith("state.json")
    assert "ssh_config_path" not in meta


# -- pure functions --------------------------------------------------------------------------
@pytest.mark.parametrize("outcomes, expected", [
    ([], "not run"),
    (["passed", "passed"], "passed"),
    (["passed", "failed", "skipped"], "failed"),
    (["skipped", "error"], "failed"),
    (["passed", "xfailed"], "failed"),
    (["skipped", "skipped"], "skipped"),
    (["passed", "skipped"], "partial"),
])
def test_verdict(outcomes, expected):
    assert report.verdict(outcomes) == expected


def _run(results, **meta):
    return {"schema": 1, "metadata": meta, "results": [
        dict({"reason": "", "message": "", "duration": 0.1}, **r) for r in results]}


def test_html_grid_colours_every_source_destination_cell():
    run = _run([
        {"nodeid": "t.py::test_W6_host_reaches[u1_to_u2]", "claim": "W6", "subject": "u1_to_u2", "outcome": "passed"},
        {"nodeid": "t.py::test_W6_host_reaches[u2_to_u1]", "claim": "W6", "subject": "u2_to_u1", "outcome": "failed",
         "message": "100% loss"},
        {"nodeid": "t.py::test_W6_host_reaches[u3_to_u1]", "claim": "W6", "subject": "u3_to_u1", "outcome": "skipped",
         "reason": "no weave"},
    ], nodes=["u1", "u2", "u3"], diagnostics_dir="diagnostics")
    grid = next(r for r in report.claim_rows(run) if r.claim.id == "W6").grid
    cells = {(src, dst): v for src, row in grid.rows() for dst, v, _ in row}
    assert cells == {("u1", "u1"): "self", ("u1", "u2"): "passed", ("u1", "u3"): "not run",
                     ("u2", "u1"): "failed", ("u2", "u2"): "self", ("u2", "u3"): "not run",
                     ("u3", "u1"): "skipped", ("u3", "u2"): "not run", ("u3", "u3"): "self"}
    html = report.to_html(run)
    w6 = html.split('<h3 id="grid-W6">', 1)[1].split("</table>", 1)[0]
    assert w6.count('<td class="self"') == 3 and w6.count('<td class="not-run"') == 3
    assert '<td class="failed" title="u2 → u1\ntest_W6_host_reaches[u2_to_u1]: failed (100% loss)">✗</td>' in html
    assert 'href="diagnostics/t.py_test_W6_host_reaches_u2_to_u1/"' in html


def test_reachability_claims_get_a_grid_even_when_not_run_and_html_is_escaped():
    run = _run([{"nodeid": "t.py::test_L3_docker[u1]", "claim": "L3", "subject": "u1", "outcome": "failed",
                 "message": "<script>alert(1)</script>"}], nodes=["u1", "u2"])
    rows = {r.claim.id: r for r in report.claim_rows(run)}
    assert rows["L3"].grid is None
    assert rows["I5"].grid.axis == ["u1", "u2"]
    html = report.to_html(run)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('<td class="not-run"') == 3 * 2  # W3, W6, I5: two off-diagonal cells each


def test_markdown_escapes_pipes_and_newlines():
    run = _run([{"nodeid": "t.py::test_C1_x", "claim": "C1", "outcome": "failed", "message": "a | b\nc"}])
    line = next(x for x in report.to_markdown(run).splitlines() if x.startswith("| C1 |"))
    assert "a \\| b c" in line and line.count(" | ") == 5


def test_merge_two_profiles():
    text = report.merge([SAMPLES / "article.json", SAMPLES / "current.json"])
    lines = text.splitlines()
    assert "| ID | Section | Claim | article | current |" in lines
    row = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    assert row["L1"].endswith("| ✓ passed | ✓ passed |")
    assert row["W3"].endswith("| ✓ passed | ✗ failed |")
    assert row["N1"].endswith("| ✓ passed | ○ skipped |")
    assert row["I5"].endswith("| · not run | · not run |")
    assert row["weave"] == "| weave | 2.5.1 installed | 2.8.1 installed |"
    assert row["nomad"] == "| nomad | 0.8.7 installed | 1.9.3 refused |"
    assert "Legend: ✓ passed" in text
    assert "- **current** N1 (skipped): nomad 1.9.3 refused: signature does not verify" in text


def test_merge_names_a_profile_by_its_folder_when_the_report_does_not(tmp_path):
    for profile in ("article", "current"):
        run = report.load(SAMPLES / f"{profile}.json")
        del run["metadata"]["profile"]
        report.write(run, tmp_path / profile, formats=("json",))
    text = report.merge([tmp_path / "article" / "claims.json", tmp_path / "current" / "claims.json"])
    assert "| ID | Section | Claim | article | current |" in text.splitlines()


def test_cli_merge_and_rerender(tmp_path, capsys):
    out = tmp_path / "merged.md"
    assert report.cli(["report", "--merge", str(SAMPLES / "article.json"), str(SAMPLES / "current.json"),
                       "-o", str(out)]) == 0
    assert out.read_text() == report.merge([SAMPLES / "article.json", SAMPLES / "current.json"])
    assert report.cli(["--from", str(SAMPLES / "current.json"), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "claims.md").read_text() == report.to_markdown(report.load(SAMPLES / "current.json"))
    assert (tmp_path / "claims.html").exists() and not (tmp_path / "claims.json").exists()
    assert report.cli(["--from", str(tmp_path / "missing.json")]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_workflows_merge_command_runs_as_written(tmp_path):
    """`python -m lab report --merge */claims.json -o summary.md`, as the nightly summary job runs it."""
    for name in ("article", "current"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "claims.json").write_bytes((SAMPLES / f"{name}.json").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "lab", "report", "--merge", "article/claims.json",
                           "current/claims.json", "-o", "summary.md"], cwd=tmp_path, capture_output=True,
                          text=True, check=False, env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "summary.md").read_text()
    assert "| ID | Section | Claim | article | current |" in table.splitlines()


def test_a_tests_diagnostics_folder_is_one_safe_path_component():
    nodeid = "tests/connectivity/test_section2_weave.py::test_W3_containers_ping_each_other_across_nodes[u1_to_u2]"
    assert report.diagnostics_name(nodeid) == (
        "tests_connectivity_test_section2_weave.py_test_W3_containers_ping_each_other_across_nodes_u1_to_u2")


# -- the lab's timings -------------------------------------------------------------------------
def test_markdown_has_the_bring_up_and_teardown_seconds_per_phase_and_node():
    md = report.to_markdown(report.load(SAMPLES / "current.json"))
    section = md.split("## The lab's bring-up and teardown, seconds per phase and node\n", 1)[1]
    lines = section.strip().splitlines()
    assert lines[0] == "| Stage | Phase | lab | u1 | u2 | u3 |"
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]): line for line in lines[2:]}
    assert rows["bring-up", "box"] == "| bring-up | box | 166 | 3 | 0 | 0 |"
    assert rows["bring-up", "provision images"] == "| bring-up | provision images |  | 8 | 7 | 8 |"
    assert rows["bring-up", "total"] == "| bring-up | total | 521 |  |  |  |"
    assert rows["teardown", "destroy"] == "| teardown | destroy |  | 5 | 4 | 4 |"
    order = [tuple(cell.strip() for cell in line.strip("|").split("|")[:2]) for line in lines[2:]]
    assert order[:3] == [("bring-up", "stack"), ("bring-up", "libvirt"), ("bring-up", "box")]
    assert order[order.index(("bring-up", "versions")) + 1] == ("bring-up", "total")  # each stage's total ends it
    assert order[-1] == ("teardown", "total")


def test_html_shows_the_timings_as_bars_relative_to_the_longest_phase():
    html = report.to_html(report.load(SAMPLES / "current.json"))
    table = html.split('<table class="phases">', 1)[1].split("</table>", 1)[0]
    assert '<span class="bar" style="width: 12.0em" title="lab box: 166.1s"></span>166' in table
    assert 'style="width: 0.48em" title="u2 provision images: 6.7s"' in table
    assert "<td>teardown</td><td>destroy</td>" in table and "<b>521</b>" in table


def test_a_run_without_timings_has_no_timings_section():
    run = report.load(SAMPLES / "article.json")
    assert "bring-up and teardown" not in report.to_markdown(run)
    assert 'class="phases"' not in report.to_html(run)
