"""Tests for symconv.runtime.loader: one module per file, reused while the file is unchanged."""

from __future__ import annotations

import os

from symconv.runtime import load_module


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


def test_a_cold_threaded_module_is_compiled_by_parallel_workers(tmp_path, monkeypatch):
    """Workers fill Numba's cache; the import that follows loads every kernel from it."""
    import numpy as np

    import symconv.runtime.loader as loader
    from symconv.kinds import CONVOLUTION, ConvSpec
    from symconv.pipeline import render
    from tests.targets.numba_cpu.test_view import call as call_kernel

    spec = ConvSpec((8, 8), 3, in_channels=4, out_channels=4, batch=8)
    source = render(spec)
    assert "parallel=in_written_order()" in source
    path = tmp_path / "layer.py"
    path.write_text(source, encoding="utf-8")
    used = []
    real = loader.compile_in_parallel
    monkeypatch.setattr(loader, "compile_in_parallel", lambda *a: used.append(a) or real(*a))
    module = loader.load_module(path, CONVOLUTION.kernel_names(spec))
    (workers,) = used
    # one worker per kernel (forward, grad_input, grad_weight), at most two per core
    assert workers[2] == min(3, 2 * (os.cpu_count() or 1)) and loader.cache_files(path)
    # every kernel came from the cache the workers wrote: none was compiled here, and the
    # forward's tasks (C callbacks the cached kernel calls by symbol) were loaded with it
    assert all(
        not getattr(module, name).stats.cache_misses for name in CONVOLUTION.kernel_names(spec)
    )
    assert module.TASKS["forward"] and all(c.cache_hits for c in module._CALLBACKS)
    arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(0))
    got = call_kernel(vars(module), "forward", arrays["x"], arrays["w"])
    want = CONVOLUTION.reference(spec, arrays)["forward"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_compile_only_names_the_kernels_a_process_compiles(tmp_path):
    import subprocess
    import sys

    from symconv.kinds import ConvSpec
    from symconv.pipeline import render

    path = tmp_path / "small.py"
    path.write_text(render(ConvSpec((5, 5), 3)), encoding="utf-8")
    check = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('m', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(len(m.forward.signatures), len(m.grad_input.signatures))\n"
    )
    env = {**__import__("os").environ, "SYMCONV_COMPILE_ONLY": "forward"}
    out = subprocess.run(
        [sys.executable, "-c", check, str(path)], env=env, capture_output=True, text=True
    )
    assert out.stdout.split() == ["1", "0"], out.stderr


def _sleeping_workers(monkeypatch, signum_inside_start=None):
    """Replace the compile workers by sleeping processes; optionally a signal lands inside
    the start of the first one, after its process exists (Ctrl-C while `Popen` runs)."""
    import signal
    import subprocess
    import sys

    import symconv.runtime.loader as loader

    made: list[subprocess.Popen] = []

    def start(path, share):
        made.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        if signum_inside_start is not None and len(made) == 1:
            signal.raise_signal(signum_inside_start)
        return made[-1]

    monkeypatch.setattr(loader, "_start_worker", start)
    return loader, made


def test_ctrl_c_while_a_worker_starts_still_stops_that_worker(tmp_path, monkeypatch):
    import signal

    import pytest

    loader, made = _sleeping_workers(monkeypatch, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        loader.compile_in_parallel(tmp_path / "layer.py", ("forward", "grad_input"), 2)
    assert made and all(process.poll() is not None for process in made)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_while_workers_compile_stops_them_and_exits_143(tmp_path, monkeypatch):
    import signal
    import threading

    import pytest

    loader, made = _sleeping_workers(monkeypatch)
    threading.Timer(0.5, signal.raise_signal, (signal.SIGTERM,)).start()
    with pytest.raises(SystemExit) as stopped:
        loader.compile_in_parallel(tmp_path / "layer.py", ("forward", "grad_input"), 2)
    assert stopped.value.code == 143 and len(made) == 2
    assert all(process.poll() is not None for process in made)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
