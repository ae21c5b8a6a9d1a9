"""lab.diagnostics: cheap reads first, every command bounded, and a summary of what did not answer."""
import ipaddress
from dataclasses import dataclass, field

from invoke.exceptions import CommandTimedOut

from lab import diagnostics
from lab.node import CommandResult


@dataclass
class FakeNode:
    name: str
    slow: tuple[str, ...] = ()  # commands containing one of these words time out
    ran: list[str] = field(default_factory=list)
    hostonly_ip = ipaddress.IPv4Address("192.168.56.3")

    def run(self, command, check=True, timeout=None):
        self.ran.append(command)
        if any(word in command for word in self.slow):
            raise CommandTimedOut(None, timeout)
        return CommandResult(self.name, command, 0, f"output of {command}\n", "")


def test_cheap_reads_come_before_the_costly_clis():
    names = list(diagnostics.COMMANDS)
    assert max(names.index(n) for n in diagnostics.CHEAP) < min(names.index(n) for n in diagnostics.COSTLY)
    assert all("weave " not in c for c in diagnostics.CHEAP.values())  # no weaveexec container among them


def test_every_node_in_its_folder_with_a_summary_of_what_timed_out(tmp_path):
    u1, u2 = FakeNode("u1"), FakeNode("u2", slow=("weave ps", "raft"))
    outcomes = diagnostics.collect([u1, u2], tmp_path)
    assert [o.summary() for o in outcomes] == [
        "u1: every command answered",
        "u2: timed out: CHECKPOINT_DISABLE=1 weave ps, consul operator raft list-peers"]
    assert (tmp_path / "SUMMARY.txt").read_text().splitlines() == [o.summary() for o in outcomes]
    assert (tmp_path / "u2" / "ip-addr.txt").read_text() == "$ ip addr\n(exit 0)\noutput of ip addr\n"
    assert "(timed out after" in (tmp_path / "u2" / "weave-ps.txt").read_text()
    assert "192.168.56.3:4646" in (tmp_path / "u1" / "nomad-nodes.txt").read_text()
    assert len(u2.ran) == len(diagnostics.COMMANDS)


def test_a_node_that_keeps_timing_out_is_given_up_on_after_its_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(diagnostics, "BUDGET_IN_COMMANDS", 0)
    stuck = FakeNode("u3", slow=("ip addr",))
    [outcome] = diagnostics.collect([stuck], tmp_path)
    assert outcome.timed_out == ["ip addr"]
    assert len(outcome.skipped) == len(diagnostics.COMMANDS) - 1
    assert stuck.ran == ["ip addr"]
    assert "skipped (budget spent)" in outcome.summary()
    assert "(skipped:" in (tmp_path / "u3" / "weave-ps.txt").read_text()
