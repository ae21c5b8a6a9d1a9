#!/usr/bin/env python3
"""Print the lab's speed figures from one run (not a test: figures, never a pass/fail).

1. Bring-up: `vagrant up` of the three VMs in parallel vs one VM after another (seconds, ratio),
   each from nothing to every node answering over SSH, provisioning included. The box volume is
   uploaded into libvirt's pool beforehand, so neither side pays for it.
2. The parallel bring-up per phase: seconds per node (box, boot, SSH, each provisioner, ...), as
   the lab's progress timed them.
3. Command latency: `true` through the lab's persistent SSH connection vs `vagrant ssh -c true`
   (median milliseconds, ratio).

Needs a host where no lab is up; leaves none behind.   sudo .venv/bin/python scripts/benchmark.py
(--parallel-only: figures 2 and 3 without the one-after-another bring-up, about half the time)
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from lab import report
from lab.lifecycle import Lab
from lab.settings import Settings


def timed(action) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=30, help="commands per latency sample (default 30)")
    parser.add_argument("--vagrant-ssh", type=int, default=5, help="vagrant ssh -c calls (default 5)")
    parser.add_argument("--parallel-only", action="store_true", help="skip the one-after-another bring-up")
    args = parser.parse_args()

    lab = Lab(Settings(destroy="always"), say=lambda m: print(m, flush=True))
    if lab.state() is not None:
        print("a lab is up; run `python -m lab down` first", file=sys.stderr)
        return 1
    names = lab.topology.node_names
    try:
        print("== preparing the host and warming the box volume (not timed)", flush=True)
        lab.prepare()
        lab.vagrant.up(machines=[names[0]])
        lab.vagrant.destroy()

        print("== parallel bring-up of all nodes", flush=True)
        parallel = timed(lambda: lab.up(created_by="benchmark"))
        phases = lab.state().phases
        sequential = None
        if not args.parallel_only:
            lab.vagrant.destroy()
            lab.vagrant.forget_machines()
            print("== one node after another", flush=True)
            sequential = timed(lambda: lab.up(created_by="benchmark", one_by_one=True))

        print("== command latency", flush=True)
        node = lab.nodes()[names[0]]
        node.run("true", sudo=False)  # connect once; the connection then persists
        persistent = []
        for _ in range(args.commands):
            start = time.monotonic()
            node.run("true", sudo=False)
            persistent.append(time.monotonic() - start)
        node.close()
        per_call = []
        for _ in range(args.vagrant_ssh):
            start = time.monotonic()
            subprocess.run(["vagrant", "ssh", names[0], "-c", "true"], cwd=lab.settings.root, env=lab.vagrant.env,
                           check=True, capture_output=True)
            per_call.append(time.monotonic() - start)
    finally:
        lab.down()

    persistent_ms = statistics.median(persistent) * 1000
    vagrant_ms = statistics.median(per_call) * 1000
    print()
    print(f"provider {lab.settings.provider}, {len(names)} nodes, "
          f"{lab.topology.cpus} vCPU / {lab.topology.memory_mb} MiB each")
    print(f"bring-up, parallel:            {parallel:7.1f} s")
    if sequential is not None:
        print(f"bring-up, one after another:   {sequential:7.1f} s")
        print(f"  sequential / parallel:       {sequential / parallel:7.2f}x")
    header, rows = report.phase_table(report.phases({"phases": phases}))
    print("parallel bring-up per phase, seconds:")
    for row in [header[1:], *(r[1:] for r in rows)]:
        print("  " + row[0].ljust(24) + "".join(cell.rjust(7) for cell in row[1:]))
    print(f"command, persistent SSH:       {persistent_ms:7.1f} ms median of {len(persistent)}")
    print(f"command, vagrant ssh -c:       {vagrant_ms:7.1f} ms median of {len(per_call)}")
    print(f"  vagrant ssh / persistent:    {vagrant_ms / persistent_ms:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
