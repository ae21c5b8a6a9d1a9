"""Files the user writes (the topology, the version profiles): read strictly, refused with the place named.

Every problem is one line, `<file>: <key path>: <problem>`, raised as an InputError (a ValueError),
which the command line prints as `error: ...` with exit status 2.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import yaml

from lab.printable import printable

# The key path of the whole file, in messages.
TOP = "the file"

# Every file the user writes is small: the shipped ones are a few KiB. Reading is bounded so that
# /dev/zero or a multi-GB file is refused instead of eating the memory.
MAX_INPUT_BYTES = 4 * 1024 * 1024
# Deeper than any real file nests; deeper data would hit Python's recursion limit in the parsers.
MAX_DEPTH = 64
# How much of a value from the input a message quotes.
QUOTED_CHARS = 80


class InputError(ValueError):
    """A file or an option the user wrote is unusable; the message says where and why."""


class _Refused(yaml.composer.ComposerError):
    """Valid YAML that the lab does not take (an alias, absurd nesting, a key given twice)."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a key given twice in one mapping is an error (PyYAML
    keeps the last one silently: a second `sha256:` would replace a pin without a word)."""

    def compose_node(self, parent, index):
        # An alias (`*name`) is refused: a few of them nested expand to billions of values (the
        # "billion laughs"), and the Vagrantfile's Ruby loader refuses them anyway (Psych::BadAlias).
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                None, None, f"aliases (*{event.anchor}) are not allowed: write the value out", event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            first_seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = first_seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class refuses it with its own message
                    continue
                if first is not key_node.start_mark:
                    problem = f"duplicate key {quoted(key)} (first at line {first.line + 1})"
                    raise _Refused(None, None, problem, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def quoted(value: Any, limit: int = QUOTED_CHARS) -> str:
    """A value from the input as a message shows it: its repr (control characters and terminal
    escapes escaped), cut after `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def from_variable(name: str, value: str | None) -> str:
    """` (from NAME)` where a value came from the environment variable NAME, for messages."""
    return f" (from {name})" if value is not None and os.environ.get(name) == value else ""


def read_text(path: Path, what: str, error: type[InputError] = InputError,
              limit: int = MAX_INPUT_BYTES, variable: str = "") -> str:
    """The file's text; a file that is not there, not a regular file, larger than `limit` bytes
    or not UTF-8 is one `error` naming it (and the environment `variable` that named it, if any)."""
    shown = f"{what} {printable(str(path))}"
    origin = from_variable(variable, str(path)) if variable else ""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise error(f"cannot read {shown}: not a regular file{origin}")
            data = f.read(limit + 1)
    except OSError as e:
        raise error(f"cannot read {shown}: {e.strerror}{origin}") from None
    if len(data) > limit:
        raise error(f"cannot read {shown}: larger than {limit // 1024} KiB, which no such file is{origin}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def writable_folder(directory: Path, what: str, error: type[InputError] = InputError) -> None:
    """`directory`, or the folder it would be made in, is a directory this process can write in."""
    existing = directory
    try:
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise error(f"{what} {printable(str(directory))}: {printable(str(existing))} is not a directory")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise error(f"{what} {printable(str(directory))}: cannot write in {printable(str(existing))}: "
                    f"{e.strerror}") from None


def load_json(path: Path, what: str, error: type[InputError] = InputError, limit: int = MAX_INPUT_BYTES) -> Any:
    """The parsed JSON file, read as `read_text` reads; invalid or absurdly nested JSON is one `error`."""
    return parse_json(read_text(path, what, error, limit), path, error)


class _NotPlainJson(ValueError):
    """JSON that parses, but means two things: a key given twice, or NaN/Infinity, which JSON has no
    words for (Python writes and reads them; other readers refuse them, or compare them wrongly)."""


def _one_value_per_key(pairs: list[tuple[str, Any]]) -> dict:
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise _NotPlainJson(f"the key {quoted(key)} is given twice in one object")
        found[key] = value
    return found


def _no_constant(name: str) -> NoReturn:
    raise _NotPlainJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        raise _NotPlainJson(f"{quoted(text)} is too large a number")
    return number


def parse_json(text: str, path: Path | str, error: type[InputError] = InputError) -> Any:
    """The parsed text; invalid JSON, a key given twice, NaN or Infinity, or absurd nesting is one `error`."""
    try:
        return json.loads(text, object_pairs_hook=_one_value_per_key, parse_constant=_no_constant,
                          parse_float=_finite)
    except _NotPlainJson as e:
        raise error(f"{printable(str(path))}: not usable JSON ({e})") from None
    except json.JSONDecodeError as e:
        raise error(f"{path} line {e.lineno}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise error(f"{path}: not usable JSON (nested too deep)") from None


def load_yaml(path: Path, what: str, error: type[InputError] = InputError, variable: str = "") -> Any:
    """The parsed file; any problem reading or parsing it is one `error` naming the file and line."""
    return parse_yaml(read_text(path, what, error, variable=variable), path, error)


def parse_yaml(text: str, path: Path, error: type[InputError] = InputError) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        problem = getattr(e, "problem", None) or str(e)
        if isinstance(e, _Refused):
            raise error(f"{path}{line}: {problem}") from None
        raise error(f"{path}{line}: not valid YAML ({problem})") from None
    except ValueError as e:  # a value the constructors cannot make (an integer of 5000 digits)
        raise error(f"{path}: not usable YAML ({printable(str(e), QUOTED_CHARS)})") from None


def kind(value: Any) -> str:
    """What a value is, in the words of the file's author."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {quoted(value)}"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    return {dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)


class Fields:
    """Checks on the values of a parsed file; every failure names the file and the key path.

    `context` goes between the two: what led there (e.g. `debian extends current: `)."""

    def __init__(self, path: Path, error: type[InputError] = InputError, context: str = ""):
        self.path = path
        self.error = error
        self.context = context

    def fail(self, where: str, problem: str) -> NoReturn:
        raise self.error(f"{printable(str(self.path))}: {self.context}{printable(where, 4 * QUOTED_CHARS)}: {problem}")

    def mapping(self, value: Any, where: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {kind(value)}")
        if allowed is not None:
            allowed = set(allowed)
            unknown = sorted(set(map(str, value)) - allowed)
            if unknown:
                shown = ", ".join(printable(key, QUOTED_CHARS) for key in unknown[:10])
                self.fail(where, f"unknown key(s) {shown} (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in value:
                self.fail(key if where == TOP else f"{where}.{key}", "is required")
        return value

    def text(self, value: Any, where: str, pattern: re.Pattern | None = None, what: str = "") -> str:
        """A string (never a number YAML made of it) that, if a pattern is given, it matches in full."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.fail(where, f"must be a string, got {kind(value)}: quote it (YAML reads 1.10 as the number 1.1)")
        if not isinstance(value, str) or value == "":
            self.fail(where, f"must be a non-empty string, got {kind(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(where, f"{quoted(value)} is not {what or 'valid'}")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self.fail(where, f"must be a positive integer, got {quoted(value)}")
        return value

    def one_of(self, value: Any, where: str, choices: Iterable) -> Any:
        choices = tuple(choices)
        if isinstance(value, bool) or value not in choices:
            self.fail(where, f"{quoted(value)} is not one of {', '.join(map(str, choices))}")
        return value
