"""Tests for symconv.runtime: cache folder and file names, writing, loading, checked calls.

Argument checks are tested against a stand-in module whose functions fail if called:
that proves the checks run before any compiled code, without compiling anything.  The
real kernels are compiled once for the lecture layer (shared through the session's
cache folder) and once more by the two-process test, in its own cache.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import platformdirs
import pytest

import symconv
from symconv import reference
from symconv.pipeline import generate, render
from symconv.runtime import Kernels, cache_dir, load_module, module_filename, write_module
from symconv.runtime import cache as cache_module
from symconv.runtime.cache import CACHE_ENV, lock_path
from symconv.spec import ConvSpec

LECTURE = ConvSpec((3, 3), 2)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lecture_kernels() -> Kernels:
    return generate(LECTURE)


# ----- the cache folder and file names --------------------------------------------------
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


def test_file_name_is_the_label_and_a_short_hash():
    name = module_filename(LECTURE)
    assert re.fullmatch(rf"{LECTURE.label}_[0-9a-f]{{12}}\.py", name)
    assert module_filename(ConvSpec((3, 3), (2, 2), padding=((0, 0), (0, 0)))) == name
    assert module_filename(ConvSpec((3, 3), 2, dtype="float64")) != name
    assert module_filename(ConvSpec((3, 3), 2, mode="convolution")) != name


def test_file_name_changes_with_the_version_and_the_templates(monkeypatch):
    name = module_filename(LECTURE)
    monkeypatch.setattr(symconv, "__version__", "99.0.0")
    assert module_filename(LECTURE) != name
    monkeypatch.undo()
    monkeypatch.setattr(cache_module, "template_digest", lambda: "0" * 64)
    assert module_filename(LECTURE) != name


# ----- writing --------------------------------------------------------------------------
def test_write_module_rewrites_only_when_the_text_changes(tmp_path):
    path = write_module(LECTURE, "VALUE = 1\n", tmp_path)
    assert path == tmp_path / module_filename(LECTURE)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an old stamp, easy to compare
    write_module(LECTURE, "VALUE = 1\n", tmp_path)
    assert path.stat().st_mtime_ns == 1_000_000_000
    write_module(LECTURE, "VALUE = 2\n", tmp_path)
    assert path.read_text() == "VALUE = 2\n"
    assert path.stat().st_mtime_ns != 1_000_000_000
    assert path.stat().st_mode & 0o777 == 0o644


def test_locks_and_temporary_files_stay_out_of_the_output_folder(tmp_path):
    write_module(LECTURE, "VALUE = 1\n", tmp_path)
    write_module(LECTURE, "VALUE = 2\n", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [module_filename(LECTURE)]
    assert lock_path(tmp_path / module_filename(LECTURE)).parent == cache_dir() / "locks"


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


# ----- loading --------------------------------------------------------------------------
def test_load_module_reuses_an_unchanged_file_and_reloads_a_changed_one(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("VALUE = 1\n")
    first = load_module(path)
    assert load_module(path) is first and first.VALUE == 1
    path.write_text("VALUE = 22\n")
    assert load_module(path).VALUE == 22


def test_files_with_one_name_in_two_folders_get_two_modules(tmp_path):
    for folder, value in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.py").write_text(f"VALUE = {value}\n")
    a, b = load_module(tmp_path / "a" / "same.py"), load_module(tmp_path / "b" / "same.py")
    assert (a.VALUE, b.VALUE) == (1, 2) and a.__name__ != b.__name__


def test_two_processes_generating_one_spec_at_once_both_succeed(tmp_path):
    """Both render, race to write (under the lock) and compile; neither may fail."""
    spec = ConvSpec((6,), 3, stride=2, padding=1, dtype="float64")
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from symconv import reference
        from symconv.pipeline import generate
        from symconv.spec import ConvSpec

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
    assert paths == {str(tmp_path / "cache" / module_filename(spec))}
    assert Path(paths.pop()).read_text() == render(spec)


# ----- checked calls --------------------------------------------------------------------
def stand_in(spec: ConvSpec) -> Kernels:
    """Kernels over a module whose functions must never be reached."""

    def unreachable(*args):
        raise AssertionError("compiled code was called with bad arguments")

    module = types.SimpleNamespace(
        SPEC_KEY=spec.key,
        forward=unreachable,
        grad_input=unreachable,
        grad_weight=unreachable,
        grad_bias=unreachable,
    )
    return Kernels(spec, module, Path("stand-in.py"))


def f32(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


def read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda k: k.forward(f32(1, 1, 4, 4), f32(1, 1, 2, 2)),
            "x has shape (1, 1, 4, 4), expected (1, 1, 3, 3)",
        ),
        (
            lambda k: k.forward(f32(1, 1, 3, 3), f32(1, 1, 3, 3)),
            "w has shape (1, 1, 3, 3), expected (1, 1, 2, 2)",
        ),
        (
            lambda k: k.forward(np.zeros((1, 1, 3, 3)), f32(1, 1, 2, 2)),
            "x has dtype float64, expected float32",
        ),
        (lambda k: k.forward(f32(1, 1, 3, 6)[..., ::2], f32(1, 1, 2, 2)), "x is not C-contiguous"),
        (
            lambda k: k.forward(np.asfortranarray(f32(1, 1, 3, 3)), f32(1, 1, 2, 2)),
            "x is not C-contiguous",
        ),
        (lambda k: k.forward(read_only(f32(1, 1, 3, 3)), f32(1, 1, 2, 2)), "x is read-only"),
        (
            lambda k: k.forward([[[[0.0] * 3] * 3]], f32(1, 1, 2, 2)),
            "x is a list, expected a numpy.ndarray",
        ),
        (
            lambda k: k.forward(f32(1, 1, 3, 3), f32(1, 1, 2, 2), f32(1)),
            "b was given, but the spec has bias=False",
        ),
        (
            lambda k: k.grad_input(f32(1, 1, 3, 3), f32(1, 1, 2, 2)),
            "gy has shape (1, 1, 3, 3), expected (1, 1, 2, 2)",
        ),
        (
            lambda k: k.grad_weight(f32(1, 1, 3, 3), np.zeros((1, 1, 2, 2), np.float16)),
            "gy has dtype float16, expected float32",
        ),
        (
            lambda k: k.grad_bias(f32(1, 1, 2, 2)),
            "grad_bias needs a bias, but the spec has bias=False",
        ),
    ],
)
def test_bad_arguments_are_named_before_compiled_code_runs(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(stand_in(LECTURE))


def test_bias_layers_require_b_and_check_it():
    kernels = stand_in(ConvSpec((3, 3), 2, out_channels=2, bias=True))
    x, w = f32(1, 1, 3, 3), f32(2, 1, 2, 2)
    with pytest.raises(ValueError, match="b is required: the spec has bias=True"):
        kernels.forward(x, w)
    with pytest.raises(ValueError, match=re.escape("b has shape (3,), expected (2,)")):
        kernels.forward(x, w, f32(3))


def test_kernels_refuse_a_module_generated_for_another_spec(lecture_kernels):
    other = ConvSpec((4, 4), 2)
    with pytest.raises(ValueError, match="generated for spec key"):
        Kernels(other, lecture_kernels.module, lecture_kernels.path)


def test_compiled_lecture_kernels_return_fresh_arrays_of_the_spec_dtype(lecture_kernels):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    w = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    gy = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    y = lecture_kernels.forward(x, w)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == LECTURE.output_shape
    np.testing.assert_allclose(y, reference.forward(LECTURE, x, w), rtol=1e-6)
    np.testing.assert_allclose(
        lecture_kernels.grad_input(gy, w), reference.grad_input(LECTURE, gy, w), rtol=1e-6
    )
    np.testing.assert_allclose(
        lecture_kernels.grad_weight(x, gy), reference.grad_weight(LECTURE, x, gy), rtol=1e-6
    )
    assert lecture_kernels.spec == LECTURE
    assert "conv2d_1x1x3x3_to1_k2x2_s1" in repr(lecture_kernels)
