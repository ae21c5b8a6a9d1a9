"""Stage directories: everything one node's stack provisioning needs, ready for Vagrant to upload.

.lab/stage/<node>/ holds stack.env (what to install and from which file), config/ (rendered
configs and units), artifacts/ (links to verified cache files) and scripts/ (provision/stack).
A component whose artifact is missing or refused is left out, and the reason is recorded so
the tests that need it are skipped with it.
"""
from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from lab import trust
from lab.artifacts import Artifact, Cache, Profile
from lab.images import image_ids, name_tag, normalise
from lab.stack import consul, nomad
from lab.topology import Topology
from lab.version import version_tuple

ORDER = ("docker", "weave", "consul", "nomad")
# Weave up to 2.8.1 hard-codes Docker API 1.18 (prog/weaveutil); the fork 2.8.3+ speaks 1.24.
OLD_WEAVE_API = "1.18"


@dataclass
class ComponentState:
    name: str
    version: str
    status: str  # ready | missing | refused
    reason: str = ""
    verified: str = ""
    trust: str = ""  # the least trusted of its files (lab.trust), "" for none or unknown


    @property
    def ready(self) -> bool:
        return self.status == "ready"


def plan(profile: Profile, cache: Cache) -> dict[str, ComponentState]:
    """What each component's artifacts allow: ready, or missing/refused with the reason."""
    states = {}
    for name in ORDER:
        component = profile.components[name]
        entries = [cache.check(a) for a in component.artifacts]
        bad = [e for e in entries if e.status != "ok"]
        refused = [e for e in bad if e.status == "refused"]
        if refused:
            states[name] = ComponentState(name, component.version, "refused", "; ".join(e.reason for e in refused))
        elif bad:
            files = ", ".join(e.artifact.filename for e in bad)
            reason = (f"{files} {'is' if len(bad) == 1 else 'are'} not in the artifact cache {cache.root}: "
                      f"python -m lab fetch --profile {profile.name} --component {name}")
            states[name] = ComponentState(name, component.version, "missing", reason)
        else:
            how = "; ".join(f"{e.artifact.filename}: {e.verified}" for e in entries) or "part of the box"
            states[name] = ComponentState(name, component.version, "ready", verified=how,
                                          trust=trust.weakest(e.trust for e in entries))
    return states


def write(root: Path, scripts: Path, topo: Topology, profile: Profile, cache: Cache,
          states: dict[str, ComponentState], nomad_endpoint: str = "docker") -> Path:
    """Write one stage directory per node under `root`; `scripts` is provision/stack."""
    shutil.rmtree(root, ignore_errors=True)
    shared = root / ".artifacts"
    shared.mkdir(parents=True)
    artifact_of: dict[str, Artifact] = {}
    for name, state in states.items():
        if state.ready:  # plan() verified these files a moment ago
            for artifact in profile.components[name].artifacts:
                _link_or_copy(cache.path(artifact), shared / artifact.filename)
                artifact_of[f"{name}:{artifact.role}"] = artifact
    for node in topo.nodes:
        stage = root / node.name
        (stage / "config").mkdir(parents=True)
        (stage / "artifacts").mkdir()
        shutil.copytree(scripts, stage / "scripts", ignore=shutil.ignore_patterns("units"))
        for artifact_file in shared.iterdir():
            _link_or_copy(artifact_file, stage / "artifacts" / artifact_file.name)
        env = {"NODE": node.name, "HOSTONLY_IP": str(node.hostonly_ip),
               "COMPONENTS": " ".join(n for n in ORDER if states[n].ready)}
        if states["weave"].ready:
            weave = profile.components["weave"]
            images = artifact_of["weave:images"]
            env.update(WEAVE_SCRIPT=artifact_of["weave:script"].filename, WEAVE_IMAGES_TAR=images.filename,
                       WEAVE_IMAGES=" ".join(ref.split("@")[0] for ref in images.refs),
                       WEAVE_IMAGE_IDS=" ".join(f"{ref}={image_id}" for ref, image_id in
                                                weave_image_ids(profile, cache).items()), **weave.env)
            if version_tuple(weave.version) < (2, 8, 3):
                env["WEAVE_API_VERSION"] = OLD_WEAVE_API
        if states["consul"].ready:
            consul_artifact = profile.components["consul"].artifacts[0]
            env["CONSUL_ARTIFACT"] = artifact_of[f"consul:{consul_artifact.role}"].filename
            (stage / "config" / "consul.hcl").write_text(consul.render_config(topo, node.name))
            (stage / "config" / "resolv.conf").write_text(consul.render_resolv_conf(topo))
            shutil.copy(scripts / "units" / "consul.service", stage / "config")
        if states["nomad"].ready:
            version = profile.components["nomad"].version
            env["NOMAD_ARTIFACT"] = artifact_of["nomad:binary"].filename
            env["NOMAD_ENDPOINT"] = nomad_endpoint
            for endpoint, socket in nomad.ENDPOINTS.items():
                (stage / "config" / f"nomad-{endpoint}.hcl").write_text(
                    nomad.render_agent_config(topo, node.name, version, socket))
            shutil.copy(scripts / "units" / "nomad.service", stage / "config")
        lines = [f"{key}={shlex.quote(value)}" for key, value in env.items()]
        missing = [f"{s.name} {s.version}: {s.reason}" for s in states.values() if not s.ready]
        lines.append("MISSING=(" + " ".join(shlex.quote(m) for m in missing) + ")")
        (stage / "stack.env").write_text("\n".join(lines) + "\n")
    return root


def weave_image_ids(profile: Profile, cache: Cache) -> dict[str, str]:
    """Each of the profile's weave images (name:tag) with the ID its cached `docker save` gives it."""
    images = next(a for a in profile.components["weave"].artifacts if a.role == "images")
    ids = image_ids(cache.path(images))
    return {name_tag(ref): ids[normalise(ref)] for ref in images.refs}


def leave_out_images_present(stage_root: Path, node: str, profile: Profile, wanted: dict[str, str],
                             present: dict[str, str]) -> bool:
    """Leave the weave images tar out of `node`'s stage when the node already has every image under
    the ID the tar would give it (`wanted`, from weave_image_ids): weave.sh then loads nothing and
    needs no tar, and a provisioning does not upload its 185 MB again. The node's provision token
    was computed with the tar in. True if it was left out."""
    if not wanted or any(present.get(ref) != image_id for ref, image_id in wanted.items()):
        return False
    images = next(a for a in profile.components["weave"].artifacts if a.role == "images")
    (stage_root / node / "artifacts" / images.filename).unlink(missing_ok=True)
    return True


def as_json(states: dict[str, ComponentState]) -> dict[str, dict]:
    return {name: asdict(state) for name, state in states.items()}


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
