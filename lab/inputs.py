"""Files the user writes (the topology, the version profiles): read strictly, refused with the place named.

Every problem is one line, `<file>: <key path>: <problem>`, raised as an InputError (a ValueError),
which the command line prints as `error: ...` with exit status 2.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import yaml

# The key path of the whole file, in messages.
TOP = "the file"


class InputError(ValueError):
    """A file or an option the user wrote is unusable; the message says where and why."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a key given twice in one mapping is an error (PyYAML
    keeps the last one silently: a second `sha256:` would replace a pin without a word)."""

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
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_text(path: Path, what: str, error: type[InputError] = InputError) -> str:
    """The file's text; a file that is not there, not a file or not UTF-8 is one `error` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def load_yaml(path: Path, what: str, error: type[InputError] = InputError) -> Any:
    """The parsed file; any problem reading or parsing it is one `error` naming the file and line."""
    text = read_text(path, what, error)
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        problem = getattr(e, "problem", None) or str(e)
        if problem.startswith("duplicate key"):
            raise error(f"{path}{line}: {problem}") from None
        raise error(f"{path}{line}: not valid YAML ({problem})") from None


def kind(value: Any) -> str:
    """What a value is, in the words of the file's author."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return {dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)


class Fields:
    """Checks on the values of a parsed file; every failure names the file and the key path.

    `context` goes between the two: what led there (e.g. `debian extends current: `)."""

    def __init__(self, path: Path, error: type[InputError] = InputError, context: str = ""):
        self.path = path
        self.error = error
        self.context = context

    def fail(self, where: str, problem: str) -> NoReturn:
        raise self.error(f"{self.path}: {self.context}{where}: {problem}")

    def mapping(self, value: Any, where: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {kind(value)}")
        if allowed is not None:
            allowed = set(allowed)
            unknown = sorted(set(map(str, value)) - allowed)
            if unknown:
                self.fail(where, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
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
            self.fail(where, f"{value!r} is not {what or 'valid'}")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self.fail(where, f"must be a positive integer, got {value!r}")
        return value

    def one_of(self, value: Any, where: str, choices: Iterable) -> Any:
        choices = tuple(choices)
        if isinstance(value, bool) or value not in choices:
            self.fail(where, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value
