"""lab.provisioned: the lab's own record of a finished provisioning, and the Vagrantfile that writes it."""
import re
from pathlib import Path

from lab import provisioned

ROOT = Path(__file__).parents[2]


def stage_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "stage" / "u1"
    (folder / "config").mkdir(parents=True)
    (folder / "artifacts").mkdir()
    (folder / "stack.env").write_text("NODE=u1\nCOMPONENTS='docker consul'\n")
    (folder / "config" / "consul.hcl").write_text('server = true\n')
    (folder / "artifacts" / "consul.deb").write_bytes(b"x" * 10)
    return folder


def test_the_token_follows_every_input_but_the_artifacts_bytes(tmp_path):
    folder = stage_folder(tmp_path)
    sources = [ROOT / "Vagrantfile"]
    first = provisioned.token(folder, sources)
    assert first == provisioned.token(folder, sources)
    (folder / "config" / "consul.hcl").write_text('server = false\n')
    assert provisioned.token(folder, sources) != first
    changed_config = provisioned.token(folder, sources)
    (folder / "artifacts" / "consul.deb").write_bytes(b"y" * 10)  # verified by sha256 when staged
    assert provisioned.token(folder, sources) == changed_config
    (folder / "artifacts" / "consul.deb").write_bytes(b"y" * 11)
    assert provisioned.token(folder, sources) != changed_config
    assert provisioned.token(folder, sources + [ROOT / "provision" / "base.sh"]) != provisioned.token(folder, sources)


def test_tokens_are_left_in_the_stage_for_the_vagrantfile_and_do_not_count_themselves(tmp_path):
    folder = stage_folder(tmp_path)
    tokens = provisioned.write_tokens(folder.parent, ["u1"], [ROOT / "Vagrantfile"])
    assert (folder / provisioned.TOKEN_FILE).read_text() == tokens["u1"] + "\n"
    assert re.fullmatch(r"[0-9a-f]{20}", tokens["u1"])  # safe in the Vagrantfile's inline shell
    assert provisioned.write_tokens(folder.parent, ["u1"], [ROOT / "Vagrantfile"]) == tokens


def test_sources_are_the_vagrantfile_the_topology_and_the_guest_scripts():
    found = provisioned.sources(ROOT, ROOT / "lab" / "topology.yaml")
    assert {p.name for p in found} >= {"Vagrantfile", "topology.yaml", "base.sh", "images.sh", "prereqs.sh"}


def test_stale_nodes_are_those_that_recorded_nothing_or_other_inputs():
    expected = {"u1": "aaa", "u2": "bbb", "u3": "ccc"}
    found = {"u1": "aaa", "u2": "", "u3": "old"}
    assert provisioned.stale(found, expected) == {"u2": "", "u3": "old"}
    assert provisioned.describe({"u2": "", "u3": "old"}) == (
        "u2 (no finished provisioning recorded), u3 (provisioned from other inputs)")


def test_the_vagrantfile_clears_the_marker_first_and_writes_it_last():
    names = re.findall(r'vm\.vm\.provision "([\w-]+)"', (ROOT / "Vagrantfile").read_text())
    assert names[0] == "begin" and names[-1] == "done", names
    text = (ROOT / "Vagrantfile").read_text()
    assert f'marker = "{provisioned.MARKER}"' in text
    assert f'"{provisioned.TOKEN_FILE}"' in text


def test_component_lines_are_read_per_node_from_a_real_vagrant_output():
    sample = (ROOT / "tests/unit/samples/vagrant_up/libvirt-tcg-debian-profile.txt").read_text()
    # `vagrant provision NAME` prints one node's lines; the sample interleaves three of them.
    outputs = {name: "".join(line + "\n" for line in sample.splitlines() if re.match(rf"(==>|\s+) ?{name}: ", line))
               for name in ("u1", "u2", "u3")}
    lines = provisioned.component_lines(outputs)
    assert {node: [line.split(":")[0] + ":" + line.split(":")[1] for line in found] for node, found in lines.items()} \
        == {name: ["docker 20.10.24+dfsg1: unchanged", "consul 1.8.7: changed"] for name in ("u1", "u2", "u3")}
    # Not the other provisioners' lines ("base: u2 changed: ...", "prereqs: unchanged") nor what is missing.
    assert all(not line.startswith(("base", "prereqs", "missing")) for found in lines.values() for line in found)
