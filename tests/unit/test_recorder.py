"""lab.recorder keeps the first real output of each kind per run, whichever process records it."""
import json
import multiprocessing

from lab import recorder
from lab.node import CommandResult


def result(text, node="u1", command="weave status"):
    return CommandResult(node, command, 0, text, "")


def test_records_nothing_unless_started(tmp_path):
    recorder.stop()
    assert recorder.record("weave_status", result("x")).stdout == "x"
    assert not any(tmp_path.iterdir())


def test_keeps_the_first_output_of_each_kind_with_where_it_came_from(tmp_path):
    recorder.start(tmp_path, {"weave": "2.8.1"})
    try:
        recorder.record("weave_status", result("first\n"))
        recorder.record("weave_status", result("second\n", node="u2"))
        recorder.record("ping", result("", command="ping"))  # nothing printed: nothing to keep
        recorder.record("ping", result("3 packets transmitted\n", node="u3", command="ping -c 3 x"))
    finally:
        recorder.stop()
    assert (tmp_path / "weave_status" / "output.txt").read_text() == "first\n"
    assert (tmp_path / "ping" / "output.txt").read_text() == "3 packets transmitted\n"
    entries = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["node"], e["command"]) for e in entries] == [
        ("weave_status", "u1", "weave status"), ("ping", "u3", "ping -c 3 x")]
    assert entries[0]["versions"] == {"weave": "2.8.1"}


def _record_many(directory, worker):
    recorder.start(directory, {})
    for i in range(20):
        recorder.record("nomad_job_status", result(f"worker {worker} output {i}\n"))


def test_processes_recording_at_once_keep_exactly_one(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record_many, args=(tmp_path, n)) for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert (tmp_path / "nomad_job_status" / "output.txt").read_text().endswith("output 0\n")
    assert len((tmp_path / "index.jsonl").read_text().splitlines()) == 1
