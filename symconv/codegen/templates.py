"""Where the Jinja2 templates live, how they are loaded, and their fingerprint.

The templates sit in ``templates/`` at the repository root and ship in the wheel as
the package data of ``symconv.templates`` (pyproject maps one onto the other), so
they are read with importlib.resources.  A source checkout used without installing
falls back to the folder itself.  Their digest is part of every generated file's
name: editing a template changes which file a spec maps to.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2

TEMPLATE_PACKAGE = "symconv.templates"
MODULE_TEMPLATE = "module.py.j2"


@cache
def template_sources() -> dict[str, str]:
    """Name -> text of every ``*.j2`` template, read once per process."""
    try:
        folder = resources.files(TEMPLATE_PACKAGE)
    except ModuleNotFoundError:
        folder = Path(__file__).resolve().parents[2] / "templates"
    found = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".j2")
    }
    if MODULE_TEMPLATE not in found:
        raise FileNotFoundError(f"symconv templates not found in {folder}")
    return dict(sorted(found.items()))


def template_digest() -> str:
    """sha256 over the names and contents of all templates."""
    digest = hashlib.sha256()
    for name, text in template_sources().items():
        digest.update(f"{name}\0{text}\0".encode())
    return digest.hexdigest()


@cache
def environment() -> jinja2.Environment:
    """Strict environment: an undefined name is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.DictLoader(template_sources()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
