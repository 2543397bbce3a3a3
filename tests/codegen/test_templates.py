"""Tests for symconv.codegen.templates: layout only, strict, fingerprinted and shipped."""

from __future__ import annotations

import re
import tomllib

import jinja2
import pytest

from symconv.codegen.templates import environment, template_digest, template_sources
from symconv.targets import TARGETS
from tests.paths import ROOT

TARGET = "numba_cpu"


def test_templates_hold_no_arithmetic():
    """Every expression a template prints arrives as text: no + - * / // % in any tag."""
    for name, text in template_sources(TARGET).items():
        for tag in re.findall(r"\{\{-?(.*?)-?\}\}|\{%-?(.*?)-?%\}", text, flags=re.S):
            inner = "".join(tag)
            stripped = re.sub(r'"[^"]*"', "", inner)  # string literals may hold spaces
            assert not re.search(r"[+*/%]|\s-\s", stripped), f"{name}: {inner!r}"


def test_environment_is_strict():
    env = environment(TARGET)
    assert env.undefined is jinja2.StrictUndefined
    assert env.trim_blocks and env.lstrip_blocks
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("module.py.j2").render()


def test_template_digest_covers_every_template():
    assert set(template_sources(TARGET)) == {"module.py.j2", "kernel.py.j2", "loops.py.j2"}
    assert re.fullmatch(r"[0-9a-f]{64}", template_digest(TARGET))


def test_pyproject_ships_every_package_and_the_templates():
    """The package list is explicit (templates/ is mapped to symconv.templates)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symconv").rglob("__init__.py")
    }
    assert set(config["packages"]) == found | {"symconv.templates"}
    assert config["package-dir"]["symconv.templates"] == "templates"
    shipped = [f"{target.templates}/*.j2" for target in TARGETS.values()] + ["draw/*.j2"]
    assert config["package-data"]["symconv.templates"] == shipped
