#!/usr/bin/env python3
"""Turn the real outputs a lab run recorded (reports/real-outputs, lab.recorder) into parser samples.

    .venv/bin/python scripts/keep-real-outputs.py [reports/real-outputs]

Copies each recorded kind that has a parser into tests/unit/samples/<parser>/lab-<versions>-<kind>.txt
(unless a sample of that name exists) and prints the SOURCES.md rows to paste. Review what it
copied: a sample must be an output worth keeping (tests/unit/test_recorded_samples.py parses it).
"""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "unit" / "samples"
# recorded kind -> (sample folder, the component whose version names the sample)
FOLDER_OF = {
    "weave_status": ("weave_status", "weave"), "weave_status_connections": ("weave_connections", "weave"),
    "ping": ("ping", "box"), "ping_busybox": ("ping", "box"),
    "ip_addrs": ("ip_addrs", "box"), "ip_addrs_device": ("ip_addrs", "box"), "ip_addrs_busybox": ("ip_addrs", "box"),
    "routes": ("routes", "box"),
    "consul_raft_peers": ("raft_peers", "consul"), "nomad_raft_peers": ("raft_peers", "nomad"),
    "nomad_server_members": ("nomad_server_members", "nomad"), "nomad_job_status": ("nomad_job_status", "nomad"),
    "busybox_nslookup": ("busybox_nslookup", "box"), "http_response": ("http_response", "box"),
}


def main(source: Path) -> int:
    index = source / "index.jsonl"
    if not index.exists():
        print(f"no recorded outputs in {source}", file=sys.stderr)
        return 1
    for line in index.read_text().splitlines():
        entry = json.loads(line)
        if entry["kind"] not in FOLDER_OF:
            continue
        folder, component = FOLDER_OF[entry["kind"]]
        version = entry["versions"].get(component, "debian12")
        name = f"lab-{component}-{version}-{entry['kind'].replace('_', '-')}.txt"
        target = SAMPLES / folder / name
        if target.exists():
            continue
        shutil.copyfile(source / entry["kind"] / "output.txt", target)
        versions = ", ".join(f"{k} {v}" for k, v in sorted(entry["versions"].items()) if v)
        print(f"| `{folder}/{name}` | This lab, `{entry['command']}` on {entry['node']} ({entry['recorded']}) "
              f"| {versions} | no |")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports" / "real-outputs"))
