"""Config files and job files rendered from lab/templates (Jinja2, strict about missing values)."""
from __future__ import annotations

from pathlib import Path

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def render(name: str, **values) -> str:
    return _ENV.get_template(name).render(**values)
