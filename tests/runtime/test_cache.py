"""Tests for symconv.runtime.cache: where modules live and what their files are called."""

from __future__ import annotations

import re
from pathlib import Path

import platformdirs
import pytest

from symconv.kinds import ConvSpec
from symconv.pipeline import module_file
from symconv.runtime import cache as cache_module
from symconv.runtime.cache import CACHE_ENV, FOLDER_LOCK, cache_dir, lock_path
from symconv.targets import base as target_base

LECTURE = ConvSpec((3, 3), 2)


def test_cache_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_dir() == tmp_path


@pytest.mark.parametrize("value", [None, "", "  "])
def test_cache_dir_defaults_to_the_user_cache(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(CACHE_ENV, raising=False)
    else:
        monkeypatch.setenv(CACHE_ENV, value)
    assert cache_dir() == Path(platformdirs.user_cache_dir("symconv", appauthor=False))
    assert cache_dir().name == "symconv"


def name_of(spec: ConvSpec, **options) -> str:
    return module_file(spec, **options).name


def test_file_name_is_the_label_and_a_short_hash():
    name = name_of(LECTURE)
    assert re.fullmatch(rf"{LECTURE.label}_[0-9a-f]{{12}}\.py", name)
    assert name_of(ConvSpec((3, 3), (2, 2), padding=((0, 0), (0, 0)))) == name
    assert name_of(ConvSpec((3, 3), 2, dtype="float64")) != name
    assert name_of(ConvSpec((3, 3), 2, mode="convolution")) != name
    assert name_of(LECTURE, schedules={"forward": "direct"}) != name


def test_file_name_changes_with_the_version_and_the_templates(monkeypatch):
    name = name_of(LECTURE)
    monkeypatch.setattr(cache_module, "__version__", "99.0.0")
    assert name_of(LECTURE) != name
    monkeypatch.undo()
    monkeypatch.setattr(target_base, "template_digest", lambda target: "0" * 64)
    assert name_of(LECTURE) != name


def test_locks_sit_in_the_cache_or_in_the_folder_the_user_named(tmp_path):
    assert lock_path(cache_dir() / "m.py").parent == cache_dir() / "locks"
    assert lock_path(tmp_path / "m.py") == tmp_path / FOLDER_LOCK
