"""Import a generated module from its file path.

Each file gets its own module name (derived from the file's name and folder), so
layers never shadow each other in `sys.modules`.  A module already imported in this
process is reused while its file is unchanged: importing compiles (or loads from
Numba's cache) every kernel, which is the expensive part.

Numba keeps its compiled kernels in ``__pycache__`` beside the module (``*.nbi`` index
and ``*.nbc`` data files).  A damaged entry (a truncated or overwritten file, a crash
while it was written) would break that layer for good; the loader recognises the
failure as Numba's cache's, discards the module's cache files, says so in one line on
stderr and compiles afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_LOADED: dict[Path, tuple[tuple[int, int], ModuleType]] = {}
_LOCK = threading.Lock()
#: The Numba module that reads its on-disk cache: a failure raised inside it is the cache's.
NUMBA_CACHING = ("numba", "core", "caching.py")


def module_name(path: Path) -> str:
    """A unique, importable name for the module in `path`."""
    folder = hashlib.sha256(str(path.parent.resolve()).encode()).hexdigest()[:8]
    return f"symconv_generated_{path.stem}_{folder}"


def cache_files(path: Path) -> list[Path]:
    """Numba's cache files of the module in `path` (index and data of every kernel)."""
    folder = path.parent / "__pycache__"
    return sorted(p for p in folder.glob(f"{path.stem}.*") if p.suffix in (".nbi", ".nbc"))


def _raised_by_the_cache(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return any(Path(frame.filename).parts[-3:] == NUMBA_CACHING for frame in frames)


def _execute(path: Path) -> ModuleType:
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _execute_recovering(path: Path) -> ModuleType:
    """Import `path`; if Numba's cache of it is damaged, discard the cache and import again."""
    try:
        return _execute(path)
    except Exception as error:
        damaged = cache_files(path)
        if not damaged or not _raised_by_the_cache(error):
            raise
        for file in damaged:
            file.unlink(missing_ok=True)
        sys.stderr.write(
            f"symconv: Numba's cache of {path.name} was damaged ({type(error).__name__}: "
            f"{error}); discarded its {len(damaged)} files, compiling again\n"
        )
        return _execute(path)


#: Environment variable a generated module reads: the kernels this process compiles.
COMPILE_ONLY = "SYMCONV_COMPILE_ONLY"
#: What a compiling worker runs: import the module under the name the loader gives it.
_WORKER = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])\n"
    "module = sys.modules[sys.argv[2]] = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
)


def compile_in_parallel(path: Path, kernels: tuple[str, ...], workers: int) -> bool:
    """Fill Numba's cache of a module with cold kernels using several processes at once.

    Compiling is one thread per kernel in Numba; the kernels of one layer are
    independent, so on a machine with cores to spare each worker process imports the
    module compiling only its share (`COMPILE_ONLY`), writing Numba's cache, and the
    import that follows loads every kernel from that cache (measured on 2 cores: the
    64-channel layer's cold generate from 32 s to about 17).  `load_module` starts one
    worker per kernel, up to two per core: the kernels take unequal times (6.8, 6.8 and
    8.6 s for that layer's three), and two workers sharing them round-robin waited
    15 s on the pair that fell to one of them.  Returns False if a worker failed; the
    import that follows then compiles, and reports, as usual.
    """
    shares = [kernels[i::workers] for i in range(workers) if kernels[i::workers]]
    started: list[subprocess.Popen] = []
    with _terminate_raises():
        try:
            for share in shares:
                with _signals_held():
                    started.append(_start_worker(path, share))
            return all(process.wait() == 0 for process in started)
        except BaseException:  # Ctrl-C or SIGTERM to us: the workers must not outlive the wait
            stop_workers(started)
            raise


def _start_worker(path: Path, share: tuple[str, ...]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(path), module_name(path)],
        env={**os.environ, COMPILE_ONLY: ",".join(share)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while one worker starts, and deliver them after.

    A Ctrl-C landing inside `Popen` (after the fork, before it returns) would leave a
    worker that is not yet in the list `stop_workers` stops: it went on compiling after
    symconv had exited.  Held, the signal arrives once the worker is in that list.
    Python runs signal handlers in the main thread only; elsewhere nothing is held.
    """
    if not _in_main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, _: caught.append(signum))
        for signum in _HELD_SIGNALS
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught:
            signal.raise_signal(signum)


@contextlib.contextmanager
def _terminate_raises() -> Iterator[None]:
    """While workers run, SIGTERM ends symconv by an exception (exit status 143), so the
    workers are stopped on the way out instead of outliving their parent."""
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_workers(started: list[subprocess.Popen], grace: float = 2.0) -> None:
    """Terminate the compile workers still running, then kill any that linger."""
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _worth_parallel(path: Path) -> bool:
    """True when Numba's cache holds nothing of this module yet (and lives beside it) and
    some kernel is threaded: those take seconds to compile; serial ones a fraction of a
    second, less than starting a worker process (the lecture's layer: 1.3 s alone,
    4.0 s with workers)."""
    import numba

    if numba.config.CACHE_DIR or cache_files(path):
        return False
    return "numba.prange(" in path.read_text(encoding="utf-8")


def load_module(path: str | Path, kernels: tuple[str, ...] = ()) -> ModuleType:
    """Import (or reuse) the module in `path`; its kernels are compiled when this returns.

    `kernels` names the module's kernels: with a cold cache and more than one core, they
    are compiled in parallel processes first (`compile_in_parallel`).
    """
    path = Path(path).resolve()
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        cached = _LOADED.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cores = os.cpu_count() or 1
        workers = min(len(kernels), 2 * cores)
        if cores > 1 and workers > 1 and _worth_parallel(path):
            compile_in_parallel(path, kernels, workers)
        module = _execute_recovering(path)
        _LOADED[path] = (stamp, module)
        return module
