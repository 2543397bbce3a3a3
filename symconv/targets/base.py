"""What a target is: a machine to tune for, a way to render a module, a way to call it.

A target is one folder under `symconv.targets` (its view of the IR, its runtime
wrapper) plus its templates under ``templates/<name>/``; the pipeline asks it to
render the loop nests of a layer and to wrap the loaded module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from symconv.codegen.templates import template_digest
from symconv.machine import Machine


@dataclass(frozen=True)
class Target:
    """A code generator and runtime for one kind of hardware."""

    name: str
    machine: Machine
    #: (spec, nests by kernel name) -> the source text of the module.
    render: Callable[[Any, dict], str]
    #: (spec, loaded module, its path) -> the checked kernels.
    wrap: Callable[[Any, ModuleType, Path], Any]
    #: Folder of the templates under templates/.
    templates: str
    #: (index level, spec, schedules, machine, timings) -> loop nests by kernel name.
    lower: Callable[..., dict]
    #: The target's launch shape, where it has one (thread blocks on a GPU).
    launch: Any = None
    #: Raises a one-line ValueError when what the target runs on is not installed.
    require: Callable[[], Any] | None = None
    #: A digest of code the generated modules call besides the templates (the CPU
    #: target's vector intrinsics): part of every module's name, as the templates' is.
    code_digest: Callable[[], str] | None = None

    def available(self) -> None:
        """Nothing when the target can run here; else a one-line error on what to install."""
        if self.require is not None:
            self.require()

    def digest(self) -> str:
        """Fingerprint of the templates (and the code modules call): part of every module
        file's name, so a change to either never reuses Numba's cache of the old code."""
        extra = self.code_digest() if self.code_digest is not None else ""
        return template_digest(self.templates) + extra
