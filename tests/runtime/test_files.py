"""Tests for symconv.runtime.files: a module is rewritten only when its text changes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from symconv.kinds import ConvSpec
from symconv.pipeline import generate, module_file, render
from symconv.runtime import Kernels, cache_dir, write_if_changed
from symconv.runtime.cache import CACHE_ENV, FOLDER_LOCK
from tests.paths import ROOT

LECTURE = ConvSpec((3, 3), 2)


@pytest.fixture(scope="module")
def lecture_kernels() -> Kernels:
    return generate(LECTURE)


def test_write_if_changed_rewrites_only_when_the_text_changes(tmp_path):
    path = tmp_path / "module.py"
    assert write_if_changed(path, "VALUE = 1\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an old stamp, easy to compare
    assert not write_if_changed(path, "VALUE = 1\n")
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert write_if_changed(path, "VALUE = 2\n")
    assert path.read_text() == "VALUE = 2\n"
    assert path.stat().st_mtime_ns != 1_000_000_000
    assert path.stat().st_mode & 0o777 == 0o644


def test_no_temporary_file_is_left_in_the_output_folder(tmp_path):
    write_if_changed(tmp_path / "module.py", "VALUE = 1\n")
    write_if_changed(tmp_path / "module.py", "VALUE = 2\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDER_LOCK, "module.py"]


def test_second_generate_leaves_the_file_and_its_mtime_alone(lecture_kernels):
    stamp = lecture_kernels.path.stat().st_mtime_ns
    again = generate(LECTURE)
    assert again.path == lecture_kernels.path
    assert again.path.stat().st_mtime_ns == stamp
    assert again.module is lecture_kernels.module  # not even re-imported
    assert lecture_kernels.path.parent == cache_dir()
    assert lecture_kernels.path.read_text() == render(LECTURE)


def test_numba_cache_files_sit_next_to_the_module(lecture_kernels):
    stem = lecture_kernels.path.stem
    cached = {
        p.name.split("-")[0] for p in (lecture_kernels.path.parent / "__pycache__").glob("*.nbi")
    }
    assert {f"{stem}.forward", f"{stem}.grad_input", f"{stem}.grad_weight"} <= cached


def test_two_processes_generating_one_spec_at_once_both_succeed(tmp_path):
    """Both render, race to write (under the lock) and compile; neither may fail."""
    spec = ConvSpec((6,), 3, stride=2, padding=1, dtype="float64")
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from symconv import reference
        from symconv.pipeline import generate
        from symconv.kinds import ConvSpec

        spec = ConvSpec.from_json(sys.argv[1])
        kernels = generate(spec)
        x = np.arange(6, dtype=np.float64).reshape(spec.input_shape)
        w = np.ones(spec.weight_shape)
        assert np.allclose(kernels.forward(x, w), reference.forward(spec, x, w))
        print(kernels.path)
        """
    )
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, spec.to_json()],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=240) for p in processes]
    for process, (_, err) in zip(processes, results):
        assert process.returncode == 0, err
    paths = {out.strip() for out, _ in results}
    assert paths == {str(tmp_path / "cache" / module_file(spec).name)}
    assert Path(paths.pop()).read_text() == render(spec)
