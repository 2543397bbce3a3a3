"""Where a target's Jinja2 templates live, how they are loaded, and their fingerprint.

The templates sit in ``templates/<target>/`` at the repository root and ship in the
wheel as the package data of ``symconv.templates`` (pyproject maps one onto the
other), so they are read with importlib.resources.  A source checkout used without
installing falls back to the folder itself.  Their digest is part of every generated
file's name: editing a template changes which file a spec maps to.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from symconv.version import __version__

TEMPLATE_PACKAGE = "symconv.templates"
MODULE_TEMPLATE = "module.py.j2"
#: The template a folder must hold: a code target's module, or the figures' picture.
REQUIRED = {"draw": "figure.svg.j2"}
#: Templates whose output is markup: values are escaped (a label's "<" stays text).
MARKUP = (".svg.j2", ".html.j2")


def _folder(target: str):
    try:
        return resources.files(TEMPLATE_PACKAGE).joinpath(target)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "templates" / target


@cache
def template_sources(target: str) -> dict[str, str]:
    """Name -> text of every ``*.j2`` template of `target`, read once per process."""
    folder = _folder(target)
    found = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".j2")
    }
    if REQUIRED.get(target, MODULE_TEMPLATE) not in found:
        raise FileNotFoundError(f"symconv templates of target {target!r} not found in {folder}")
    return dict(sorted(found.items()))


def template_digest(target: str) -> str:
    """sha256 over the names and contents of the target's templates."""
    digest = hashlib.sha256()
    for name, text in template_sources(target).items():
        digest.update(f"{name}\0{text}\0".encode())
    return digest.hexdigest()


@cache
def environment(target: str) -> jinja2.Environment:
    """Strict environment: an undefined name is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.DictLoader(template_sources(target)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=lambda name: name is not None and name.endswith(MARKUP),
    )


def module_header(spec: Any, target: str, command: str, docstring: str) -> dict[str, str]:
    """The part of a module's view every target shows the same way: where it came from
    (symconv's version, the template, the spec and the command that writes it again),
    the layer's names, its key and dtype."""
    return {
        "version": __version__,
        "template": f"{target}/{MODULE_TEMPLATE}",
        "label": spec.label,
        "description": spec.describe(),
        "spec_json": spec.to_json(),
        "command": command.format(spec_json=spec.to_json()),
        "docstring": docstring,
        "key": spec.key,
        "dtype": spec.dtype,
    }
