"""The lab's life: check inputs, prepare the host, bring the VMs up, hand out nodes, tear down.

Every input is checked before anything starts; a failed bring-up removes what it made (unless
the destroy policy is `never`, which keeps it for debugging).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from lab import artifacts, host_fit, ownership, provisioned, snapshots, stage, topology, wait
from lab.box import BoxCache
from lab.inputs import TOP, Fields, InputError, parse_json, read_text
from lab.libvirt_host import LibvirtHost, virsh
from lab.node import CommandError, Node, SshEndpoint
from lab.parallel import on_each
from lab.progress import LAB, Progress
from lab.provisioned import ProvisioningIncomplete
from lab.settings import Settings, timeouts, use_timeouts_for
from lab.vagrant import Step, VagrantError, VagrantLab


class LabStateError(InputError):
    """.lab/state.json is damaged; the message names it and what removes it."""


@dataclass
class LabState:
    """What workers and later commands need to reach a running lab (written as JSON)."""

    provider: str
    topology_path: str
    ssh_config_path: str
    endpoints: dict[str, dict]
    created_by: str
    libvirt_driver: str | None = None
    up_seconds: float | None = None
    daemons_started: list[str] = field(default_factory=list)
    profile: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    stack: dict[str, dict] = field(default_factory=dict)
    # What each node's last finished provisioning recorded (lab/provisioned.py).
    provision_tokens: dict[str, str] = field(default_factory=dict)
    # Seconds per stage, phase and node ("lab": the whole lab): {"bring-up": {"boot": {"u1": 61.2, ...}}}
    phases: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # The provisioned state's snapshot (lab/snapshots.py), if one was saved after the bring-up.
    snapshot: dict | None = None
    restore_seconds: float | None = None

    @classmethod
    def path(cls, settings: Settings) -> Path:
        return settings.state_dir / "state.json"

    def save(self, settings: Settings) -> None:
        path = self.path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, settings: Settings) -> LabState | None:
        """The state of the lab that is up; None when none is; LabStateError when the file is damaged."""
        path = cls.path(settings)
        if not os.path.lexists(path):
            return None
        reap = "`python -m lab reap` removes what a lab left, this file included"
        try:
            raw = parse_json(read_text(path, "the file", LabStateError), "the file", LabStateError)
        except LabStateError as e:
            raise LabStateError(f"{path}: not the state of a lab ({e}): {reap}") from None
        try:
            cls._check(raw, Fields(path, LabStateError, context="not the state of a lab: "))
        except LabStateError as e:
            raise LabStateError(f"{e}: {reap}") from None
        return cls(**raw)

    @classmethod
    def _check(cls, raw: object, f: Fields) -> None:
        """What the commands read before anything else: the fields there are, and their kind."""
        f.mapping(raw, TOP, allowed=[item.name for item in fields(cls)],
                  required=[item.name for item in fields(cls)
                            if item.default is MISSING and item.default_factory is MISSING])
        f.one_of(raw["provider"], "provider", topology.PROVIDERS)
        for key in ("topology_path", "ssh_config_path", "created_by"):
            f.text(raw[key], key)
        f.mapping(raw["endpoints"], "endpoints")


def restorable(settings: Settings) -> tuple[LabState, snapshots.Snapshot]:
    """The lab that is up and the snapshot it recorded, checked before anything needs Vagrant:
    SnapshotError when no lab is up or it has no usable snapshot, LabStateError when its state is damaged."""
    state = LabState.load(settings)
    if state is None:
        raise snapshots.SnapshotError("no lab is up (no .lab/state.json): `python -m lab up` brings one up "
                                      "and snapshots it")
    return state, snapshots.recorded(state.snapshot, LabState.path(settings))


class Lab:
    """`say` takes what only a command line user needs; `progress` what the lab is doing, per node
    and phase (by default printed through `say` and written to .lab/logs/progress.jsonl)."""

    def __init__(self, settings: Settings, say: Callable[[str], None] = print, progress: Progress | None = None):
        self.settings = settings
        self.say = say
        self.progress = progress or Progress(settings.log_dir / "progress.jsonl", echo=say)
        self.topology = topology.load(settings.topology_path)
        self.provider_settings = self.topology.require_provider(settings.provider)
        self.profile = artifacts.profile(settings.profile)
        self.cache = artifacts.Cache(settings.cache_dir)
        VagrantLab.check_installed(settings.provider)
        self.vagrant = VagrantLab(settings, self.topology.digest)
        self.libvirt = LibvirtHost(self.topology, settings.state_dir) if settings.provider == "libvirt" else None
        # Each node provisioned again by the last `up` (its marker missing or stale): its component lines.
        self.provisioned_again: dict[str, list[str]] = {}

    # -- bring-up --------------------------------------------------------------------------
    def prepare(self) -> list[str]:
        """Everything needed before `vagrant up`: the stack's stage, the provider. Returns daemons started."""
        host_fit.check(self.topology, self.settings.provider)
        # What a `vagrant up` typed by hand accepts (the Vagrantfile compares): the topology checked here.
        (self.settings.state_dir / "topology.sha256").write_text(
            f"{self.topology.digest}  {self.settings.topology_path}\n")
        self.vagrant.check_plugin(self.settings.provider)
        self.progress.phase(LAB, "stack", "staging the profile's stack", awaited="the stack's artifacts")
        self.stage_stack()
        if not self.libvirt:
            return []
        self.progress.phase(LAB, "libvirt", "daemons, storage pool and isolated networks",
                            awaited="libvirt's daemons and networks")
        started = self.libvirt.ensure_daemons()
        self.libvirt.ensure_pool()
        self.libvirt.ensure_networks()
        self.progress.phase(LAB, "box", self.provider_settings["box"],
                            awaited="the box (built if its recipe changed)")
        box = BoxCache(self.settings, self.provider_settings["box"], self._note)
        if box.ensure(self.vagrant.box_names(), self.vagrant.box_add):
            self._drop_stale_box_volume()
        self.progress.end(LAB)
        return started

    def _note(self, message: str) -> None:
        self.progress.note(LAB, message)

    def stage_stack(self) -> dict[str, stage.ComponentState]:
        """Stage the profile's stack for the provisioners. Artifacts from Debian's archive (the
        machine's own package source) are fetched when missing; nothing else is downloaded."""
        artifacts.Fetcher(self.cache, self.profile, say=self._note).fetch(sources=("debian",))
        states = stage.plan(self.profile, self.cache)
        for state in states.values():
            if not state.ready:
                self._note(f"{state.name} {state.version} {state.status}: {state.reason}")
        stage_root = stage.write(self.settings.state_dir / "stage", self.settings.root / "provision" / "stack",
                                 self.topology, self.profile, self.cache, states, self.settings.nomad_endpoint)
        self._stack = states
        self._tokens = provisioned.write_tokens(stage_root, self.topology.node_names,
                                                provisioned.sources(self.settings.root, self.settings.topology_path))
        return states

    def up(self, created_by: str = "cli", one_by_one: bool = False) -> LabState:
        """Bring every node up (in parallel, unless one_by_one) and wait until all answer."""
        host_fit.check(self.topology, self.settings.provider)  # before the lab is claimed: a refusal changes nothing
        existing = self.state()
        if existing is not None and existing.profile != self.profile.name:
            raise RuntimeError(f"a lab with profile {existing.profile} is up; `python -m lab down` before "
                               f"bringing one up with {self.profile.name}")
        ownership.claim(self.topology.name, self.settings.root)
        daemons: list[str] = []
        try:
            with self.progress.stage("bring-up"):
                self._note(f"provider {self.settings.provider}, nodes {', '.join(self.topology.node_names)}, "
                           f"profile {self.profile.name}")
                daemons = self.prepare()
                self.vagrant.up(machines=self.topology.node_names if one_by_one else None, on_step=self._on_step)
                for name in self.topology.node_names:
                    self.progress.end(name)
                state = self._running_state(created_by, daemons)
                if existing is None:
                    state.snapshot = self._save_snapshot(state)
        except BaseException:
            if self.settings.destroy == "never":
                self.say("lab: bring-up failed; kept for debugging (python -m lab down removes it)")
            else:
                self.say("lab: bring-up failed; removing what was made")
                self.down(stop_daemons=bool(daemons))
            raise
        timings = self.progress.timings("bring-up")
        if existing is not None and existing.phases.get("bring-up"):
            # This up completed a lab that was already up (it provisioned a node again): the
            # report keeps the lab's own bring-up and shows this one beside it.
            state.phases = {**existing.phases, "completion": timings}
            state.up_seconds = existing.up_seconds
            state.snapshot = existing.snapshot  # taken with the same provisioning inputs
        else:
            state.phases = {"bring-up": timings}
            state.up_seconds = self.progress.total("bring-up")
        state.save(self.settings)
        return state

    def _save_snapshot(self, state: LabState) -> dict | None:
        """Snapshot the freshly provisioned lab (a few seconds); a provider or box that cannot
        snapshot costs only the faster reruns, so its failure is said and the bring-up stands."""
        self.progress.phase(LAB, "snapshot", f"vagrant snapshot save {snapshots.NAME}",
                            awaited="every node's snapshot to be saved")
        started = time.monotonic()
        try:
            self.vagrant.snapshot_save(snapshots.NAME)
        except VagrantError as e:
            self._note(f"no snapshot of the provisioned lab ({e}); --lab-reuse=fresh will refuse this lab")
            self.progress.end(LAB)
            return None
        seconds = round(time.monotonic() - started, 1)
        self.progress.end(LAB)
        return asdict(snapshots.Snapshot(snapshots.NAME, dict(state.provision_tokens), seconds))

    def restore(self) -> LabState:
        """Put the lab that is up back to its provisioned snapshot: every node as its provisioning
        left it, before any of the article's steps. Refused unless the snapshot was taken with
        today's provisioning inputs; the nodes' own provisioning records are checked afterwards."""
        state, recorded = restorable(self.settings)
        with self.progress.stage("restore"):
            self.progress.phase(LAB, "check", "the snapshot and today's provisioning inputs",
                                awaited="vagrant snapshot list")
            self.stage_stack()
            snapshots.usable(recorded, snapshots.names_by_machine(self.vagrant.snapshot_list()), self._tokens)
            self.progress.phase(LAB, "restore", f"vagrant snapshot restore {snapshots.NAME}",
                                awaited="every node's snapshot to be restored")
            self.vagrant.snapshot_restore(snapshots.NAME)
            self.progress.phase(LAB, "clock", "every node's clock set to the host's",
                                awaited="SSH to every node")
            self._set_clocks(state)
            self.progress.phase(LAB, "provisioned", "every node's own record of a finished provisioning",
                                awaited="the nodes' provisioning markers")
            self.check_provisioned(state)
            self.progress.end(LAB)
        state.phases = {**state.phases, "restore": self.progress.timings("restore")}
        state.restore_seconds = self.progress.total("restore")
        state.save(self.settings)
        return state

    def _set_clocks(self, state: LabState) -> None:
        # A restored guest's clock resumes at the moment of the snapshot; consul, nomad and the
        # journal-based checks compare times across nodes and with the host.
        def set_clock(node: Node) -> None:
            wait.until(lambda: node.run(f"date -u -s @{time.time():.3f} >/dev/null").ok, f"SSH to {node.name}",
                       timeout=timeouts().ssh, retry_on=(OSError, EOFError, CommandError))
        self._on_nodes(state, set_clock, "setting the clocks")

    def _on_step(self, step: Step) -> None:
        if step.node not in self.topology.node_names:
            return
        if step.phase:
            self.progress.phase(step.node, step.phase, step.message, awaited=step.awaited)
        else:
            self.progress.note(step.node, step.message)

    def _running_state(self, created_by: str, daemons: list[str]) -> LabState:
        """The state of the lab Vagrant brought up, once every node answers over SSH."""
        self.progress.phase(LAB, "reachable", "every node over SSH", awaited="SSH to every node")
        state = LabState(
            provider=self.settings.provider,
            topology_path=str(self.settings.topology_path),
            ssh_config_path=str(self._write_ssh_config()),
            endpoints={},
            created_by=created_by,
            daemons_started=daemons,
            profile=self.profile.name,
            versions=self.profile.versions(),
            stack=stage.as_json(self._stack),
        )
        state.endpoints = {
            n.name: asdict(SshEndpoint.from_ssh_config(Path(state.ssh_config_path).read_text(), n.name))
            for n in self.topology.nodes
        }
        state.libvirt_driver = self._libvirt_driver()
        use_timeouts_for(state.provider, state.libvirt_driver)
        self._wait_reachable(state)
        self.progress.phase(LAB, "provisioned", "every node's own record of a finished provisioning",
                            awaited="the nodes' provisioning markers")
        self._ensure_provisioned(state)
        state.provision_tokens = dict(self._tokens)
        self.progress.phase(LAB, "versions", "what the nodes installed", awaited="the nodes' installed versions")
        self._record_installed(state)
        self.progress.end(LAB)
        return state

    def _write_ssh_config(self) -> Path:
        path = self.settings.state_dir / "ssh_config"
        path.write_text(self.vagrant.ssh_config())
        return path

    def _libvirt_driver(self) -> str | None:
        if not self.libvirt:
            return None
        domain = f"{self.topology.name}-{self.topology.nodes[0].name}"
        return ET.fromstring(virsh("dumpxml", domain).stdout).get("type")

    def _on_nodes(self, state: LabState, action, what: str) -> dict:
        """action(node) on every node at once, over connections closed afterwards."""
        nodes = list(self.nodes(state).values())
        try:
            return on_each(nodes, action, what)
        finally:
            for node in nodes:
                node.close()

    def _wait_reachable(self, state: LabState) -> None:
        self._on_nodes(state, lambda n: wait.until(lambda: n.run("true").ok, f"SSH to {n.name}",
                                                   timeout=timeouts().ssh, retry_on=(OSError, EOFError, CommandError)),
                       "waiting for SSH")

    def _ensure_provisioned(self, state: LabState) -> None:
        """Provision again every node whose provisioning did not finish (Vagrant answers "already
        provisioned" after a failed one); refuse the lab if that does not finish either."""
        stale = self._unfinished(state, self._tokens)
        if not stale:
            return
        self._note(f"provisioning did not finish on {provisioned.describe(stale)}: provisioning again")
        self._leave_out_images_present(state, list(stale))
        self.provisioned_again = provisioned.component_lines(self.vagrant.provision(list(stale), on_step=self._on_step))
        for name in stale:
            self.progress.end(name)
        still = self._unfinished(state, self._tokens)
        if still:
            raise ProvisioningIncomplete(f"provisioning did not finish on {provisioned.describe(still)}, "
                                         f"even after running it again; see {self.vagrant.log_path}")

    def _leave_out_images_present(self, state: LabState, names: list[str]) -> None:
        """Before provisioning nodes that are up: no weave images tar in the stage of a node that
        already has every image under the ID the tar gives it (lab/stage.py)."""
        if not self._stack["weave"].ready:
            return
        wanted = stage.weave_image_ids(self.profile, self.cache)
        inspect = "docker image inspect --format '{{.Id}}'"
        script = "; ".join(f"echo {shlex.quote(ref)}=$({inspect} {shlex.quote(ref)} 2>/dev/null)" for ref in wanted)

        def present(node: Node) -> dict[str, str]:
            return dict(line.split("=", 1) for line in node.run(script, check=False).stdout.splitlines() if "=" in line)

        found = self._on_nodes(state, present, "reading the weave images")
        left_out = [name for name in names
                    if stage.leave_out_images_present(self.settings.state_dir / "stage", name, self.profile, wanted,
                                                      found.get(name, {}))]
        if left_out:
            self._note(f"weave images already loaded on {', '.join(left_out)}: their stage leaves the images tar out")

    def check_provisioned(self, state: LabState) -> None:
        """Raise ProvisioningIncomplete unless every node's provisioning finished with this lab's inputs."""
        if not state.provision_tokens:
            raise ProvisioningIncomplete("the lab's state records no finished provisioning: "
                                         "`python -m lab up` provisions it again")
        stale = self._unfinished(state, state.provision_tokens)
        if stale:
            raise ProvisioningIncomplete(f"provisioning did not finish on {provisioned.describe(stale)}: "
                                         "`python -m lab up` provisions those nodes again")

    def _unfinished(self, state: LabState, expected: dict[str, str]) -> dict[str, str]:
        found = self._on_nodes(state, provisioned.recorded, "reading the provisioning marker")
        return provisioned.stale(found, expected)

    def _record_installed(self, state: LabState) -> None:
        """The versions the nodes' provisioning reports as installed (the profile says what was asked)."""
        installed: dict[str, set[str]] = {}
        outputs = self._on_nodes(state, lambda n: n.run("grep -H . /etc/nomad-weave-lab/installed/* 2>/dev/null",
                                                        check=False).stdout, "reading the installed versions")
        for out in outputs.values():
            for line in out.splitlines():
                path, _, version = line.partition(":")
                installed.setdefault(Path(path).name, set()).add(version.strip())
        for name, versions in installed.items():
            if name in state.stack:
                state.stack[name]["installed"] = sorted(versions)

    def _drop_stale_box_volume(self) -> None:
        # vagrant-libvirt reuses a box volume of the same name: after a rebuild it must go.
        stem = self.provider_settings["box"].replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"
        pool = self.libvirt.pool_name
        for line in virsh("vol-list", pool, check=False).stdout.splitlines()[2:]:
            name = line.split()[0] if line.split() else ""
            if name.startswith(stem):
                virsh("vol-delete", name, "--pool", pool, check=False)

    def provision_stack(self, on_step: Callable[[Step], None] | None = None) -> dict[str, list[str]]:
        """Stage the profile again and run every provisioner again, on every node at once (they are
        idempotent). Returns each node's component lines ("consul 1.8.7: unchanged", ...)."""
        state = self.state()
        if state is None:  # `vagrant up --provision` would create the machines
            raise RuntimeError("the lab is not up (no .lab/state.json): `python -m lab up` provisions it")
        self.stage_stack()
        self._leave_out_images_present(state, self.topology.node_names)
        lines = provisioned.component_lines(self.vagrant.provision(self.topology.node_names, on_step=on_step))
        state.stack = stage.as_json(self._stack)
        state.provision_tokens = dict(self._tokens)
        self.check_provisioned(state)
        self._record_installed(state)
        state.save(self.settings)
        return lines

    # -- use -------------------------------------------------------------------------------
    def state(self) -> LabState | None:
        return LabState.load(self.settings)

    def nodes(self, state: LabState | None = None) -> dict[str, Node]:
        state = state or self.state()
        if state is None:
            raise RuntimeError("the lab is not up (no .lab/state.json): run `python -m lab up`")
        return {
            n.name: Node(n, SshEndpoint(**state.endpoints[n.name]), Path(state.ssh_config_path))
            for n in self.topology.nodes
        }

    def status(self) -> dict[str, str]:
        return self.vagrant.status()

    # -- teardown --------------------------------------------------------------------------
    def down(self, stop_daemons: bool = True) -> list[str]:
        """Destroy the VMs and every lab resource; stop daemons this lab started."""
        ownership.check(self.topology.name, self.settings.root)
        removed = []
        with self.progress.stage("teardown"):
            if self.libvirt is None:
                self._destroy_each()
                self.progress.phase(LAB, "networks", "the NAT network")
                removed += ["vagrant machines", *self._remove_natnetwork()]
            elif self.libvirt.daemons_running():
                try:
                    self._destroy_each()
                except Exception as e:  # noqa: BLE001 - the reaper below removes what Vagrant could not
                    self._note(f"vagrant destroy failed ({e}); reaping")
                self.progress.phase(LAB, "reap", "volumes, networks, pool", awaited="libvirt to remove the rest")
                removed += self.libvirt.reap()
            self.vagrant.forget_machines()
            LabState.path(self.settings).unlink(missing_ok=True)
            if self.libvirt and stop_daemons:
                self.progress.phase(LAB, "daemons", "stopping the daemons the lab started")
                removed += [f"daemon {d}" for d in self.libvirt.stop_daemons()]
            ownership.release(self.topology.name, self.settings.root)
        return removed

    def _destroy_each(self) -> None:
        """One machine at a time, so that the teardown is timed per node."""
        for name in self.topology.node_names:
            self.progress.phase(name, "destroy", awaited="vagrant destroy")
            self.vagrant.destroy(name)
            self.progress.end(name)

    def reap(self) -> list[str]:
        """Remove whatever an interrupted run left, touching only the lab's own resources."""
        ownership.check(self.topology.name, self.settings.root)
        try:
            return self._reap()
        finally:
            ownership.release(self.topology.name, self.settings.root)

    def _reap(self) -> list[str]:
        if self.libvirt is None:
            return self._reap_virtualbox()
        started = self.libvirt.ensure_daemons() if os.geteuid() == 0 else []
        removed = self.libvirt.reap()
        self.vagrant.forget_machines()
        LabState.path(self.settings).unlink(missing_ok=True)
        if started or (self.settings.state_dir / "daemons").exists():
            removed += [f"daemon {d}" for d in self.libvirt.stop_daemons()]
        return removed

    def _reap_virtualbox(self) -> list[str]:
        removed = []
        prefix = f"{self.topology.name}-"
        for line in _vbox("list", "vms").stdout.splitlines():
            name = line.split('"')[1] if line.count('"') >= 2 else ""
            if name.startswith(prefix):
                _vbox("controlvm", name, "poweroff")
                _vbox("unregistervm", name, "--delete")
                removed.append(f"vm {name}")
        removed += self._remove_natnetwork()
        self.vagrant.forget_machines()
        LabState.path(self.settings).unlink(missing_ok=True)
        return removed

    def _remove_natnetwork(self) -> list[str]:
        """The VirtualBox NAT network the Vagrantfile's trigger created for the lab."""
        natnet = f"{self.topology.name}-natnet"
        return [f"natnetwork {natnet}"] if _vbox("natnetwork", "remove", "--netname", natnet).returncode == 0 else []


def _vbox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["VBoxManage", *args], capture_output=True, text=True, check=False)
