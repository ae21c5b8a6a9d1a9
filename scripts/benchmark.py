#!/usr/bin/env python3
"""Print the lab's speed and weight figures from one run (not a test: figures, never a pass/fail).

Figures (choose with --figures; all but `full` by default, in this order, sharing one lab where they can):
  full      the whole suite as a user types it, `pytest -n 3` from no lab to none (bring-up, every test,
            and the teardown of the default --lab-destroy=passing), with its slowest steps; against the
            real Weave Net and Nomad: LAB_CACHE_DIR=<their cache> ... --profile debian-article --figures full
  pytest    the lab tests from nothing (bring-up included, and its phases) vs the same tests again on the lab
            that is up (--lab-reuse) and on its restored snapshot (--lab-reuse=fresh), and `pytest -n 3` vs
            `-n 1` on that running lab
  weave     one `weave status` through the CLI (a weaveexec container) vs the router's endpoint
  load      each guest's CPU, load average, memory and busiest processes with the stack up and idle
  latency   `true` through the lab's persistent SSH connection vs `vagrant ssh -c true`
  bringup   `vagrant up` of the three VMs in parallel (and per phase and node, as the lab's progress
            timed it) vs a restore of its provisioned snapshot, and vs one after another (provisioning
            included; --parallel-only skips the latter)

Needs a host where no lab is up; leaves none behind (with --lab-reuse it measures the lab that is
up instead, weave/load/latency only, and leaves it up). As root:
    .venv/bin/python scripts/benchmark.py --profile debian [--figures weave,load] [--tests tests/...]
Weave figures need Weave Net in the profile's artifact cache (LAB_CACHE_DIR); without it they
print why they were skipped.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lab import report
from lab.lifecycle import Lab
from lab.parallel import on_each
from lab.settings import Settings
from lab.stack.weave import Weave

FIGURES = ("full", "pytest", "weave", "load", "latency", "bringup")
DEFAULT_FIGURES = FIGURES[1:]  # `full` is a long run of its own
ROOT = Path(__file__).resolve().parents[1]


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def median_ms(action: Callable[[], object], times: int) -> float:
    return statistics.median(timed(action) for _ in range(times)) * 1000


def say(message: str) -> None:
    print(message, flush=True)


class Benchmark:
    def __init__(self, args):
        self.args = args
        self.settings = Settings(destroy="always", profile=args.profile)
        self.lab = Lab(self.settings, say=lambda m: say(f"   {m}"))
        self.lines: list[str] = []

    def figure(self, label: str, value: str) -> None:
        self.lines.append(f"{label:42} {value}")

    def ratio(self, label: str, slow: float, fast: float) -> None:
        self.figure(label, f"{slow / fast:6.2f}x" if fast else "n/a")

    def pytest(self, *options: str) -> float:
        with tempfile.TemporaryDirectory(prefix="nwl-bench-") as reports:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--lab-profile",
                       self.settings.profile, "--lab-report-dir", reports, *options, *self.args.tests]
            say(f"== {' '.join(command[3:])}")
            start = time.monotonic()
            result = subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True)
            took = time.monotonic() - start
        self.last_output = result.stdout
        summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
        say(f"   {took:.0f} s: {summary}")
        if result.returncode not in (0, 1):
            raise RuntimeError(f"pytest exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return took

    def phase_lines(self, title: str) -> None:
        """The lab's bring-up per phase and node, as its progress timed it."""
        header, rows = report.phase_table(report.phases({"phases": self.lab.state().phases}))
        self.lines.append(title)
        for row in [header[1:], *(r[1:] for r in rows)]:
            self.lines.append("    " + row[0].ljust(24) + "".join(cell.rjust(7) for cell in row[1:]))

    # -- figures on one lab ------------------------------------------------------------------
    def full_figures(self) -> None:
        took = self.pytest("-n", "3", f"--durations={self.args.slowest}")
        self.figure("pytest -n 3, whole run (no lab to no lab)", f"{took:7.0f} s = {took / 60:.1f} min")
        self.lines.append(f"  its {self.args.slowest} slowest steps, seconds:")
        self.lines.extend(f"    {line}" for line in slowest_steps(self.last_output))

    def pytest_figures(self) -> None:
        cold = self.pytest("-n", "3", "--lab-destroy=never")
        reused = self.pytest("-n", "3", "--lab-reuse")
        fresh = self.pytest("-n", "3", "--lab-reuse=fresh")
        one_worker = self.pytest("-n", "1", "--lab-reuse")
        self.figure("pytest -n 3 from nothing (bring-up incl.)", f"{cold:7.0f} s")
        self.phase_lines("  its bring-up per phase, seconds:")
        self.figure("pytest -n 3 again on the running lab", f"{reused:7.0f} s")
        self.ratio("  cold / rerun with --lab-reuse", cold, reused)
        self.figure("pytest -n 3 on the restored snapshot", f"{fresh:7.0f} s")
        self.ratio("  cold / rerun with --lab-reuse=fresh", cold, fresh)
        self.figure("pytest -n 1 on the running lab", f"{one_worker:7.0f} s")
        self.ratio("  -n 1 / -n 3", one_worker, reused)

    def ensure_up(self) -> None:
        if self.lab.state() is None:
            say("== bringing the lab up")
            self.lab.up(created_by="benchmark")

    def ensure_weave(self, nodes) -> Weave | None:
        """The overlay launched on every node, when the profile's weave is installed (the stack is whole)."""
        if self.lab.state().stack.get("weave", {}).get("status") != "ready":
            return None
        weave = Weave(self.lab.profile.components["weave"].env)
        if not all(weave.is_running(n) for n in nodes):
            say("== weave launch on every node")
            weave.launch_mesh(nodes)
        return weave

    def weave_figures(self) -> None:
        state = self.lab.state()
        if state.stack.get("weave", {}).get("status") != "ready":
            self.figure("weave status (CLI vs endpoint)", f"skipped: {state.stack.get('weave', {}).get('reason')}")
            return
        nodes = list(self.lab.nodes(state).values())
        weave = self.ensure_weave(nodes)
        try:
            node = nodes[0]
            cli = median_ms(lambda: weave.cli(node, "status"), self.args.weave_queries)
            endpoint = median_ms(lambda: weave.report(node), self.args.weave_queries * 5)
        finally:
            for n in nodes:
                n.close()
        self.figure("weave status through the CLI", f"{cli:7.0f} ms median of {self.args.weave_queries}")
        self.figure("weave status from the router's endpoint", f"{endpoint:7.0f} ms median of "
                    f"{self.args.weave_queries * 5}")
        self.ratio("  CLI / endpoint", cli, endpoint)

    def load_figures(self) -> None:
        """Each guest measures itself over --settle seconds (vmstat's second line is that interval's average)."""
        state = self.lab.state()
        nodes = list(self.lab.nodes(state).values())
        self.ensure_weave(nodes)

        def measure(node) -> dict[str, str]:
            vmstat = node.run(f"vmstat {self.args.settle} 2 | tail -n 1", timeout=self.args.settle + 120).stdout
            # ps's %CPU is over each process's lifetime: leave out the measuring commands themselves
            busiest = [p for p in node.run("ps -eo pcpu=,rss=,comm= --sort=-pcpu | head -n 12").stdout.splitlines()
                       if p.split()[-1:] not in (["ps"], ["sudo"], ["sh"], ["head"], ["vmstat"])][:4]
            columns = vmstat.split()  # r b swpd free buff cache si so bi bo in cs us sy id wa st
            return {"load": " / ".join(node.run("cut -d' ' -f1-3 /proc/loadavg").stdout.split()),
                    "cpu": f"{100 - int(columns[14])}% busy ({columns[12]}% user, {columns[13]}% system)",
                    "memory": node.run("free -m | awk '/^Mem:/ {print $3\" of \"$2\" MiB used\"}'").stdout.strip(),
                    "busiest": ", ".join(f"{p.split()[2]} {p.split()[0]}% {int(p.split()[1]) // 1024} MiB"
                                         for p in busiest if len(p.split()) >= 3)}

        say(f"== each guest measures its idle load over {self.args.settle} s")
        try:
            figures = on_each(nodes, measure, "measuring the idle load")
        finally:
            for node in nodes:
                node.close()
        for name, found in figures.items():
            self.figure(f"{name}: CPU over {self.args.settle} s idle", found["cpu"])
            self.figure(f"{name}: load 1/5/15 min, memory", f"{found['load']}; {found['memory']}")
            self.figure(f"{name}: busiest processes", found["busiest"])
        components = ", ".join(f"{n} {c['version']}" for n, c in state.stack.items() if c["status"] == "ready")
        self.figure("  (stack up, nothing running on it)", components)

    def latency_figures(self) -> None:
        name = self.lab.topology.node_names[0]
        node = self.lab.nodes()[name]
        try:
            node.run("true", sudo=False)  # connect once; the connection then persists
            persistent = median_ms(lambda: node.run("true", sudo=False), self.args.commands)
        finally:
            node.close()
        vagrant_ssh = median_ms(lambda: subprocess.run(
            ["vagrant", "ssh", name, "-c", "true"], cwd=self.settings.root, env=self.lab.vagrant.env,
            check=True, capture_output=True), self.args.vagrant_ssh)
        self.figure("command, persistent SSH", f"{persistent:7.1f} ms median of {self.args.commands}")
        self.figure("command, vagrant ssh -c", f"{vagrant_ssh:7.1f} ms median of {self.args.vagrant_ssh}")
        self.ratio("  vagrant ssh / persistent", vagrant_ssh, persistent)

    def bringup_figures(self) -> None:
        if self.lab.state() is not None:
            self.lab.down()
        names = self.lab.topology.node_names
        say("== warming the box volume (not timed)")
        self.lab.prepare()
        self.lab.vagrant.up(machines=[names[0]])
        self.lab.vagrant.destroy()
        self.lab.vagrant.forget_machines()
        say("== parallel bring-up of all nodes")
        parallel = timed(lambda: self.lab.up(created_by="benchmark"))
        self.figure("bring-up, parallel", f"{parallel:7.0f} s")
        self.phase_lines("  per phase, seconds:")
        restore = timed(self.lab.restore)
        self.figure("restore of the provisioned snapshot", f"{restore:7.0f} s")
        self.ratio("  cold bring-up / snapshot restore", parallel, restore)
        if self.args.parallel_only:
            return
        self.lab.down(stop_daemons=False)
        say("== one node after another")
        sequential = timed(lambda: self.lab.up(created_by="benchmark", one_by_one=True))
        self.figure("bring-up, one after another", f"{sequential:7.0f} s")
        self.ratio("  sequential / parallel", sequential, parallel)

    def run(self) -> int:
        if self.args.lab_reuse:
            return self.run_on_the_lab_that_is_up()
        if self.lab.state() is not None:
            print("a lab is up; run `python -m lab down` first, or measure it with --lab-reuse", file=sys.stderr)
            return 1
        steps = {"full": self.full_figures, "pytest": self.pytest_figures, "weave": self.weave_figures,
                 "load": self.load_figures, "latency": self.latency_figures, "bringup": self.bringup_figures}
        try:
            for figure in self.args.figures:
                if figure not in ("full", "pytest", "bringup"):
                    self.ensure_up()
                steps[figure]()
        finally:
            if self.lab.state() is not None:
                self.lab.down()
        self.print_figures()
        return 0

    def run_on_the_lab_that_is_up(self) -> int:
        """Only the figures that read a running lab (weave, load, latency); the lab stays up."""
        if self.lab.state() is None:
            print("--lab-reuse: no lab is up (python -m lab up)", file=sys.stderr)
            return 1
        for figure in self.args.figures:
            {"weave": self.weave_figures, "load": self.load_figures, "latency": self.latency_figures}[figure]()
        self.print_figures()
        return 0

    def print_figures(self) -> None:
        topo = self.lab.topology
        print()
        print(f"provider {self.settings.provider}, profile {self.settings.profile}, {len(topo.nodes)} nodes, "
              f"{topo.cpus} vCPU / {topo.memory_mb} MiB each")
        print("\n".join(self.lines))


def slowest_steps(output: str) -> list[str]:
    """The lines of pytest's "slowest N durations" section ("446.15s setup tests/...")."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if " slowest " in line and "durations" in line), None)
    if start is None:
        return ["(pytest printed no durations)"]
    section = []
    for line in lines[start + 1:]:
        if line.startswith("=") or not line.strip():
            break
        section.append(line)
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="debian", help="version profile (default debian)")
    parser.add_argument("--figures", type=lambda s: [f for f in s.split(",") if f], default=list(DEFAULT_FIGURES),
                        help=f"comma-separated, in order: {','.join(FIGURES)} (default all but full)")
    parser.add_argument("--slowest", type=int, default=20, help="full: how many of the slowest steps (default 20)")
    parser.add_argument("--tests", nargs="*", default=["tests/connectivity", "tests/isolation"],
                        help="the lab tests the pytest figures run (default tests/connectivity tests/isolation)")
    parser.add_argument("--commands", type=int, default=30, help="commands per latency sample (default 30)")
    parser.add_argument("--vagrant-ssh", type=int, default=5, help="vagrant ssh -c calls (default 5)")
    parser.add_argument("--weave-queries", type=int, default=5, help="weave status CLI calls (default 5)")
    parser.add_argument("--settle", type=int, default=120, help="idle seconds before reading the load (default 120)")
    parser.add_argument("--parallel-only", action="store_true", help="bringup: skip the one-after-another bring-up")
    parser.add_argument("--lab-reuse", action="store_true",
                        help="measure the lab that is up and leave it up (weave, load, latency figures only)")
    args = parser.parse_args()
    if args.lab_reuse and {"full", "pytest", "bringup"} & set(args.figures):
        if "--figures" in sys.argv:
            parser.error("--lab-reuse measures a running lab: figures weave, load, latency only")
        args.figures = ["weave", "load", "latency"]
    unknown = [f for f in args.figures if f not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}: choose from {', '.join(FIGURES)}")
    return Benchmark(args).run()


if __name__ == "__main__":
    sys.exit(main())
