"""Import a generated module from its file path.

Each file gets its own module name (derived from the file's name and folder), so
layers never shadow each other in `sys.modules`.  A module already imported in this
process is reused while its file is unchanged: importing compiles (or loads from
Numba's cache) every kernel, which is the expensive part.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

_LOADED: dict[Path, tuple[tuple[int, int], ModuleType]] = {}
_LOCK = threading.Lock()


def module_name(path: Path) -> str:
    """A unique, importable name for the module in `path`."""
    folder = hashlib.sha256(str(path.parent.resolve()).encode()).hexdigest()[:8]
    return f"symconv_generated_{path.stem}_{folder}"


def load_module(path: str | Path) -> ModuleType:
    """Import (or reuse) the module in `path`; its kernels are compiled when this returns."""
    path = Path(path).resolve()
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        cached = _LOADED.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
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
        _LOADED[path] = (stamp, module)
        return module
