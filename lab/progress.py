"""What the lab is doing while it comes up or goes down: events per node and phase, as JSON lines.

The process that brings the lab up (or tears it down) writes the events with `Progress`, which
also keeps the phase clock (seconds per node and phase) and, while a stage runs, writes a
heartbeat whenever a node's phase has been quiet for `heartbeat` seconds, saying what it awaits.
Another process shows them as they come with `Tailer` (pytest's xdist controller follows the
file the worker bringing the lab up writes). Self-contained: no other lab module is needed.

    {"t": 1796154600.9, "stage": "bring-up", "node": "u1", "phase": "boot", "kind": "phase",
     "message": "Starting domain.", "elapsed": 139.4, "ended": "domain", "ended_seconds": 0.7}

`node` is a VM's name, or "lab" for what concerns the whole lab; `kind` is phase (a phase
starts), note (a line worth showing), heartbeat, or done (the stage ended; `message` says how).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

LAB = "lab"
HEARTBEAT_SECONDS = 60.0


@dataclass(frozen=True)
class Event:
    t: float
    stage: str
    node: str
    phase: str
    kind: str
    message: str
    elapsed: float
    ended: str = ""
    ended_seconds: float | None = None

    def line(self) -> str:
        """One terminal line: `[lab bring-up  140s] u1 boot: Starting domain. (domain 1s)`."""
        head = f"[lab {self.stage + ' ' if self.stage else ''}{self.elapsed:4.0f}s]"
        if self.kind == "done":
            return f"{head} {self.message}"
        if self.kind == "heartbeat":
            return f"{head} … {self.message}"
        took = f" ({self.ended} {self.ended_seconds:.0f}s)" if self.ended and self.ended_seconds is not None else ""
        label = f"{self.node} {self.phase}" if self.phase else self.node
        text = f": {self.message}" if self.message else ""
        return f"{head} {label}{text}{took}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Event:
        return cls(**json.loads(text))


def read(path: Path) -> list[Event]:
    """Every event of a progress file."""
    if not path.exists():
        return []
    return [Event.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class _Running:
    phase: str
    started: float
    last_line: float
    awaited: str


class Progress:
    """Writes one process's events and times its phases. Thread-safe (heartbeats come from a thread)."""

    def __init__(self, path: Path | None = None, echo: Callable[[str], None] | None = None,
                 heartbeat: float = HEARTBEAT_SECONDS, clock: Callable[[], float] = time.time):
        self.path = path
        self.echo = echo
        self.heartbeat = heartbeat
        self.clock = clock
        self._lock = threading.RLock()
        self._stage = ""
        self._stage_started = clock()
        self._running: dict[str, _Running] = {}
        self._timings: dict[str, dict[str, dict[str, float]]] = {}
        self._totals: dict[str, float] = {}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    # -- the stage -------------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[Progress]:
        """Time a stage ("bring-up", "teardown"); heartbeats while it runs; a done event at its end."""
        with self._lock:
            self._stage, self._stage_started = name, self.clock()
            self._running.clear()
            self._timings[name] = {}
        stop = threading.Event()
        beats = threading.Thread(target=self._beat, args=(stop,), name=f"lab-{name}-heartbeat", daemon=True)
        beats.start()
        outcome = "failed"
        try:
            yield self
            outcome = "done"
        finally:
            stop.set()
            beats.join()
            with self._lock:
                for node in list(self._running):
                    self._close(node, self.clock())
                total = round(self.clock() - self._stage_started, 1)
                self._totals[name] = total
                self._emit(LAB, "", "done", f"{name} {outcome} in {total:.0f}s" + self._slowest(name))

    def _slowest(self, stage: str) -> str:
        phases = [(seconds, f"{node} {phase}") for phase, by_node in self._timings[stage].items()
                  for node, seconds in by_node.items()]
        if not phases:
            return ""
        seconds, what = max(phases)
        return f" (longest phase: {what} {seconds:.0f}s)"

    def timings(self, stage: str) -> dict[str, dict[str, float]]:
        """Seconds per phase and node of a stage: {"boot": {"u1": 61.2, ...}, ...}, phases in the
        order they first started."""
        with self._lock:
            return {phase: dict(by_node) for phase, by_node in self._timings.get(stage, {}).items() if by_node}

    def total(self, stage: str) -> float | None:
        return self._totals.get(stage)

    # -- events ----------------------------------------------------------------------------
    def phase(self, node: str, phase: str, message: str = "", awaited: str = "") -> None:
        """`node` starts `phase` (ending the one it was in); `awaited` is what its heartbeats name."""
        with self._lock:
            now = self.clock()
            current = self._running.get(node)
            if current is not None and current.phase == phase:
                self.note(node, message)
                return
            ended, seconds = (current.phase, self._close(node, now)) if current else ("", None)
            self._running[node] = _Running(phase, now, now, awaited or phase)
            self._timings.setdefault(self._stage, {}).setdefault(phase, {})
            self._emit(node, phase, "phase", message, ended=ended, ended_seconds=seconds)

    def note(self, node: str, message: str) -> None:
        """A line worth showing within the node's current phase."""
        if not message:
            return
        with self._lock:
            running = self._running.get(node)
            if running is not None:
                running.last_line = self.clock()
            self._emit(node, running.phase if running else "", "note", message)

    def end(self, node: str) -> None:
        """The node's current phase is over, and no other starts."""
        with self._lock:
            if node in self._running:
                self._close(node, self.clock())

    def _close(self, node: str, now: float) -> float:
        running = self._running.pop(node)
        seconds = round(now - running.started, 1)
        by_node = self._timings.setdefault(self._stage, {}).setdefault(running.phase, {})
        by_node[node] = round(by_node.get(node, 0.0) + seconds, 1)
        return seconds

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(min(5.0, self.heartbeat / 4)):
            self.beat()

    def beat(self) -> None:
        """One heartbeat line for every phase quiet for `heartbeat` seconds, if any, saying what each
        awaits (nodes awaiting the same thing share a clause). The stage's thread calls it every few seconds."""
        with self._lock:
            now = self.clock()
            waits: dict[tuple[str, str], list[tuple[str, float]]] = {}
            for node, running in self._running.items():
                if now - running.last_line >= self.heartbeat:
                    running.last_line = now
                    waits.setdefault((running.phase, running.awaited), []).append((node, now - running.started))
            if waits:
                self._emit(LAB, "", "heartbeat", "; ".join(
                    f"{', '.join(n for n, _ in nodes)} {phase} {_seconds(s for _, s in nodes)}, awaiting {awaited}"
                    for (phase, awaited), nodes in waits.items()))

    def _emit(self, node: str, phase: str, kind: str, message: str, **extra) -> None:
        now = self.clock()
        event = Event(t=round(now, 3), stage=self._stage, node=node, phase=phase, kind=kind, message=message,
                      elapsed=round(now - self._stage_started, 1), **extra)
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(event.to_json() + "\n")
        if self.echo is not None:
            self.echo(event.line())


def _seconds(values) -> str:
    """`61s`, or `61-64s` for several nodes."""
    values = sorted(round(v) for v in values)
    return f"{values[0]}s" if values[0] == values[-1] else f"{values[0]}-{values[-1]}s"


class Tailer:
    """Shows the events another process appends to a progress file, as they come."""

    def __init__(self, path: Path, show: Callable[[str], None], interval: float = 0.5):
        self.path = path
        self.show = show
        self.interval = interval
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="lab-progress-tailer", daemon=True)

    def start(self) -> Tailer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Show what is left, then stop following."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            self.read_new()
        self.read_new()

    def read_new(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as source:
            source.seek(self._offset)
            chunk = source.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for its end
        for line in lines:
            if line.strip():
                self.show(Event.from_json(line.decode("utf-8")).line())
