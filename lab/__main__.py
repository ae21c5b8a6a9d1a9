"""Command line: python -m lab {prepare,up,status,ssh,down,reap,check}."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lab import artifacts, host_fit, lifecycle, ownership, report, topology, trust
from lab.artifacts import ArtifactError
from lab.inputs import InputError, writable_folder
from lab.printable import printable
from lab.settings import NOMAD_ENDPOINTS, Settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "report":  # reports need no lab: python -m lab report --merge A.json B.json
        return report.cli(argv[1:])
    parser = build_parser()
    # Everything after `check` is pytest's, options included (argparse's REMAINDER drops those).
    pytest_args: list[str] = []
    if "check" in argv:
        at = argv.index("check")
        argv, pytest_args = argv[:at + 1], [a for a in argv[at + 1:] if a != "--"]
    args = parser.parse_args(argv)
    if args.command == "fetch" and args.accept_unpinned and args.from_dir is None:
        parser.error("fetch --accept-unpinned takes the files from a directory: add --from DIR")

    try:
        settings = Settings(provider=args.provider, topology_path=args.topology,
                            profile=args.profile or os.environ.get("LAB_PROFILE") or "current",
                            nomad_endpoint=args.nomad_endpoint)
        topo = topology.load(settings.topology_path)  # every command checks it first, also those not using it
        if args.command in ("fetch", "versions"):
            return {"fetch": _fetch, "versions": _versions}[args.command](settings, args)
        topo.require_provider(settings.provider)
        if args.command in ("prepare", "up", "provision", "restore", "check"):
            artifacts.profile(settings.profile)  # checked before the lab writes anything
        if args.command in ("prepare", "up", "check"):
            host_fit.check(topo, settings.provider)
        if args.command != "status":
            settings.writable_state_dir()
        if args.command == "check":
            return _check(settings, pytest_args)
        if args.command == "ssh":
            topo.node(args.node)
        if args.command == "status" and _status_of_another_checkout(settings, topo):
            return 0
        if args.command == "restore":
            lifecycle.restorable(settings)  # no lab up, a damaged state or snapshot: said before Vagrant is needed
        if args.command == "diagnostics":
            writable_folder(args.dest, "diagnostics DEST")
        lab = lifecycle.Lab(settings)
        return COMMANDS[args.command](lab, args)
    except (ValueError, ArtifactError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path given on the command line (a file where a folder belongs, ...)
        print(f"error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _global_options(parser: argparse.ArgumentParser, after_the_command: bool = False) -> None:
    """The options every command takes. They go before the command or after it (as the hints the
    lab prints write them): after it, their default is SUPPRESS, so a value given before the command
    is kept unless it is given again after."""
    def default(value):
        return argparse.SUPPRESS if after_the_command else value

    parser.add_argument("--provider", default=default("auto"), help="virtualbox, libvirt or auto (default)")
    parser.add_argument("--topology", type=Path, default=default(None),
                        help="topology file (default lab/topology.yaml)")
    parser.add_argument("--profile", default=default(None),
                        help="version profile from lab/versions.yaml (default: $LAB_PROFILE or current; "
                             "`versions` shows every profile unless one is named)")
    parser.add_argument("--nomad-endpoint", default=default("docker"), choices=NOMAD_ENDPOINTS,
                        help="where Nomad's docker driver connects (weave-proxy: the article's section 5.3)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="check inputs and prepare the host (daemons, networks, box); start no VM")
    sub.add_parser("up", help="bring the three VMs up in parallel, with per-node progress")
    sub.add_parser("restore", help="put the lab that is up back to its provisioned snapshot (before any of "
                                   "the article's steps), in seconds instead of a new bring-up")
    sub.add_parser("provision", help="stage the profile again and re-run the stack provisioners (idempotent)")
    sub.add_parser("status", help="state of every node; while another checkout's lab is up, whose it is")
    ssh = sub.add_parser("ssh", help="open a shell on a node")
    ssh.add_argument("node")
    export = sub.add_parser("diagnostics", help="every node's state and logs into a folder (like kind export logs)")
    export.add_argument("dest", type=Path, nargs="?", default=Path("reports/diagnostics/manual"))
    sub.add_parser("down", help="destroy the VMs and every lab resource; stop daemons the lab started")
    sub.add_parser("reap", help="remove what an interrupted run left (only the lab's own resources)")
    fetch = sub.add_parser("fetch", help="download and verify a profile's artifacts into the cache")
    fetch.add_argument("--component", action="append", choices=("docker", "weave", "consul", "nomad"),
                       help="only this component (repeatable)")
    fetch.add_argument("--from", dest="from_dir",
                       help="take the files from this directory (air-gapped pre-seeding) instead of downloading")
    fetch.add_argument("--accept-unpinned", action="store_true",
                       help="with --from: accept files nothing pins (a rebuild, a fork, a mirror's images) after "
                            "checking what they are; recorded as supplied by the operator, unpinned")
    sub.add_parser("versions", help="the profiles, their versions, and what the cache holds for each")
    sub.add_parser("check", help="bring the lab up, check the article's claims, tear it down "
                                 "(what follows `check` goes to pytest)")
    for command in sub.choices.values():
        _global_options(command, after_the_command=True)
    return parser


def _prepare(lab: lifecycle.Lab, args) -> int:
    started = lab.prepare()
    print(f"prepared ({'started ' + ', '.join(started) if started else 'daemons already running'})")
    return 0


def _up(lab: lifecycle.Lab, args) -> int:
    lab.up()
    return 0


def _restore(lab: lifecycle.Lab, args) -> int:
    state = lab.restore()
    print(f"restored the provisioned snapshot in {lab.progress.total('restore') or 0:.0f}s "
          f"(the lab's bring-up: {state.up_seconds or 0:.0f}s)")
    return 0


def _provision(lab: lifecycle.Lab, args) -> int:
    def show(step) -> None:  # every node at once, as the steps come
        print(f"  [{step.node}] {step.message}", flush=True)

    changed = False
    for node, lines in sorted(lab.provision_stack(on_step=show).items()):
        for line in lines:
            print(f"{node}: {line}")
            changed |= ": changed" in line
    print("changed" if changed else "nothing changed")
    return 0


def _status_of_another_checkout(settings: Settings, topo: topology.Topology) -> bool:
    """While another checkout's lab is up, say whose and where it is (this checkout has none)."""
    owner = ownership.foreign_owner(topo.name, settings.root)
    if owner is None:
        return False
    print(f"the {topo.name}-* lab on this machine is up and belongs to {owner.root} (pid {owner.pid}): "
          f"{'; '.join(owner.evidence(topo.name))}")
    print(f"this checkout ({settings.root}) has no lab of its own; "
          f"`python -m lab status` in {owner.root} shows its nodes")
    return True


def _status(lab: lifecycle.Lab, args) -> int:
    state = lab.state()
    if lab.libvirt and not lab.libvirt.daemons_running():
        print("libvirtd is not running: no lab")
        return 0
    for name, status in lab.status().items():
        print(f"{name:6} {status}")
    if state:
        print(f"state: {lifecycle.LabState.path(lab.settings)} (provider {state.provider}, "
              f"driver {state.libvirt_driver or '-'}, up in {state.up_seconds}s)")
    return 0


def _ssh(lab: lifecycle.Lab, args) -> int:
    command = lab.vagrant.ssh_command(args.node)
    os.chdir(lab.settings.root)
    os.execvpe(command[0], command, lab.vagrant.env)


def _diagnostics(lab: lifecycle.Lab, args) -> int:
    from lab import diagnostics

    prefix = f"{lab.topology.name}-" if lab.settings.provider == "libvirt" else None
    nodes = lab.nodes()
    try:
        outcomes = diagnostics.collect(list(nodes.values()), args.dest, console_prefix=prefix)
    finally:
        for node in nodes.values():
            node.close()
    for outcome in outcomes:
        print(outcome.summary())
    print(f"diagnostics written to {args.dest}")
    return 0


def _down(lab: lifecycle.Lab, args) -> int:
    for item in lab.down():
        print(f"removed {item}")
    return 0


def _reap(lab: lifecycle.Lab, args) -> int:
    removed = lab.reap()
    for item in removed:
        print(f"removed {item}")
    if not removed:
        print("nothing of the lab was left")
    return 0


def _fetch(settings: Settings, args) -> int:
    """Fetch what is missing; refuse (exit 1) when a file fails its checks.

    Exit 3 when something asked for is still missing: the components named with --component;
    without it, the whole profile, except with --from DIR: there, the components DIR holds a file
    of (a folder may bring only some of them; what it lacks is named, and may come from elsewhere)."""
    profile = artifacts.profile(settings.profile)
    from_dir = _from_dir(args.from_dir)
    cache = artifacts.Cache(settings.cache_dir)
    fetcher = artifacts.Fetcher(cache, profile, from_dir=from_dir, accept_unpinned=args.accept_unpinned)
    entries = fetcher.fetch(only=tuple(args.component or ()))
    for entry in entries:
        detail = entry.verified if entry.status == "ok" else entry.reason
        print(f"{entry.status:8} {entry.artifact.label}: {printable(_without(entry.artifact.label, detail))}")
    refused = [e for e in entries if e.status == "refused"]
    asked = set(args.component or ()) or _components_in(from_dir, entries) or set(profile.components)
    missing = [e for e in entries if e.status == "missing" and e.artifact.component in asked]
    if from_dir is not None:
        _say_where_from(from_dir, entries, fetcher.added, asked)
    if refused:
        print(f"error: {len(refused)} file(s) refused (see above); nothing was installed from them", file=sys.stderr)
        return 1
    return 3 if missing else 0


def _from_dir(given: str | None) -> Path | None:
    if given is None:
        return None
    if not given.strip():
        raise InputError(f"fetch --from {given!r}: names no folder: give the folder holding the files")
    folder = Path(given)
    if not folder.is_dir():
        raise InputError(f"{printable(given, 80)}: not a directory (fetch --from DIR takes the files from a directory)")
    return folder


def _components_in(folder: Path | None, entries: list[artifacts.CacheEntry]) -> set[str]:
    """The components the folder holds a file of (of those fetch looked at)."""
    if folder is None:
        return set()
    return {e.artifact.component for e in entries if os.path.lexists(folder / e.artifact.filename)}


def _say_where_from(folder: Path, entries: list[artifacts.CacheEntry], added: list[artifacts.Artifact],
                    asked: set[str]) -> None:
    """fetch --from: which files came from the folder, which the cache held already, which are still missing."""
    taken = [e.artifact.label for e in entries if e.artifact in added]
    held = [e.artifact.label for e in entries if e.status == "ok" and e.artifact not in added]
    lacking = [e.artifact.label for e in entries if e.status == "missing"]
    optional = [e.artifact.label for e in entries if e.status == "missing" and e.artifact.component not in asked]
    folder_name = printable(str(folder))
    print(f"from {folder_name}: {', '.join(taken) or 'nothing'}")
    if held:
        print(f"already in the cache: {', '.join(held)}")
    if lacking:
        print(f"still missing: {', '.join(lacking)}"
              + (f" ({', '.join(optional)}: not asked for, as {folder_name} holds no file of theirs; name them with "
                 "--component to require them)" if optional else ""))


def _without(label: str, detail: str) -> str:
    """A reason without the label the line already starts with."""
    return detail.removeprefix(f"{label}: ").removeprefix(f"{label} ")


def _versions(settings: Settings, args) -> int:
    """Every profile, or only the one named by --profile (or $LAB_PROFILE)."""
    cache = artifacts.Cache(settings.cache_dir)
    named = args.profile or os.environ.get("LAB_PROFILE")
    profiles = {named: artifacts.profile(named)} if named else artifacts.load_profiles()
    for name, profile in profiles.items():
        print(f"{name}: {profile.description}")
        for component in profile.components.values():
            states = [f"{a.role} {a.filename}: {_cache_state(cache.check(a))}" for a in component.artifacts]
            print(f"  {component.name:7} {component.version:8} {'; '.join(states) or 'in the box'}")
    return 0


def _cache_state(entry: artifacts.CacheEntry) -> str:
    caveat = trust.caveat(entry.trust)
    return f"{entry.status}, {caveat}" if caveat else entry.status


def _check(settings: Settings, pytest_args: list[str]) -> int:
    """The main job: the pytest session brings the lab up once, checks every claim, tears down."""
    import subprocess
    import time

    started, wall_start = time.monotonic(), time.time()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lab-provider", settings.provider,
               "--lab-topology", str(settings.topology_path), "--lab-profile", settings.profile,
               "--lab-nomad-endpoint", settings.nomad_endpoint,
               "--lab-destroy", "always", *(pytest_args or ["-n", "3", "tests/connectivity", "tests/isolation"])]
    status = subprocess.run(command, cwd=settings.root, check=False).returncode
    print(_check_summary(_report_dir(settings, pytest_args), started_at=wall_start,
                         seconds=time.monotonic() - started, status=status))
    return status


def _report_dir(settings: Settings, pytest_args: list[str]) -> Path:
    """Where pytest wrote the claims report: --lab-report-dir (relative to the project), else reports/."""
    for i, arg in enumerate(pytest_args):
        if arg.startswith("--lab-report-dir="):
            return settings.root / arg.split("=", 1)[1]
        if arg == "--lab-report-dir" and i + 1 < len(pytest_args):
            return settings.root / pytest_args[i + 1]
    return settings.root / "reports"


def _check_summary(directory: Path, started_at: float, seconds: float, status: int) -> str:
    """Where the report is, how many claims got each verdict, and how long it all took."""
    path = directory / "claims.json"
    lines = []
    if path.exists() and path.stat().st_mtime >= started_at:
        run = report.load(path)
        counts = report.verdict_counts(run)
        lines.append(f"check: report {directory / 'claims.md'} (also claims.html, claims.json)")
        lines.append(f"check: {sum(counts.values())} claims: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
        meta = run.get("metadata", {})
        stages = [f"{name} {meta[key]:.0f}s" for name, key in (("bring-up", "up_seconds"), ("teardown", "down_seconds"))
                  if meta.get(key) is not None]
        if stages:
            lines.append("check: lab " + ", ".join(stages))
    else:
        lines.append(f"check: this run wrote no claims report (to {path})")
    lines.append(f"check: total {seconds:.0f}s, pytest exit status {status}")
    return "\n".join(lines)


COMMANDS = {
    "prepare": _prepare, "up": _up, "restore": _restore, "provision": _provision, "status": _status, "ssh": _ssh,
    "diagnostics": _diagnostics, "down": _down, "reap": _reap,
}

if __name__ == "__main__":
    sys.exit(main())
